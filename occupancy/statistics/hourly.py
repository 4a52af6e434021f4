"""Occupancy statistics from sessions: CDS Metrics hourly aggregates and more.

Everything here is vectorised with numpy: a session is split at hour boundaries
with difference arrays over a dense (bay x hour) grid, never with a Python loop
per session. Hours are local hours of ``tz``; their boundaries are computed in
UTC milliseconds, so the 23-hour and 25-hour days of DST changes come out right
(the repeated 02:00 on the autumn day is two distinct rows with distinct
``hour_start_ms``).

Definitions (CDS Metrics 1.0, ``metrics/README.md``, and ours beyond it):

* ``total_sessions``: park sessions that *arrive* in the hour (each session is
  counted once, in the hour it started).
* ``turnover``: ``total_sessions / num_spaces`` per hour (CDS says count/hour; we
  divide by the bay's spaces so that multi-space bays compare; identical for the
  usual one-space bay).
* ``average_dwell_time``: mean full dwell, in minutes, of the sessions counted in
  ``total_sessions`` (NaN when there are none).
* ``occupancy_percent``: occupied time inside the hour / (3600 s x num_spaces) x
  100. A session that spans hours contributes to each hour its overlap only.
* All four are -1 when the bay's camera was offline for the majority of the hour
  (CDS: "-1 means that the sensor/source was offline for the majority of the time").
* Beyond CDS: ``occupied_min``, ``overstay_sessions`` / ``overstay_share`` (dwell
  over the session's ``max_stay_min``, else the bay's), ``misuse_sessions`` /
  ``misuse_share`` (vehicle type not in the bay's ``vehicle_types``),
  ``double_park_sessions`` / ``double_park_minutes`` (double-park sessions
  attached to the bay, minutes of overlap with the hour), ``offline_min`` and
  ``offline`` (bool).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from occupancy.domain.records import EventType, VehicleType
from occupancy.domain.states import COMMS_EVENTS

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
DEFAULT_TZ = "Europe/Paris"
OFFLINE = -1.0

CDS_METRICS = ("total_sessions", "turnover", "average_dwell_time", "occupancy_percent")

# Hourly chunks of at most this many bay-hours keep peak memory bounded for a
# year of a whole city (9,000 bays x 8,760 h = 79 million bay-hours).
_MAX_CELLS = 1_600_000  # about a week of 9,000 bays: arrays stay small and cache-friendly


class StatsError(ValueError):
    """Statistics cannot be computed from what was given; the message says why."""


# -- time grid ------------------------------------------------------------------------


def _utc_offset_ms(ms: int, tz: str) -> int:
    ts = pd.Timestamp(ms, unit="ms", tz="UTC").tz_convert(tz)
    off = ts.utcoffset()
    return 0 if off is None else int(off.total_seconds() * 1000)


def floor_local_hour(ms: int, tz: str = DEFAULT_TZ) -> int:
    """The UTC ms of the start of the local hour containing ``ms``."""
    return ms - (ms + _utc_offset_ms(ms, tz)) % HOUR_MS


def ceil_local_hour(ms: int, tz: str = DEFAULT_TZ) -> int:
    """The UTC ms of the first local hour start at or after ``ms`` (DST-aware)."""
    f = floor_local_hour(ms, tz)
    return f if f == ms else f + HOUR_MS


def local_hours(start_ms: int, n_hours: int, tz: str) -> pd.DatetimeIndex:
    """Tz-aware local start of each of ``n_hours`` consecutive hours."""
    ms = start_ms + np.arange(n_hours, dtype=np.int64) * HOUR_MS
    return pd.DatetimeIndex(pd.to_datetime(ms, unit="ms", utc=True)).tz_convert(tz)


# -- preparation ------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedSessions:
    """Sessions reduced to numpy arrays indexed by bay code (position in ``zone_ids``)."""

    zone_ids: np.ndarray  # (B,) str
    num_spaces: np.ndarray  # (B,) float64, >= 1
    # park sessions attached to a known bay
    z: np.ndarray  # int32 bay code
    start: np.ndarray  # int64 ms
    end: np.ndarray  # int64 ms
    dwell_s: np.ndarray  # float64, full dwell
    overstay: np.ndarray  # bool
    misuse: np.ndarray  # bool
    # double-park sessions attached to a bay
    dz: np.ndarray
    dstart: np.ndarray
    dend: np.ndarray
    # offline intervals mapped to bays
    oz: np.ndarray
    ostart: np.ndarray
    oend: np.ndarray
    # sessions are grouped by day of start since origin_ms (park: day, double park: dday)
    origin_ms: int = 0
    day: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    dday: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))

    def window(self, days: np.ndarray, t0: int, t1: int, reach: int) -> slice:
        """Slice of sessions (grouped by start day) that may overlap [t0, t1)."""
        lo = np.searchsorted(days, (t0 - reach - self.origin_ms) // DAY_MS, side="left")
        hi = np.searchsorted(days, (t1 - 1 - self.origin_ms) // DAY_MS, side="right")
        return slice(int(lo), int(hi))

    @property
    def max_duration_ms(self) -> int:
        """The longest park or double-park session, in ms (0 when none)."""
        d = [int((self.end - self.start).max()) if len(self.start) else 0]
        d.append(int((self.dend - self.dstart).max()) if len(self.dstart) else 0)
        return max(d)

    @property
    def n_bays(self) -> int:
        """How many bays (B)."""
        return len(self.zone_ids)

    @property
    def zone_index(self) -> pd.Index:
        """The bays' ``curb_zone_id`` as a pandas Index, in bay-code order."""
        return pd.Index(self.zone_ids)


def _listish(v: Any) -> list[str] | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            return [v]
    if isinstance(v, list | tuple | np.ndarray):
        return [str(x) for x in v]
    return None


def _day_key(start: np.ndarray, origin: int) -> np.ndarray:
    d = (start - origin) // DAY_MS
    return d.astype(np.int16 if len(d) == 0 or d.max() < 2**15 else np.int32)


def _grouping_order(day: np.ndarray) -> slice | np.ndarray:
    """Permutation grouping sessions by start day; a no-copy slice when already grouped."""
    if len(day) < 2 or bool(np.all(day[1:] >= day[:-1])):
        return slice(None)
    return np.argsort(day, kind="stable")


def codes_in(values: pd.Series, categories: pd.Index) -> np.ndarray:
    """Position of each value in ``categories`` (-1 if absent), fast for categoricals."""
    ser = pd.Series(values)
    if isinstance(ser.dtype, pd.CategoricalDtype):
        own = ser.cat.categories.astype(str)
        lookup = np.r_[categories.get_indexer(own), -1].astype(np.int32)
        return lookup[ser.cat.codes.to_numpy()]  # code -1 (missing) maps to the last: -1
    return categories.get_indexer(ser.astype(object)).astype(np.int32)


def _require(frame: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise StatsError(f"{what} lacks column(s) {', '.join(missing)}")


def prepare(
    sessions: pd.DataFrame,
    zones: pd.DataFrame,
    *,
    offline: pd.DataFrame | None = None,
) -> PreparedSessions:
    """Map sessions and offline intervals onto bay codes, once, for any number of periods."""
    _require(zones, ["curb_zone_id"], "zones")
    _require(sessions, ["curb_zone_id", "start_ms", "end_ms"], "sessions")
    zone_ids = zones["curb_zone_id"].astype(str).to_numpy()
    if len(set(zone_ids.tolist())) != len(zone_ids):
        raise StatsError("zones has duplicate curb_zone_id")
    n_b = len(zone_ids)
    spaces = (
        pd.to_numeric(zones["num_spaces"], errors="coerce").to_numpy(dtype=np.float64)
        if "num_spaces" in zones
        else np.ones(n_b)
    )
    spaces = np.where(np.isfinite(spaces) & (spaces >= 1), spaces, 1.0)
    zone_max_stay = (
        pd.to_numeric(zones["max_stay_min"], errors="coerce").to_numpy(dtype=np.float64)
        if "max_stay_min" in zones
        else np.full(n_b, np.nan)
    )

    codes_all = codes_in(sessions["curb_zone_id"], pd.Index(zone_ids))
    is_double = (
        codes_in(sessions["kind"], pd.Index(["double_park"])) == 0
        if "kind" in sessions
        else np.zeros(len(sessions), dtype=bool)
    )
    start_all = sessions["start_ms"].to_numpy(dtype=np.int64)
    end_all = sessions["end_ms"].to_numpy(dtype=np.int64)
    if np.any(end_all < start_all):
        bad = int(np.flatnonzero(end_all < start_all)[0])
        raise StatsError(f"session at row {bad} ends before it starts")

    park = (~is_double) & (codes_all >= 0)
    z = codes_all[park]
    start = start_all[park]
    end = end_all[park]
    dwell_s = (end - start) / 1000.0

    if "max_stay_min" in sessions:
        sess_ms = pd.to_numeric(sessions["max_stay_min"], errors="coerce").to_numpy(np.float64)
        max_stay = np.where(np.isnan(sess_ms[park]), zone_max_stay[z], sess_ms[park])
    else:
        max_stay = zone_max_stay[z]
    with np.errstate(invalid="ignore"):
        overstay = np.nan_to_num(dwell_s > max_stay * 60.0, nan=0.0).astype(bool)

    misuse = np.zeros(len(z), dtype=bool)
    if "vehicle_types" in zones and "vehicle_type" in sessions:
        vt = pd.Series(sessions["vehicle_type"]).astype("category")
        vcodes = vt.cat.codes.to_numpy(np.int32)[park]
        vcats = [str(c) for c in vt.cat.categories]
        allowed = np.ones((n_b, len(vcats) + 1), dtype=bool)  # last column: unknown type
        # One small Python loop per *bay* (not per session) builds the allowance table.
        for b, v in enumerate(zones["vehicle_types"].tolist()):
            lst = _listish(v)
            if lst:
                allowed[b, : len(vcats)] = [c in lst for c in vcats]
        misuse = ~allowed[z, np.where(vcodes < 0, len(vcats), vcodes)]

    dsel = is_double & (codes_all >= 0)

    oz = np.zeros(0, np.int32)
    ost = np.zeros(0, np.int64)
    oen = np.zeros(0, np.int64)
    if offline is not None and len(offline):
        _require(offline, ["data_source_device_id", "start_ms", "end_ms"], "offline")
        parts = [(oz, ost, oen)]
        if "device_id" in zones:
            dev = zones["device_id"].astype(object).to_numpy()
            zmap = pd.DataFrame({"z": np.arange(n_b, dtype=np.int32), "dev": dev}).dropna()
            m = offline.merge(zmap, left_on="data_source_device_id", right_on="dev")
            parts.append(
                (
                    m["z"].to_numpy(np.int32),
                    m["start_ms"].to_numpy(np.int64),
                    m["end_ms"].to_numpy(np.int64),
                )
            )
        if "curb_zone_id" in offline:  # rows of one bay (``unsourced_intervals``)
            own = offline[offline["curb_zone_id"].notna()]
            codes = codes_in(own["curb_zone_id"], pd.Index(zone_ids))
            keep = codes >= 0
            parts.append(
                (
                    codes[keep],
                    own["start_ms"].to_numpy(np.int64)[keep],
                    own["end_ms"].to_numpy(np.int64)[keep],
                )
            )
        oz = np.concatenate([p[0] for p in parts]).astype(np.int32)
        ost = np.concatenate([p[1] for p in parts]).astype(np.int64)
        oen = np.concatenate([p[2] for p in parts]).astype(np.int64)

    # Grouped by start day, a time chunk's sessions are one contiguous slice
    # (searchsorted on the day); a radix sort on small day numbers is O(n).
    origin = int(start_all.min()) if len(start_all) else 0
    day = _day_key(start, origin)
    # The store returns sessions ordered by start: then nothing needs reordering.
    order = _grouping_order(day)
    dz, dstart, dend = codes_all[dsel], start_all[dsel], end_all[dsel]
    dday = _day_key(dstart, origin)
    dorder = _grouping_order(dday)
    return PreparedSessions(
        zone_ids=zone_ids,
        num_spaces=spaces,
        z=z[order],
        start=start[order],
        end=end[order],
        dwell_s=dwell_s[order],
        overstay=overstay[order],
        misuse=misuse[order],
        dz=dz[dorder],
        dstart=dstart[dorder],
        dend=dend[dorder],
        origin_ms=origin,
        day=day[order],
        dday=dday[dorder],
        oz=oz,
        ostart=ost,
        oend=oen,
    )


# -- the hour split -------------------------------------------------------------------


def covered_ms(
    z: np.ndarray, start: np.ndarray, end: np.ndarray, n_bays: int, t0: int, n_hours: int
) -> np.ndarray:
    """Milliseconds of each (bay, hour) covered by the intervals, as a (B, H) array.

    Intervals are clipped to the grid. Whole hours an interval spans are counted
    with a difference array (+1 at the first whole hour, -1 after the last) and a
    cumulative sum; the partial first and last hours are added directly.
    """
    t1 = t0 + n_hours * HOUR_MS
    keep = (start < t1) & (end > t0) & (end > start)
    z = z[keep].astype(np.int64)
    s = np.maximum(start[keep], t0) - t0
    e = np.minimum(end[keep], t1) - t0
    hs = s // HOUR_MS
    he = (e - 1) // HOUR_MS  # hour holding the last covered millisecond
    base = z * (n_hours + 1)
    size = n_bays * (n_hours + 1)
    same = hs == he
    # partial first hour (or the whole piece when it starts and ends in one hour) and
    # partial last hour, as point values
    first = np.where(same, e - s, (hs + 1) * HOUR_MS - s)
    multi = ~same
    pt_idx = np.concatenate([base + hs, base[multi] + he[multi]])
    pt_w = np.concatenate([first, e[multi] - he[multi] * HOUR_MS]).astype(np.float64)
    # whole hours strictly between hs and he: +1 h from hs + 1, -1 h from he, summed up
    inner = multi & (he - hs >= 2)
    rng_idx = np.concatenate([base[inner] + hs[inner] + 1, base[inner] + he[inner]])
    rng_w = np.repeat([float(HOUR_MS), -float(HOUR_MS)], int(inner.sum()))
    res = np.bincount(pt_idx, weights=pt_w, minlength=size).reshape(n_bays, n_hours + 1)
    diff = np.bincount(rng_idx, weights=rng_w, minlength=size).reshape(n_bays, n_hours + 1)
    res += np.cumsum(diff, axis=1)  # exact: sums of whole hours in ms stay below 2**53
    return res[:, :n_hours]


def _arrival_counts(
    z: np.ndarray,
    start: np.ndarray,
    n_bays: int,
    t0: int,
    n_hours: int,
    weights: Sequence[np.ndarray | None],
) -> list[np.ndarray]:
    t1 = t0 + n_hours * HOUR_MS
    keep = (start >= t0) & (start < t1)
    idx = z[keep].astype(np.int64) * n_hours + (start[keep] - t0) // HOUR_MS
    size = n_bays * n_hours
    res = []
    for w in weights:
        ww = None if w is None else w[keep].astype(np.float64)
        res.append(np.bincount(idx, weights=ww, minlength=size).reshape(n_bays, n_hours))
    return res


# -- hourly aggregates ------------------------------------------------------------------


HOURLY_FLOAT_COLUMNS = (
    "total_sessions",
    "turnover",
    "average_dwell_time",
    "occupancy_percent",
    "occupied_min",
    "overstay_share",
    "misuse_share",
    "double_park_minutes",
    "offline_min",
)


@dataclass(frozen=True)
class HourlyArrays:
    """Every hourly aggregate of ``n_hours`` hours from ``t0`` as dense (bay, hour) arrays."""

    t0: int
    n_hours: int
    values: np.ndarray  # (len(HOURLY_FLOAT_COLUMNS), B, H) float64, in that column order
    counts: np.ndarray  # (3, B, H) int32: overstay, misuse, double-park sessions
    offline: np.ndarray  # (B, H) bool

    def column(self, name: str) -> np.ndarray:
        """One float column's ``(B, H)`` array (bays × hours), by name."""
        return self.values[HOURLY_FLOAT_COLUMNS.index(name)]


def offline_hours(p: PreparedSessions, t0: int, n_hours: int) -> tuple[np.ndarray, np.ndarray]:
    """Offline milliseconds of each (bay, hour), capped at an hour, and whether the hour
    is offline: its camera did not watch for the majority of it (CDS: -1). Both
    ``(B, H)`` for ``n_hours`` hours from ``t0``; the one rule of what counts as observed,
    for the statistics and for the optimiser's demand."""
    if not len(p.oz):
        return np.zeros((p.n_bays, n_hours)), np.zeros((p.n_bays, n_hours), dtype=bool)
    off_ms = np.minimum(covered_ms(p.oz, p.ostart, p.oend, p.n_bays, t0, n_hours), HOUR_MS)
    return off_ms, off_ms > HOUR_MS / 2


def hourly_arrays(
    p: PreparedSessions, t0: int, n_hours: int, *, max_duration_ms: int | None = None
) -> HourlyArrays:
    """The numerical core of ``hourly_aggregates``, without building a DataFrame."""
    n_b = p.n_bays
    t1 = t0 + n_hours * HOUR_MS
    reach = p.max_duration_ms if max_duration_ms is None else max_duration_ms
    sl = p.window(p.day, t0, t1, reach)
    count, dwell_sum, over, mis = _arrival_counts(
        p.z[sl], p.start[sl], n_b, t0, n_hours, [None, p.dwell_s[sl], p.overstay[sl], p.misuse[sl]]
    )
    occ_ms = covered_ms(p.z[sl], p.start[sl], p.end[sl], n_b, t0, n_hours)
    dl = p.window(p.dday, t0, t1, reach)
    (dp_count,) = _arrival_counts(p.dz[dl], p.dstart[dl], n_b, t0, n_hours, [None])
    dp_ms = covered_ms(p.dz[dl], p.dstart[dl], p.dend[dl], n_b, t0, n_hours)
    off_ms, offline = offline_hours(p, t0, n_hours)
    spaces = p.num_spaces[:, None]
    # All float columns in one (k, N) array: the frame then holds it as a single
    # block without copying (consolidating separate arrays costs more than the maths).
    k = len(HOURLY_FLOAT_COLUMNS)
    v = np.empty((k, n_b * n_hours)).reshape(k, n_b, n_hours)
    has = count > 0
    for i, num, scale in ((2, dwell_sum, 60.0), (5, over, 1.0), (6, mis, 1.0)):
        v[i].fill(np.nan)
        np.divide(num, count * scale if scale != 1.0 else count, out=v[i], where=has)
    v[0] = count
    np.divide(count, spaces, out=v[1])
    np.divide(occ_ms, spaces * (HOUR_MS / 100.0), out=v[3])
    np.divide(occ_ms, 60_000.0, out=v[4])
    np.divide(dp_ms, 60_000.0, out=v[7])
    np.divide(off_ms, 60_000.0, out=v[8])
    if offline.any():
        for i in range(4):
            v[i][offline] = OFFLINE
    counts = np.empty((3, n_b, n_hours), dtype=np.int32)
    for i, c in enumerate((over, mis, dp_count)):
        np.copyto(counts[i], c, casting="unsafe")
    return HourlyArrays(t0=t0, n_hours=n_hours, values=v, counts=counts, offline=offline)


def hourly_frame(p: PreparedSessions, a: HourlyArrays, tz: str) -> pd.DataFrame:
    """``HourlyArrays`` as one row per (bay, hour), ordered by bay then hour."""
    t0, n_hours = a.t0, a.n_hours
    n_b = p.n_bays
    vals = a.values.reshape(len(HOURLY_FLOAT_COLUMNS), n_b * n_hours)
    hours = local_hours(t0, n_hours, tz)
    take = np.tile(np.arange(n_hours), n_b)
    codes = np.repeat(np.arange(n_b, dtype=np.int32), n_hours)
    frame = pd.DataFrame(vals.T, columns=list(HOURLY_FLOAT_COLUMNS), copy=False)
    frame.insert(0, "curb_zone_id", pd.Categorical.from_codes(codes, categories=p.zone_index))
    frame.insert(
        1, "hour_start_ms", np.tile(t0 + np.arange(n_hours, dtype=np.int64) * HOUR_MS, n_b)
    )
    frame.insert(2, "local_hour", hours.take(take))
    frame["overstay_sessions"] = a.counts[0].ravel()
    frame["misuse_sessions"] = a.counts[1].ravel()
    frame["double_park_sessions"] = a.counts[2].ravel()
    frame["offline"] = a.offline.ravel()
    return frame


def hour_grid(start_ms: int, end_ms: int, tz: str) -> tuple[int, int]:
    """The first local hour (ms) and the number of local hours covering [start_ms, end_ms)."""
    if end_ms <= start_ms:
        raise StatsError(f"empty period: end {end_ms} <= start {start_ms}")
    t0 = floor_local_hour(int(start_ms), tz)
    t1 = ceil_local_hour(int(end_ms), tz)
    return t0, (t1 - t0) // HOUR_MS


def iter_hourly_arrays(
    prepared: PreparedSessions,
    *,
    start_ms: int,
    end_ms: int,
    tz: str = DEFAULT_TZ,
    max_cells: int = _MAX_CELLS,
) -> Iterator[HourlyArrays]:
    """Like ``iter_hourly_aggregates`` but yields the dense arrays (fastest to consume)."""
    t0, n_hours = hour_grid(start_ms, end_ms, tz)
    step = max(1, max_cells // max(1, prepared.n_bays))
    reach = prepared.max_duration_ms
    for h in range(0, n_hours, step):
        yield hourly_arrays(
            prepared, t0 + h * HOUR_MS, min(step, n_hours - h), max_duration_ms=reach
        )


def iter_hourly_aggregates(
    prepared: PreparedSessions,
    *,
    start_ms: int,
    end_ms: int,
    tz: str = DEFAULT_TZ,
    max_cells: int = _MAX_CELLS,
) -> Iterator[pd.DataFrame]:
    """Hourly aggregates in consecutive time chunks of at most ``max_cells`` bay-hours.

    Lets a year of a whole city be aggregated (and written) with bounded memory.
    """
    for a in iter_hourly_arrays(
        prepared, start_ms=start_ms, end_ms=end_ms, tz=tz, max_cells=max_cells
    ):
        yield hourly_frame(prepared, a, tz)


def hourly_aggregates(
    sessions: pd.DataFrame,
    zones: pd.DataFrame,
    *,
    start_ms: int,
    end_ms: int,
    tz: str = DEFAULT_TZ,
    offline: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per (bay, local hour) of [start_ms, end_ms), ordered by bay then hour.

    ``start_ms``/``end_ms`` are widened to whole local hours.
    """
    p = prepare(sessions, zones, offline=offline)
    t0, n_hours = hour_grid(start_ms, end_ms, tz)
    return hourly_frame(p, hourly_arrays(p, t0, n_hours), tz)


# -- offline intervals ----------------------------------------------------------------


def offline_intervals(events: pd.DataFrame, end_ms: int) -> pd.DataFrame:
    """Intervals when each device was offline, from ``comms_lost``/``comms_restored`` events.

    A ``comms_lost`` opens an interval, the next ``comms_restored`` of the same
    device closes it; one still open at ``end_ms`` ends there. Repeated
    ``comms_lost`` while already offline do not restart the interval.
    """
    cols = ["data_source_device_id", "start_ms", "end_ms"]
    if events.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c != cols[0] else object) for c in cols})
    _require(events, ["event_type", "event_time", "data_source_device_id"], "events")
    ev = events[events["event_type"].isin([str(e) for e in COMMS_EVENTS])]
    ev = ev.sort_values(["data_source_device_id", "event_time"], kind="stable")
    dev = ev["data_source_device_id"].to_numpy()
    t = ev["event_time"].to_numpy(np.int64)
    lost = (ev["event_type"] == str(EventType.COMMS_LOST)).to_numpy()
    # state after each event; an interval starts where state flips to lost
    prev_lost = np.r_[False, lost[:-1]]
    new_dev = np.r_[True, dev[1:] != dev[:-1]]
    prev_lost[new_dev] = False
    opens = lost & ~prev_lost
    closes = ~lost & prev_lost
    starts_idx = np.flatnonzero(opens)
    rows = []
    close_idx = np.flatnonzero(closes)
    # pair each open with the first close after it on the same device
    pos = np.searchsorted(close_idx, starts_idx)
    for i, p in zip(starts_idx.tolist(), pos.tolist(), strict=True):
        end = end_ms
        if p < len(close_idx) and dev[close_idx[p]] == dev[i]:
            end = int(t[close_idx[p]])
        rows.append((dev[i], int(t[i]), max(int(t[i]), end)))
    return pd.DataFrame(rows, columns=cols).astype({"start_ms": "int64", "end_ms": "int64"})


def unobserved_intervals(
    runs: pd.DataFrame, start_ms: int, end_ms: int, *, now_ms: int | None = None
) -> pd.DataFrame:
    """Intervals in [start_ms, end_ms) that no run of a device covered (offline-shaped).

    ``runs`` has ``device_id``, ``footage_start_ms`` and ``footage_end_ms``: a camera
    watched its bays only during the footage of its runs. A run without an end (a live
    run still going, or one that died) covers up to ``now_ms`` (default ``end_ms``); a
    run without a start covers nothing. Devices with no run at all (events pushed by
    an edge analyser, simulated data) are not in the answer: their coverage is known
    only from their comms events. The rows have the columns of ``offline_intervals``,
    so the two concatenate and an hour a camera mostly did not watch reads -1.
    """
    cols = ["data_source_device_id", "start_ms", "end_ms"]
    out: list[tuple[str, int, int]] = []
    if not runs.empty:
        stop = end_ms if now_ms is None else now_ms
        for dev, g in runs.groupby("device_id", sort=True):
            spans = []
            for a, b in zip(g["footage_start_ms"], g["footage_end_ms"], strict=True):
                if a is None or pd.isna(a):
                    continue
                e = stop if b is None or pd.isna(b) else int(b)
                spans.append((int(a), max(int(a), e)))
            spans.sort()
            t = start_ms
            for a, e in spans:
                if a > t:
                    out.append((str(dev), t, min(a, end_ms)))
                t = max(t, e)
                if t >= end_ms:
                    break
            if t < end_ms:
                out.append((str(dev), t, end_ms))
    frame = pd.DataFrame([r for r in out if r[2] > r[1]], columns=cols)
    return frame.astype({"start_ms": "int64", "end_ms": "int64"})


# -- profiles and totals -----------------------------------------------------------------


def _session_span(sessions: pd.DataFrame) -> tuple[int, int]:
    if sessions.empty:
        raise StatsError("no sessions: give start_ms and end_ms")
    return int(sessions["start_ms"].min()), int(sessions["end_ms"].max())


def weekly_profile(
    sessions: pd.DataFrame,
    zones: pd.DataFrame,
    *,
    tz: str = DEFAULT_TZ,
    start_ms: int | None = None,
    end_ms: int | None = None,
    offline: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Mean occupancy, arrivals and probability of a free bay by weekday x local hour.

    Offline hours are left out. ``p_free`` = 1 - occupied time share (clipped to
    [0, 1]) averaged over the observed hours of that slot: the chance that a
    delivery driver arriving at a random instant finds the bay (all its spaces
    counted as one) free.
    """
    if start_ms is None or end_ms is None:
        s0, s1 = _session_span(sessions)
        start_ms = s0 if start_ms is None else start_ms
        end_ms = s1 if end_ms is None else end_ms
    p = prepare(sessions, zones, offline=offline)
    n_b = p.n_bays
    size = n_b * 168
    occ = np.zeros(size)
    arr = np.zeros(size)
    free = np.zeros(size)
    n = np.zeros(size)
    for a in iter_hourly_arrays(p, start_ms=start_ms, end_ms=end_ms, tz=tz):
        lh = local_hours(a.t0, a.n_hours, tz)
        slot = lh.day_of_week.to_numpy() * 24 + lh.hour.to_numpy()
        key = (np.arange(n_b, dtype=np.int64)[:, None] * 168 + slot[None, :]).ravel()
        ok = ~a.offline.ravel()
        k = key[ok]
        share = a.column("occupancy_percent").ravel()[ok] / 100.0
        occ += np.bincount(k, weights=share * 100.0, minlength=size)
        arr += np.bincount(k, weights=a.column("total_sessions").ravel()[ok], minlength=size)
        free += np.bincount(k, weights=1.0 - np.clip(share, 0.0, 1.0), minlength=size)
        n += np.bincount(k, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame(
            {
                "curb_zone_id": pd.Categorical.from_codes(
                    np.repeat(np.arange(n_b, dtype=np.int32), 168),
                    categories=pd.Index(p.zone_ids),
                ),
                "weekday": np.tile(np.repeat(np.arange(7), 24), n_b),
                "hour": np.tile(np.arange(24), 7 * n_b),
                "occupancy_percent": occ / n,
                "arrivals_per_hour": arr / n,
                "p_free": free / n,
                "n_hours_observed": n.astype(np.int64),
            }
        )
    return out


# Every CDS vehicle type a camera tells apart, so each gets a column even when unseen.
VEHICLE_TYPES = tuple(v.value for v in VehicleType)


def period_totals(
    sessions: pd.DataFrame,
    zones: pd.DataFrame,
    *,
    start_ms: int,
    end_ms: int,
    tz: str = DEFAULT_TZ,
    offline: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per bay over the whole period: CDS metrics plus dwell quantiles and shares.

    ``occupancy_percent`` is over observed (not offline) hours; ``turnover`` is
    sessions per space per observed hour; dwell statistics are in minutes over
    the sessions that arrived in the period; ``share_<vehicle_type>`` columns sum
    to 1 for bays with sessions.
    """
    p = prepare(sessions, zones, offline=offline)
    n_b = p.n_bays
    acc: dict[str, np.ndarray] = {
        k: np.zeros(n_b)
        for k in (
            "total_sessions",
            "occupied_min",
            "observed_h",
            "overstay",
            "misuse",
            "dp_sessions",
            "dp_min",
            "dwell_sum",
        )
    }
    for a in iter_hourly_arrays(p, start_ms=start_ms, end_ms=end_ms, tz=tz):
        ok = ~a.offline
        ts = np.where(ok, a.column("total_sessions"), 0.0)
        acc["total_sessions"] += ts.sum(axis=1)
        acc["occupied_min"] += np.where(ok, a.column("occupied_min"), 0.0).sum(axis=1)
        acc["observed_h"] += ok.sum(axis=1)
        acc["overstay"] += np.where(ok, a.counts[0], 0).sum(axis=1)
        acc["misuse"] += np.where(ok, a.counts[1], 0).sum(axis=1)
        acc["dp_sessions"] += a.counts[2].sum(axis=1)
        acc["dp_min"] += a.column("double_park_minutes").sum(axis=1)
        dwell = np.nan_to_num(a.column("average_dwell_time")) * ts
        acc["dwell_sum"] += np.where(ok, dwell, 0.0).sum(axis=1)

    # Dwell quantiles and vehicle shares need the sessions themselves.
    t0, n_hours = hour_grid(start_ms, end_ms, tz)
    in_period = (p.start >= t0) & (p.start < t0 + n_hours * HOUR_MS)
    zs = p.z[in_period]
    dw = pd.DataFrame({"z": zs, "dwell_min": p.dwell_s[in_period] / 60.0})
    q = dw.groupby("z")["dwell_min"].quantile([0.5, 0.9]).unstack()
    med = np.full(n_b, np.nan)
    p90 = np.full(n_b, np.nan)
    if len(q):
        med[q.index.to_numpy()] = q[0.5].to_numpy()
        p90[q.index.to_numpy()] = q[0.9].to_numpy()

    n = acc["total_sessions"]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame(
            {
                "curb_zone_id": p.zone_ids,
                "total_sessions": n.astype(np.int64),
                "turnover": n / p.num_spaces / acc["observed_h"],
                "average_dwell_time": acc["dwell_sum"] / n,
                "median_dwell_time": med,
                "p90_dwell_time": p90,
                "occupancy_percent": acc["occupied_min"]
                / (acc["observed_h"] * 60.0 * p.num_spaces)
                * 100.0,
                "overstay_share": acc["overstay"] / n,
                "misuse_share": acc["misuse"] / n,
                "double_park_sessions": acc["dp_sessions"].astype(np.int64),
                "double_park_minutes": acc["dp_min"],
                "observed_hours": acc["observed_h"].astype(np.int64),
            }
        )
    if "vehicle_type" in sessions:
        out = out.join(_vehicle_shares(sessions, p, t0, t0 + n_hours * HOUR_MS))
    return out


def _vehicle_shares(sessions: pd.DataFrame, p: PreparedSessions, t0: int, t1: int) -> pd.DataFrame:
    cat = pd.CategoricalDtype(categories=pd.Index(p.zone_ids))
    z = pd.Series(sessions["curb_zone_id"]).astype(cat).cat.codes.to_numpy()
    kind = sessions["kind"].astype(str).to_numpy() if "kind" in sessions else None
    st = sessions["start_ms"].to_numpy(np.int64)
    m = (z >= 0) & (st >= t0) & (st < t1)
    if kind is not None:
        m &= kind != "double_park"
    vt = sessions["vehicle_type"].astype(str).to_numpy()[m]
    tab = pd.crosstab(z[m], vt, normalize="index")
    shares = pd.DataFrame(index=range(p.n_bays))
    for t in sorted(set(VEHICLE_TYPES) | set(tab.columns.astype(str))):
        col = np.full(p.n_bays, np.nan)
        if t in tab.columns:
            col[tab.index.to_numpy()] = tab[t].to_numpy()
        elif len(tab):
            col[tab.index.to_numpy()] = 0.0
        shares[f"share_{t}"] = col
    return shares


def double_parking_by_lane(
    sessions: pd.DataFrame, *, start_ms: int | None = None, end_ms: int | None = None
) -> pd.DataFrame:
    """Double-park sessions and minutes per lane zone (or per bay when no lane zone)."""
    if "kind" not in sessions:
        return pd.DataFrame(columns=["lane_zone_id", "curb_zone_id", "sessions", "minutes"])
    d = sessions[sessions["kind"] == "double_park"]
    s = d["start_ms"].to_numpy(np.int64)
    e = d["end_ms"].to_numpy(np.int64)
    if start_ms is not None:
        s = np.maximum(s, start_ms)
    if end_ms is not None:
        e = np.minimum(e, end_ms)
    frame = pd.DataFrame(
        {
            "lane_zone_id": d.get("lane_zone_id", pd.Series(None, index=d.index)).to_numpy(),
            "curb_zone_id": d.get("curb_zone_id", pd.Series(None, index=d.index)).to_numpy(),
            "minutes": np.maximum(e - s, 0) / 60_000.0,
        }
    )
    frame = frame[frame["minutes"] > 0]
    g = frame.groupby(["lane_zone_id", "curb_zone_id"], dropna=False)["minutes"]
    return (
        g.agg(sessions="count", minutes="sum")
        .reset_index()
        .sort_values("minutes", ascending=False, kind="stable")
        .reset_index(drop=True)
    )


def provenance(sessions: pd.DataFrame) -> str:
    """'camera', 'simulated' or both joined by '+': how a statistic must be labelled."""
    if "data_source_type" not in sessions or sessions.empty:
        return "none"
    kinds = sorted({str(v) for v in pd.Series(sessions["data_source_type"]).unique()})
    return "+".join(kinds)


def merge_intervals(*frames: pd.DataFrame) -> pd.DataFrame:
    """Union of offline-shaped interval frames, overlaps merged per device.

    Offline minutes are summed per hour, so overlapping intervals (a camera both
    without a run and marked comms_lost) must count once.
    """
    cols = ["data_source_device_id", "start_ms", "end_ms"]
    parts = [f[cols] for f in frames if f is not None and not f.empty]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c != cols[0] else object) for c in cols})
    allf = pd.concat(parts, ignore_index=True).sort_values(cols[:2], kind="stable")
    out: list[tuple[str, int, int]] = []
    for dev, a, b in allf.itertuples(index=False):
        if out and out[-1][0] == dev and a <= out[-1][2]:
            out[-1] = (dev, out[-1][1], max(out[-1][2], int(b)))
        else:
            out.append((dev, int(a), int(b)))
    return pd.DataFrame(out, columns=cols).astype({"start_ms": "int64", "end_ms": "int64"})


def unsourced_intervals(
    zones: pd.DataFrame, sessions: pd.DataFrame, start_ms: int, end_ms: int, *, tz: str
) -> pd.DataFrame:
    """The whole period (widened to whole local hours) for each bay with no source of
    statistics: no camera (``device_id`` empty) and no session of any kind or source in
    ``sessions`` (pass them all, not only the period's: a simulated bay with no stop on
    one day was still simulated). Nobody watched such a bay, so its hours are unobserved, not 0 %
    (``api.activity``'s rule for the map). Rows carry the bay's ``curb_zone_id`` (and
    no ``data_source_device_id``); ``prepare`` maps them to that bay alone, so they
    concatenate with ``unwatched_intervals``."""
    cols = ["data_source_device_id", "curb_zone_id", "start_ms", "end_ms"]
    ids = zones["curb_zone_id"].astype(str)
    lone = ids[~ids.isin(set(sessions["curb_zone_id"].dropna().astype(str)))]
    if "device_id" in zones:
        lone = lone[zones.loc[lone.index, "device_id"].isna()]
    if lone.empty or end_ms <= start_ms:
        return pd.DataFrame({c: pd.Series(dtype="int64" if "ms" in c else object) for c in cols})
    t0, n_hours = hour_grid(start_ms, end_ms, tz)
    n = len(lone)
    return pd.DataFrame(
        {
            "data_source_device_id": [None] * n,
            "curb_zone_id": lone.to_numpy(),
            "start_ms": np.full(n, t0, np.int64),
            "end_ms": np.full(n, t0 + n_hours * HOUR_MS, np.int64),
        }
    )


def unwatched_intervals(
    comms_events: pd.DataFrame,
    runs: pd.DataFrame,
    start_ms: int,
    end_ms: int,
    *,
    now_ms: int | None = None,
    tz: str,
) -> pd.DataFrame:
    """Every interval a camera did not watch: outside its runs' footage and while its
    comms were lost (``unobserved_intervals`` and ``offline_intervals``, merged).

    This is what statistics pass as ``offline``, so that an hour nobody watched reads
    -1 (or is left out of averages) rather than 0. The period is widened to whole local
    hours of ``tz`` (``hour_grid``), the grid the statistics use: a window starting or
    ending mid-hour must not leave the rest of its first or last hour looking watched.
    """
    t0, n_hours = hour_grid(start_ms, end_ms, tz)
    t1 = t0 + n_hours * HOUR_MS
    return merge_intervals(
        offline_intervals(comms_events, t1),
        unobserved_intervals(runs, t0, t1, now_ms=now_ms),
    )


# -- keeping observed and simulated apart ------------------------------------------------

SIMULATED = "simulated"
# What ``select_source`` accepts: observed (every source but the simulator), simulated, or
# auto (observed when anything was observed, else simulated).
SOURCES = ("auto", "observed", "simulated")


class SourceSelection(NamedTuple):
    """The sessions of one kind of source and how to label them.

    ``source`` is "observed" or "simulated"; ``label`` is the ``data_source_type`` every
    figure drawn from ``sessions`` carries ("camera", "simulated", ... or "none");
    ``left_out`` counts the sessions of the other kind, which are not in ``sessions``.
    """

    sessions: pd.DataFrame
    source: str
    label: str
    left_out: int


def select_source(sessions: pd.DataFrame, source: str, *, camera_runs: int) -> SourceSelection:
    """Observed or simulated sessions, never both (README: "Observed and simulated numbers
    are never mixed"): one figure drawn from both would pass simulated stops for observed
    ones and dilute or inflate every rate.

    ``source`` is one of ``SOURCES``; "auto" picks observed when there is any observed
    session or any camera run (``camera_runs`` > 0: cameras that ran and saw no stop
    observed zeros), else simulated. Raises ``StatsError`` for another ``source``.
    """
    if source not in SOURCES:
        raise StatsError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    if "data_source_type" in sessions:
        sim = sessions["data_source_type"].astype(str).to_numpy() == SIMULATED
    else:
        sim = np.zeros(len(sessions), dtype=bool)
    if source == "auto":
        only_sim = camera_runs == 0 and len(sim) > 0 and bool(sim.all())
        source = SIMULATED if only_sim else "observed"
    keep = sim if source == SIMULATED else ~sim
    chosen = sessions[keep]
    label = provenance(chosen)
    if label == "none":
        label = SIMULATED if source == SIMULATED else ("camera" if camera_runs > 0 else "none")
    return SourceSelection(chosen, source, label, int((~keep).sum()))
