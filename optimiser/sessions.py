"""Observed statistics from the project's sessions table, as optimiser demand.

Sessions (one row per stop): ``session_id, kind ('park' | 'double_park'),
curb_zone_id, lane_zone_id, start_ms, end_ms, dwell_s, vehicle_type, lon, lat,
data_source_type ('camera' | 'simulated')``. Zones: ``curb_zone_id, lon, lat,
length_cm, max_stay_min, area_id``.

Every stop is a delivery that wanted a bay. A ``park`` stop was served by its bay;
a ``double_park`` stop is demand the bays failed to serve, placed at its own point
(or, with no point, at its adjacent bay). Rates are per day over the local calendar
days observed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimiser.distances import to_l93
from optimiser.errors import OptimiserInputError
from optimiser.inputs import Demand

SESSION_COLUMNS = (
    "session_id",
    "kind",
    "curb_zone_id",
    "start_ms",
    "end_ms",
    "dwell_s",
    "lon",
    "lat",
)
KINDS = frozenset({"park", "double_park"})


@dataclass(frozen=True, eq=False)
class ObservedDemand:
    """Demand read from stored sessions: demand points, stops a day per bay and hour (and
    double-parking stops alone), the hourly profile, mean dwell (hours), days covered,
    and whether all of it is simulated.
    """

    demand: Demand  # one point per bay (its stops) and per unplaced double-parking stop
    arrivals: pd.DataFrame  # index curb_zone_id, columns 0..23: stops a day in that hour
    double_parking: pd.DataFrame  # same shape, double-parking stops only
    profile: tuple[float, ...]  # hourly shares of all stops
    dwell_h: float  # mean dwell of all stops
    n_days: int
    simulated: bool  # every session came from a simulation


def demand_from_sessions(
    sessions: pd.DataFrame, zones: pd.DataFrame, tz: str = "Europe/Paris"
) -> ObservedDemand:
    """``ObservedDemand`` from a sessions table and the zones table, hours in local time
    ``tz``. Raises ``OptimiserInputError`` naming a missing column or an empty table.
    """
    for col in SESSION_COLUMNS:
        if col not in sessions.columns:
            raise OptimiserInputError(f"sessions: missing column '{col}'")
    for col in ("curb_zone_id", "lon", "lat"):
        if col not in zones.columns:
            raise OptimiserInputError(f"zones: missing column '{col}'")
    if sessions.empty:
        raise OptimiserInputError("sessions: no sessions")
    bad_kind = set(sessions["kind"].dropna().unique()) - KINDS
    if bad_kind or sessions["kind"].isna().any():
        raise OptimiserInputError(
            f"sessions: kind {sorted(map(str, bad_kind)) or [None]} not in {sorted(KINDS)}"
        )
    start = pd.to_numeric(sessions["start_ms"], errors="coerce")
    end = pd.to_numeric(sessions["end_ms"], errors="coerce")
    if start.isna().any() or end.isna().any() or (end < start).any():
        i = int(np.argmax((start.isna() | end.isna() | (end < start)).to_numpy()))
        raise OptimiserInputError(
            f"sessions: session {sessions['session_id'].iloc[i]} has start_ms/end_ms"
            f" {sessions['start_ms'].iloc[i]!r}/{sessions['end_ms'].iloc[i]!r}"
        )
    known = set(zones["curb_zone_id"].astype(str))
    zid = sessions["curb_zone_id"].astype("string")
    unknown = zid.notna() & ~zid.isin(known)
    if unknown.any():
        raise OptimiserInputError(
            f"sessions: curb_zone_id {zid[unknown].iloc[0]!r} is not in the zones table"
        )
    is_park = (sessions["kind"] == "park").to_numpy()
    if (is_park & zid.isna().to_numpy()).any():
        i = int(np.argmax(is_park & zid.isna().to_numpy()))
        raise OptimiserInputError(
            f"sessions: park session {sessions['session_id'].iloc[i]} has no curb_zone_id"
        )
    local = pd.to_datetime(start, unit="ms", utc=True).dt.tz_convert(tz)
    n_days = max(1, int(local.dt.date.nunique()))
    hour = local.dt.hour.to_numpy()
    dwell = pd.to_numeric(sessions["dwell_s"], errors="coerce")
    dwell = dwell.fillna((end - start) / 1000.0)
    if (dwell <= 0).all():
        raise OptimiserInputError("sessions: every dwell_s is <= 0")
    dwell_h = float(dwell[dwell > 0].mean()) / 3600.0

    zone_ids = [str(z) for z in zones["curb_zone_id"]]
    arrivals = pd.DataFrame(0.0, index=pd.Index(zone_ids, name="curb_zone_id"), columns=range(24))
    dpark = arrivals.copy()
    # Double parking with a point goes to the point; with none, to its adjacent bay.
    lon = pd.to_numeric(sessions["lon"], errors="coerce").to_numpy()
    lat = pd.to_numeric(sessions["lat"], errors="coerce").to_numpy()
    has_point = np.isfinite(lon) & np.isfinite(lat)
    free_points: list[tuple[float, float, str]] = []
    for i in range(len(sessions)):
        z = zid.iloc[i]
        h = int(hour[i])
        if is_park[i]:
            arrivals.loc[str(z), h] += 1.0 / n_days
        else:
            if pd.notna(z):
                arrivals.loc[str(z), h] += 1.0 / n_days
                dpark.loc[str(z), h] += 1.0 / n_days
            if has_point[i] and pd.isna(z):
                free_points.append(
                    (float(lon[i]), float(lat[i]), str(sessions["session_id"].iloc[i]))
                )
            elif pd.isna(z):
                raise OptimiserInputError(
                    f"sessions: double_park session {sessions['session_id'].iloc[i]}"
                    " has neither curb_zone_id nor lon/lat"
                )
    totals = arrivals.sum(axis=1)
    ids = [f"bay-{z}" for z in zone_ids]
    pts = zones[["lon", "lat"]].to_numpy(dtype=float)
    daily = totals.to_numpy(dtype=float)
    labels = ["stops at this bay" for _ in zone_ids]
    if free_points:
        ids += [f"dp-{s}" for _, _, s in free_points]
        pts = np.vstack([pts, np.array([(x, y) for x, y, _ in free_points])])
        daily = np.concatenate([daily, np.full(len(free_points), 1.0 / n_days)])
        labels += ["double parking stop" for _ in free_points]
    by_hour = np.zeros(24)
    np.add.at(by_hour, hour, 1.0)
    profile = tuple(float(v) for v in by_hour / by_hour.sum())
    simulated = bool(
        "data_source_type" in sessions.columns
        and (sessions["data_source_type"] == "simulated").all()
    )
    keep = daily > 0
    demand = Demand(
        ids=tuple(np.asarray(ids)[keep]),
        xy=to_l93(pts[keep]),
        lonlat=pts[keep],
        daily=daily[keep],
        label=tuple(np.asarray(labels)[keep]),
        simulated=simulated,
    )
    return ObservedDemand(demand, arrivals, dpark, profile, dwell_h, n_days, simulated)
