"""Session activity for the planners' map: stops, double parking, overstays and misuse,
filtered by time window, hours of the day, day type, vehicle type and bay regime, then
counted per bay, street, area or H3 cell.

Rules (stated so a planner can check a figure):

- A session counts where and when it **starts** (local time of ``api_time_zone``); the
  hour window ``[hour_from, hour_to)`` is on that local start hour.
- Day types: ``working`` = Monday-Friday except public holidays, ``saturday`` = Saturdays
  except public holidays, ``sunday_holiday`` = Sundays and public holidays (the Paris
  parking rules' split; public holidays of ``api_holidays`` from opening-hours-py).
- ``double_parking``: sessions of kind ``double_park`` (a vehicle stopped in the lane
  beside a bay; counted at that bay); ``sessions``: stops in the bay (kind ``park``);
  ``overstays``: stops longer than the bay's max stay; ``misuse``: stops by a vehicle
  type the bay does not admit (only bays that restrict vehicle types can have misuse).
- ``value`` is the chosen metric **per matching day** (so periods of different length
  compare), except ``dwell_min``: the mean dwell in minutes of the stops.
- A bay with no source of statistics (no camera, no simulation) gets ``null``, never 0;
  ``stats_source`` says whether counts are ``observed``, ``simulated`` or ``mixed``
  (the map's ``/map/activity`` counts one kind at a time, so never ``mixed`` there).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from occupancy.inventory.basemap import street_key
from occupancy.storage.store import Store, sessions

if TYPE_CHECKING:
    import pandas as pd

    from api.live import Bay

DayType = Literal["all", "working", "saturday", "sunday_holiday"]
Regime = Literal["all", "permanent", "periodic"]
Metric = Literal["double_parking", "sessions", "overstays", "misuse", "dwell_min"]
Group = Literal["bay", "street", "area", "h3"]
COUNTS = ("sessions", "double_parking", "overstays", "misuse")
ALWAYS = "24/7"  # a "ZL permanente": delivery-only at every hour


@dataclass(frozen=True, slots=True)
class ActivityFilter:
    """What to count. Times in ms since the epoch, hours local, ``hour_to`` exclusive."""

    start_ms: int
    end_ms: int
    hour_from: int = 0
    hour_to: int = 24
    day_type: DayType = "all"
    vehicle_types: tuple[str, ...] | None = None
    regime: Regime = "all"


def regime_of(bay: Bay) -> Literal["permanent", "periodic"]:
    """``permanent`` when the bay's delivery hours are 24/7, else ``periodic``."""
    return "permanent" if (bay.delivery_hours or ALWAYS).strip() == ALWAYS else "periodic"


def _holidays(country: str, days: Sequence[date]) -> set[date]:
    """Public holidays among ``days`` (``occupancy.statistics.calendar``)."""
    from occupancy.statistics.calendar import public_holidays

    return public_holidays(country, days)


def matching_days(f: ActivityFilter, tz: str, country: str) -> list[date]:
    """Local dates in [start, end) of the chosen day type."""
    zone = ZoneInfo(tz)
    first = datetime.fromtimestamp(f.start_ms / 1000, zone).date()
    last = datetime.fromtimestamp((f.end_ms - 1) / 1000, zone).date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    hol = _holidays(country, days)
    return [d for d in days if _day_type(d, hol) == f.day_type or f.day_type == "all"]


def _day_type(d: date, hol: set[date]) -> DayType:
    from occupancy.statistics.calendar import day_type

    return day_type(d, hol)


def session_frame(
    store: Store, f: ActivityFilter, tz: str, country: str, zone_ids: Sequence[str] | None
) -> pd.DataFrame:
    """Sessions starting in the window that pass the filter, with local hour and date."""
    t = _window_frame(store, f.start_ms, f.end_ms, zone_ids)
    if t.empty:
        return t
    local = pd_local(t["start_ms"], tz)
    hour = local.dt.hour
    keep = (hour >= f.hour_from) & (hour < f.hour_to)
    if f.day_type != "all":
        days = set(matching_days(f, tz, country))
        keep &= local.dt.date.isin(days)
    if f.vehicle_types is not None:
        keep &= t["vehicle_type"].isin(f.vehicle_types)
    return t[keep.to_numpy()]


def pd_local(ms: pd.Series, tz: str) -> pd.Series:
    """Epoch milliseconds as local times of ``tz``."""
    import pandas as pd

    return pd.to_datetime(ms, unit="ms", utc=True).dt.tz_convert(tz)


# All sessions of a store held in memory (categorical columns, ~30 bytes a row), valid
# while the sessions table is unchanged (row count and latest start): any window, hour
# range, day type or vehicle filter is then a pandas filter. A city's 14 days are ~700k
# rows, seconds to read once; past FULL_READ_MAX_ROWS only the asked window is read.
FULL_READ_MAX_ROWS = 3_000_000
_FULL: dict[int, tuple[tuple[int, int], pd.DataFrame]] = {}
_READ_LOCK = threading.Lock()  # one read at a time: a second request waits, then hits


def _columns() -> Any:
    c = sessions.c
    return select(
        c.curb_zone_id,
        c.kind,
        c.start_ms,
        c.dwell_s,
        c.vehicle_type,
        c.overstay,
        c.data_source_type,
    ).where(c.curb_zone_id.is_not(None))


def _signature(store: Store) -> tuple[int, int]:
    c = sessions.c
    with store.engine.connect() as conn:
        n, last = conn.execute(select(func.count(), func.max(c.start_ms))).one()
    return int(n or 0), int(last or 0)


def _read(store: Store, q: Any) -> pd.DataFrame:
    import pandas as pd

    with store.engine.connect() as conn:
        t = pd.read_sql(q, conn)
    for col in ("curb_zone_id", "kind", "vehicle_type", "data_source_type"):
        t[col] = t[col].astype("category")
    return t


def warm(store: Store) -> None:
    """Read every session into memory now (a background thread calls this when the map
    opens, so the planner's first activity view does not wait for the read)."""
    _ensure_full(store, _signature(store))


def _ensure_full(store: Store, sig: tuple[int, int]) -> None:
    with _READ_LOCK:
        hit = _FULL.get(id(store))
        if (hit is None or hit[0] != sig) and sig[0] <= FULL_READ_MAX_ROWS:
            _FULL[id(store)] = (sig, _read(store, _columns()))


def _window_frame(
    store: Store, start_ms: int, end_ms: int, zone_ids: Sequence[str] | None
) -> pd.DataFrame:
    sig = _signature(store)
    if sig[0] <= FULL_READ_MAX_ROWS:
        _ensure_full(store, sig)
        full = _FULL[id(store)][1]
        t = full[((full["start_ms"] >= start_ms) & (full["start_ms"] < end_ms)).to_numpy()]
    else:
        c = sessions.c
        t = _read(store, _columns().where(c.start_ms >= start_ms, c.start_ms < end_ms))
    if zone_ids is not None:
        t = t[t["curb_zone_id"].isin(list(zone_ids)).to_numpy()]
    return t


@dataclass(frozen=True, slots=True)
class BayActivity:
    """Counts of one bay over the filter: sessions, double_parking, overstays, misuse,
    total dwell (s) of its stops, and how many of the counted rows were simulated."""

    counts: dict[str, int]
    dwell_s: float
    simulated: int
    observed: int


def per_bay(t: pd.DataFrame, bays: dict[str, Bay]) -> dict[str, BayActivity]:
    """Counts per curb zone id (only bays in ``bays``), vectorised over the sessions."""
    import numpy as np

    out: dict[str, BayActivity] = {}
    if t.empty:
        return out
    # pandas' hash-based isin: numpy's isin sorts object arrays (minutes on 700k rows).
    t = t[t["curb_zone_id"].isin(list(bays))]
    zone = t["curb_zone_id"].astype(str).to_numpy()
    park = (t["kind"] == "park").to_numpy()
    restricted = {z: set(b.vehicle_types) for z, b in bays.items() if b.vehicle_types}
    misuse = np.zeros(len(t), dtype=bool)
    if restricted:
        vt = t["vehicle_type"].astype(str).to_numpy()
        in_restricted = t["curb_zone_id"].isin(list(restricted)).to_numpy()
        for k in np.flatnonzero(park & in_restricted):
            misuse[k] = vt[k] not in restricted[zone[k]]
    frame = pd_frame(
        zone=zone,
        sessions=park,
        double_parking=(t["kind"] == "double_park").to_numpy(),
        overstays=park & t["overstay"].astype(bool).to_numpy(),
        misuse=misuse,
        dwell_s=np.where(park, t["dwell_s"].to_numpy(dtype=float), 0.0),
        simulated=(t["data_source_type"] == "simulated").to_numpy(),
        rows=np.ones(len(t), dtype=np.int64),
    )
    sums = frame.groupby("zone", sort=False).sum()
    for zid, r in zip(sums.index, sums.itertuples(index=False), strict=True):
        out[str(zid)] = BayActivity(
            counts={k: int(getattr(r, k)) for k in COUNTS},
            dwell_s=float(r.dwell_s),
            simulated=int(r.simulated),
            observed=int(r.rows - r.simulated),
        )
    return out


def pd_frame(**cols: Any) -> pd.DataFrame:
    """A DataFrame of equal-length columns (pandas imported only when counting)."""
    import pandas as pd

    return pd.DataFrame(cols)


def group_key(bay: Bay, group: Group, resolution: int) -> str | None:
    """The bay's group: its id, street key, area id or H3 cell."""
    if group == "bay":
        return bay.curb_zone_id
    if group == "street":
        return street_key(bay.street_name)
    if group == "area":
        return bay.area_id
    import h3

    return str(h3.latlng_to_cell(bay.lat, bay.lon, resolution))


def summarise(
    members: Sequence[Bay],
    acts: dict[str, BayActivity],
    sources: dict[str, str],
    metric: Metric,
    n_days: int,
) -> dict[str, Any]:
    """Properties of one group: counts, per-day value of ``metric`` and its provenance."""
    covered = [b for b in members if sources.get(b.curb_zone_id) or b.curb_zone_id in acts]
    totals = dict.fromkeys(COUNTS, 0)
    dwell = 0.0
    sim = obs = 0
    for b in covered:
        a = acts.get(b.curb_zone_id)
        if a is None:
            continue
        for k in COUNTS:
            totals[k] += a.counts[k]
        dwell += a.dwell_s
        sim += a.simulated
        obs += a.observed
    value: float | None
    if not covered or n_days == 0:
        value = None
    elif metric == "dwell_min":
        value = round(dwell / totals["sessions"] / 60.0, 2) if totals["sessions"] else None
    else:
        value = round(totals[metric] / n_days, 4)
    if sim and obs:
        source: str | None = "mixed"
    elif sim:
        source = "simulated"
    elif obs:
        source = "observed"
    else:
        kinds = {sources.get(b.curb_zone_id) for b in covered} - {None}
        source = ("simulated" if kinds == {"simulated"} else "observed") if kinds else None
    # A group no camera (or simulation) covered has no counts: unobserved is not 0.
    counts: dict[str, int | None] = dict(totals) if covered else dict.fromkeys(COUNTS, None)
    return {
        "bays": len(members),
        "bays_with_stats": len(covered),
        **counts,
        "dwell_min_mean": round(dwell / totals["sessions"] / 60.0, 2)
        if totals["sessions"]
        else None,
        "simulated_share": round(sim / (sim + obs), 3) if sim + obs else None,
        "stats_source": source,
        "value": value,
    }
