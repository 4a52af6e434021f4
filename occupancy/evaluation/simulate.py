"""Plausible simulated delivery stops for a bay inventory, vectorised with numpy.

Simulated sessions are marked ``data_source_type="simulated"`` and
``data_source_device_id="simulator"`` so they can never pass for observed data.

Model (documented assumptions, tuned to published delivery-bay studies: most
stops are short van stops in the morning, Sunday is nearly empty):

* each bay has a popularity drawn once from a lognormal (sigma 0.6, mean 1), so
  some bays are saturated and others stand empty;
* stops per bay-day ~ Poisson(``stops_per_bay_day`` x popularity x weekday factor);
* arrival time of day from an hourly profile peaking 08:00-12:00, with a smaller
  afternoon peak, in local time of ``tz``;
* dwell ~ lognormal (sigma 0.8) around a median by vehicle type (van 12 min,
  car 30 min, truck 18 min, ...), capped at 3 h;
* vehicle types: van 55 %, car 20 % (the usual misuse), truck 12 %, cargo bicycle
  6 %, motorcycle 4 %, freight 3 %;
* a stop double parks when the bay is already full at its arrival (the
  ``num_spaces``-th previous stop at that bay has not left yet), and in 4 % of
  the other cases anyway (drivers who do not look for the bay).

Local wall-clock arrivals are turned into UTC with the offset in force at noon of
that day (at midnight for arrivals before 03:00), so stops stay in their local
hour across DST changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from occupancy.domain.records import DataSourceType, SessionKind

SIMULATOR_DEVICE = "simulator"

# Relative arrival intensity per local hour 0..23.
_NIGHT_MORNING = [0.05, 0.03, 0.02, 0.02, 0.05, 0.2, 0.6, 1.2, 1.9, 2.1, 2.0, 1.8]
_AFTERNOON_EVENING = [1.4, 1.1, 1.3, 1.4, 1.3, 1.1, 0.8, 0.5, 0.3, 0.2, 0.1, 0.07]
HOURLY_PROFILE = np.array([*_NIGHT_MORNING, *_AFTERNOON_EVENING])
# Monday..Sunday
_WEEKDAY = np.array([1.0, 1.05, 1.05, 1.05, 1.1, 0.55, 0.12])
WEEKDAY_FACTOR = _WEEKDAY / _WEEKDAY.mean()  # so stops_per_bay_day is the weekly mean
VEHICLE_MIX = {
    "van": 0.55,
    "car": 0.20,
    "truck": 0.12,
    "cargo_bicycle": 0.06,
    "motorcycle": 0.04,
    "freight": 0.03,
}
VEHICLE_LENGTH_CM = {
    "van": 520,
    "car": 430,
    "truck": 800,
    "cargo_bicycle": 250,
    "motorcycle": 210,
    "freight": 1200,
}
# Median dwell by vehicle type (min): cars parked in delivery bays stay longest.
DWELL_MEDIAN_MIN_BY_TYPE = {
    "van": 12.0,
    "car": 30.0,
    "truck": 18.0,
    "cargo_bicycle": 6.0,
    "motorcycle": 8.0,
    "freight": 25.0,
}
DWELL_SIGMA = 0.8
DWELL_CAP_MIN = 180.0
CARELESS_DOUBLE_PARK = 0.04

SESSION_COLUMNS = (
    "session_id",
    "kind",
    "data_source_device_id",
    "data_source_type",
    "curb_zone_id",
    "lane_zone_id",
    "start_ms",
    "end_ms",
    "dwell_s",
    "vehicle_type",
    "vehicle_length",
    "lon",
    "lat",
    "max_stay_min",
    "overstay",
    "blocked_lane_types",
    "start_censored",
    "end_censored",
    "run_id",
    "attempt",
)

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def uuid_strings(rng: np.random.Generator, n: int) -> pd.Series:
    """``n`` random version-4 UUID strings, built as one byte buffer (no Python loop)."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    nib = np.empty((n, 32), dtype=np.uint8)
    nib[:, 0::2] = raw >> 4
    nib[:, 1::2] = raw & 0x0F
    hexed = _HEX[nib]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    for dst, src in (((0, 8), (0, 8)), ((9, 13), (8, 12)), ((14, 18), (12, 16))):
        out[:, dst[0] : dst[1]] = hexed[:, src[0] : src[1]]
    out[:, 19:23] = hexed[:, 16:20]
    out[:, 24:36] = hexed[:, 20:32]
    offsets = np.arange(0, 36 * (n + 1), 36, dtype=np.int32)
    arr = pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(out.tobytes())
    )
    return pd.Series(pd.arrays.ArrowStringArray(arr))


def _day_starts(start: datetime, days: int, tz: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """UTC ms of local midnight, offsets (ms) at 00:00 and at 12:00, weekday, per day."""
    d0 = pd.Timestamp(start)
    d0 = d0.tz_convert(tz) if d0.tzinfo is not None else d0.tz_localize(tz)
    dates = pd.date_range(d0.normalize().tz_localize(None), periods=days, freq="D")
    midnight = dates.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")
    noon = (dates + pd.Timedelta(hours=12)).tz_localize(tz)
    naive_ms = dates.as_unit("ms").asi8
    off0 = naive_ms - midnight.as_unit("ms").asi8
    off12 = (dates + pd.Timedelta(hours=12)).as_unit("ms").asi8 - noon.as_unit("ms").asi8
    return naive_ms, np.stack([off0, off12]), dates.day_of_week.to_numpy()


def _double_parked(
    bay: np.ndarray, start_ms: np.ndarray, end_ms: np.ndarray, k: np.ndarray
) -> np.ndarray:
    """Stops that find their bay full, for stops sorted by (bay, start).

    One-space bays: full when a stop parked earlier at the bay has not left yet
    (a running maximum of parked departures, per bay, via an offset per bay so
    one ``maximum.accumulate`` serves all bays). Whether a stop parked depends on
    the stops before it, so this is iterated to a fixed point (a few passes).
    Bays with k spaces: full when the k-th previous stop has not left (approximate).
    """
    n = len(bay)
    t_min = int(start_ms.min()) if n else 0
    span = int(end_ms.max()) - t_min + 1 if n else 1
    offset = bay.astype(np.int64) * span
    prev = np.arange(n) - k
    valid = prev >= 0
    prev_c = np.where(valid, prev, 0)
    multi_full = valid & (bay[prev_c] == bay) & (end_ms[prev_c] > start_ms)
    double = np.zeros(n, dtype=bool)
    for _ in range(50):
        parked_end = np.where(double, t_min, end_ms) - t_min + offset
        running = np.maximum.accumulate(parked_end)
        before = np.r_[np.int64(-1), running[:-1]]
        full1 = before - offset > start_ms - t_min  # earlier bays' values are < offset
        # Only ever add: monotone, so it converges, and no parked stop overlaps an
        # earlier parked one (it may flag a few stops that would have found the
        # bay freed by a blocker that itself double parked: a slight overestimate).
        new = double | np.where(k == 1, full1, multi_full)
        if np.array_equal(new, double):
            break
        double = new
    return double


def simulate_sessions(
    zones: pd.DataFrame,
    *,
    start: datetime,
    days: int,
    seed: int,
    stops_per_bay_day: float = 5.0,
    tz: str = "Europe/Paris",
) -> pd.DataFrame:
    """Simulated sessions for every bay of ``zones`` over ``days`` local days from ``start``.

    Rows have the ``sessions`` table's columns, sorted by bay then start time.
    """
    if days < 1:
        raise ValueError("days must be >= 1")
    if stops_per_bay_day < 0:
        raise ValueError("stops_per_bay_day must be >= 0")
    rng = np.random.default_rng(seed)
    n_b = len(zones)
    zone_ids = zones["curb_zone_id"].astype(str).to_numpy()
    spaces = (
        pd.to_numeric(zones["num_spaces"], errors="coerce").fillna(1).clip(lower=1)
        if "num_spaces" in zones
        else pd.Series(np.ones(n_b))
    ).to_numpy(np.int64)
    popularity = rng.lognormal(mean=0.0, sigma=0.6, size=n_b)
    popularity /= popularity.mean() if n_b else 1.0  # the mean rate is exactly the one asked

    day_naive_ms, offsets, weekday = _day_starts(start, days, tz)
    lam = stops_per_bay_day * popularity[:, None] * WEEKDAY_FACTOR[weekday][None, :]
    counts = rng.poisson(lam).ravel()  # bay-major (bay, day)
    n = int(counts.sum())
    cell = np.repeat(np.arange(n_b * days, dtype=np.int64), counts)
    bay = (cell // days).astype(np.int32)
    day = cell % days
    del cell

    prof = HOURLY_PROFILE / HOURLY_PROFILE.sum()
    hour = rng.choice(24, size=n, p=prof)
    wall_ms = hour * 3_600_000 + rng.integers(0, 3_600_000, size=n)
    off = np.where(hour < 3, offsets[0][day], offsets[1][day])
    start_ms = day_naive_ms[day] + wall_ms - off
    vnames = list(VEHICLE_MIX)
    vprob = np.array([VEHICLE_MIX[v] for v in vnames])
    vcode = rng.choice(len(vnames), size=n, p=vprob / vprob.sum())
    median = np.array([DWELL_MEDIAN_MIN_BY_TYPE[v] for v in vnames])[vcode]
    dwell_ms = (
        np.minimum(median * rng.lognormal(0.0, DWELL_SIGMA, size=n), DWELL_CAP_MIN) * 60_000
    ).astype(np.int64)
    del median
    dwell_ms = np.maximum(dwell_ms, 30_000)
    end_ms = start_ms + dwell_ms

    order = np.lexsort((start_ms, bay))
    bay, start_ms, end_ms, dwell_ms = bay[order], start_ms[order], end_ms[order], dwell_ms[order]
    vcode = vcode[order]
    del order

    double = _double_parked(bay, start_ms, end_ms, spaces[bay])
    double |= rng.random(n) < CARELESS_DOUBLE_PARK

    vlen = np.array([VEHICLE_LENGTH_CM[v] for v in vnames], dtype=np.int64)[vcode]

    def zone_col(name: str, default: Any = np.nan) -> np.ndarray:
        if name in zones:
            return pd.to_numeric(zones[name], errors="coerce").to_numpy(np.float64)
        return np.full(n_b, default, dtype=np.float64)

    max_stay = zone_col("max_stay_min")[bay]
    with np.errstate(invalid="ignore"):
        overstay = (dwell_ms / 60_000.0) > max_stay
    blocked = np.empty(n, dtype=object)
    blocked[:] = None
    lane = np.empty(1, dtype=object)
    lane[0] = ["travel_lane"]  # one shared list: rows only ever read it
    blocked[double] = lane[0]

    kind = pd.Categorical.from_codes(
        double.astype(np.int8), categories=[str(SessionKind.PARK), str(SessionKind.DOUBLE_PARK)]
    )
    return pd.DataFrame(
        {
            "session_id": uuid_strings(rng, n),
            "kind": kind,
            "data_source_device_id": pd.Categorical.from_codes(
                np.zeros(n, np.int8), categories=[SIMULATOR_DEVICE]
            ),
            "data_source_type": pd.Categorical.from_codes(
                np.zeros(n, np.int8), categories=[str(DataSourceType.SIMULATED)]
            ),
            "curb_zone_id": pd.Categorical.from_codes(bay, categories=pd.Index(zone_ids)),
            "lane_zone_id": np.full(n, None, dtype=object),
            "start_ms": start_ms,
            "end_ms": end_ms,
            "dwell_s": dwell_ms / 1000.0,
            "vehicle_type": pd.Categorical.from_codes(vcode.astype(np.int8), categories=vnames),
            "vehicle_length": vlen.astype(np.int32),
            "lon": zone_col("lon")[bay],
            "lat": zone_col("lat")[bay],
            "max_stay_min": max_stay,
            "overstay": overstay,
            "blocked_lane_types": blocked,
            "start_censored": np.zeros(n, dtype=bool),
            "end_censored": np.zeros(n, dtype=bool),
            "run_id": pd.Categorical.from_codes(
                np.zeros(n, np.int8), categories=[f"simulated-seed{seed}"]
            ),
            "attempt": np.zeros(n, dtype=np.int32),
        }
    )
