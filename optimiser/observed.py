"""Demand, misuse and coverage of an area, from its stored sessions (``AreaInputs``).

Rules, per bay of the area:

- **watched hours**: an hour of the period counts as observed only where the bay's
  camera watched it, by the statistics' own rule
  (``occupancy.statistics.hourly.offline_hours``: its runs' footage covered the
  majority of the hour and its comms were up); a camera with no run counts only if it
  pushed sessions itself; simulated bays are "watched" the whole period;
- **evidence**: ``simulated`` when its sessions come from the simulator
  (``data_source_type="simulated"``), ``observed`` when a camera watched it in some
  hour of the period, ``estimated`` otherwise (no camera: its demand comes from a
  declared layer, see below);
- **deliveries**: park sessions of delivery vehicles (``DELIVERY_VEHICLES``: van,
  truck, freight, cargo bicycle; Code de la route R417-10 reserves the bays for
  loading goods) plus double-parking sessions beside the bay (demand the bay failed
  to serve), counted in watched hours only;
- **hours nobody watched are estimated, never 0**: a watched bay's unwatched hours
  take its own mean of that day type and hour where another day of the period watched
  it, else its level (fitted on its watched hours) times an assumed shape
  (``ESTIMATED_DAY_FACTOR`` x ``TYPICAL_URBAN_PROFILE``); that part of its demand is a
  separate ``estimated`` demand point (``bay-<id>-unwatched``) at the bay, so every
  share says what was seen. The time slots' arrivals per day type (working day,
  Saturday, Sunday/holiday) are the watched hours' counts plus those estimates, and
  day types absent from the period are estimated the same way;
  ``observed_by_day_type`` and a note give the observed share of each;
- **misuse**: the share of the bay's place-time in watched hours taken by other
  vehicles (a car, a motorcycle) or by delivery vehicles past the bay's maximum stay
  (``overstay``), which reduces what the bay can serve (CEREMA's Paris survey found
  47 % of bay time taken illicitly);
- **double parking in lane zones** with no bay of their own is demand at the lane
  zone's point.

Where no camera watched (and nothing was simulated), demand comes from a declared
layer: the shops file (``optimiser.instances.shop_demand``, weights by shop type, an
assumption) inside the area's bays' hull, leaving out shops within the walking
limit of a watched bay (their deliveries are already counted there). Day types follow
the Paris parking rules: public holidays (of ``country``, OSM ``PH``) count as Sundays.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from occupancy.inventory.bays import DELIVERY_VEHICLES
from occupancy.statistics.calendar import DAY_TYPE_ORDER, day_type, public_holidays
from occupancy.statistics.hourly import hour_grid, local_hours, offline_hours, prepare
from optimiser.distances import to_l93
from optimiser.inputs import (
    DEFAULT_DWELL_H,
    ESTIMATED_DAY_FACTOR,
    TYPICAL_URBAN_PROFILE,
    Demand,
    Rules,
    Sites,
)
from optimiser.loaders import sites_from_zones
from optimiser.regimes import DAY_TYPES
from optimiser.store_inputs import MS_PER_H, AreaInputs

OBSERVED, SIMULATED, ESTIMATED = "observed", "simulated", "estimated"


@dataclass(frozen=True, eq=False)
class AreaDemand:
    """What the models read for one area: sites (with regime, misuse, evidence), demand,
    the hourly profile and mean dwell, each bay's arrivals by day type and hour, and
    the observed share of those arrivals per day type (NaN where there are none)."""

    sites: Sites
    demand: Demand
    profile: tuple[float, ...]
    dwell_h: float
    # index: curb_zone_id; values (3, 24): deliveries a day of that day type in that hour
    arrivals: dict[str, np.ndarray]
    notes: tuple[str, ...]
    street_of: tuple[str, ...]
    observed_by_day_type: tuple[float, ...] = (float("nan"),) * 3
    # Deliveries a day of each day type counted in watched hours, and simulated (sum
    # over bays and hours), for the time-slot summary's shares.
    observed_per_day_type: tuple[float, ...] = (0.0, 0.0, 0.0)
    simulated_per_day_type: tuple[float, ...] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class _Grid:
    """The period's local hours: first hour (ms), count, and each hour's day type and
    hour of day."""

    t0: int
    n_hours: int
    day_type: np.ndarray  # (H,) int
    hour: np.ndarray  # (H,) int

    @property
    def days(self) -> float:
        return self.n_hours / 24.0

    def slot_sum(self, values: np.ndarray) -> np.ndarray:
        """(3, 24) sums of an (H,) array by day type and hour of day."""
        out = np.zeros((len(DAY_TYPES), 24))
        np.add.at(out, (self.day_type, self.hour), values)
        return out


def session_bays(inputs: AreaInputs) -> pd.Series:
    """Each session's bay: its ``curb_zone_id``, else the bay its lane zone runs beside
    (double parking), else missing."""
    sess = inputs.sessions
    lane_bay = dict(
        zip(
            inputs.lane_zones.get("lane_zone_id", []),
            inputs.lane_zones.get("curb_zone_id", []),
            strict=True,
        )
    )
    bay_of = sess["curb_zone_id"].astype("string")
    if "lane_zone_id" in sess.columns:
        from_lane = (
            sess["lane_zone_id"]
            .astype("string")
            .map(lambda v: lane_bay.get(v) if pd.notna(v) else None)
        )
        bay_of = bay_of.fillna(from_lane.astype("string"))
    return bay_of


def _grid(start_ms: int, end_ms: int, tz: str, country: str) -> _Grid:
    """The period's local hours, each with its day type (``DAY_TYPES`` order; public
    holidays of ``country`` are Sundays, ``occupancy.statistics.calendar``)."""
    if end_ms <= start_ms:
        return _Grid(start_ms, 0, np.zeros(0, np.int64), np.zeros(0, np.int64))
    t0, n = hour_grid(start_ms, end_ms, tz)
    local = local_hours(t0, n, tz)
    dates = [ts.date() for ts in local]
    hol = public_holidays(country, set(dates))
    kind = {d: DAY_TYPE_ORDER.index(day_type(d, hol)) for d in set(dates)}
    dt = np.array([kind[d] for d in dates], dtype=np.int64)
    return _Grid(t0, n, dt, np.asarray(local.hour, dtype=np.int64))


def _watched_hours(inputs: AreaInputs, zones: pd.DataFrame, grid: _Grid) -> np.ndarray:
    """(bays, hours) bool: the hours a camera watched each bay, by the statistics' rule
    (``occupancy.statistics.hourly.offline_hours``: an hour is observed only where its
    camera's runs covered the majority of it and its comms were up). A bay counts as
    watched only if its device has runs, or pushed camera sessions of its own (an edge
    analyser, whose coverage is known from its comms events alone)."""
    n = len(zones)
    if grid.n_hours == 0:
        return np.zeros((n, 0), dtype=bool)
    dev = zones["device_id"].astype(object) if "device_id" in zones.columns else None
    if dev is None:
        return np.zeros((n, grid.n_hours), dtype=bool)
    sess = inputs.sessions
    pushed = set(
        sess.loc[sess["data_source_type"] != SIMULATED, "data_source_device_id"].astype(str)
    )
    seen = inputs.run_devices | pushed
    empty = pd.DataFrame({"curb_zone_id": [], "start_ms": [], "end_ms": []})
    frame = pd.DataFrame({"curb_zone_id": [str(i) for i in range(n)], "device_id": dev.to_numpy()})
    prepared = prepare(empty.astype("int64"), frame, offline=inputs.unwatched)
    _, offline = offline_hours(prepared, grid.t0, grid.n_hours)
    known = np.array([pd.notna(d) and str(d) in seen for d in dev], dtype=bool)
    return ~offline & known[:, None]


def area_demand(
    inputs: AreaInputs,
    rules: Rules,
    tz: str = "Europe/Paris",
    shops: Path | None = None,
    country: str = "FR",
) -> AreaDemand:
    """Sites, demand and day-type arrivals of an area (see the module's rules); hours
    local to ``tz``, public holidays of ``country`` count as Sundays."""
    zones, sess = inputs.zones, inputs.sessions
    sites = sites_from_zones(zones, rules, where=f"area {inputs.area}")
    ids = list(sites.ids)
    n = len(ids)
    grid = _grid(inputs.start_ms, inputs.end_ms, tz, country)
    span_days = max(grid.days, 1e-9)
    lane_xy = {
        str(r.lane_zone_id): (float(r.lon), float(r.lat))
        for r in inputs.lane_zones.itertuples(index=False)
    }
    sess = sess.assign(_bay=session_bays(inputs))
    simulated_bays = set(sess.loc[sess["data_source_type"] == SIMULATED, "_bay"].dropna())
    watched = _watched_hours(inputs, zones, grid)
    evidence: list[str] = []
    for j, zid in enumerate(ids):
        if zid in simulated_bays:
            evidence.append(SIMULATED)
            watched[j] = True  # simulated over the whole period
        elif watched[j].any():
            evidence.append(OBSERVED)
        else:
            evidence.append(ESTIMATED)
    index = {z: j for j, z in enumerate(ids)}
    cell = ((sess["start_ms"].to_numpy(dtype=np.int64) - grid.t0) // MS_PER_H).astype(np.int64)
    local = pd.to_datetime(sess["start_ms"], unit="ms", utc=True).dt.tz_convert(tz)
    hour = local.dt.hour.to_numpy()
    delivering = sess["vehicle_type"].isin(DELIVERY_VEHICLES).to_numpy()
    is_park = (sess["kind"] == "park").to_numpy()
    wants_bay = (is_park & delivering) | ~is_park
    dwell_s = pd.to_numeric(sess["dwell_s"], errors="coerce").fillna(0.0).to_numpy()
    max_stay_s = pd.to_numeric(sess.get("max_stay_min"), errors="coerce").to_numpy() * 60.0
    over = np.where(np.isfinite(max_stay_s), np.maximum(dwell_s - max_stay_s, 0.0), 0.0)
    misused_s = np.where(is_park & ~delivering, dwell_s, np.where(is_park, over, 0.0))

    counts = np.zeros((n, grid.n_hours))  # deliveries starting in each watched hour
    misuse = np.zeros(n)
    counted = np.zeros(len(sess), dtype=bool)
    free_points: list[tuple[float, float, str, float]] = []
    for i, zid in enumerate(sess["_bay"]):
        found = index.get(str(zid)) if pd.notna(zid) else None
        c = int(cell[i])
        if found is None or not (0 <= c < grid.n_hours) or not watched[found, c]:
            if found is None and not is_park[i] and "lane_zone_id" in sess.columns:
                lane = sess["lane_zone_id"].iloc[i]
                pt = lane_xy.get(str(lane))
                if pt is not None:
                    free_points.append(
                        (pt[0], pt[1], str(sess["data_source_type"].iloc[i]), span_days)
                    )
            continue  # an hour nobody watched: the stop is not evidence of anything
        if wants_bay[i]:
            counts[found, c] += 1.0
            counted[i] = True
        misuse[found] += misused_s[i]
    watched_h = watched.sum(axis=1).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        misuse = np.where(watched_h > 0, misuse / (watched_h * 3600.0 * sites.existing), 0.0)
    misuse = np.clip(misuse, 0.0, 0.95)
    sites = replace(sites, misuse=misuse, evidence=tuple(evidence))

    # Each bay's demand: its observed hours as counted; its unwatched hours of the period
    # estimated (``_fill``); day types absent from the period estimated for the time slots.
    days_of = grid.slot_sum(np.ones(grid.n_hours))  # (3, 24) days of each type in the period
    shape = np.outer(ESTIMATED_DAY_FACTOR, TYPICAL_URBAN_PROFILE)
    daily_obs = np.zeros(n)
    daily_est = np.zeros(n)
    arrivals: dict[str, np.ndarray] = {}
    # Per day type: arrivals counted at watched bays, at simulated bays, and in all.
    obs_dt = np.zeros(len(DAY_TYPES))
    sim_dt = np.zeros(len(DAY_TYPES))
    all_dt = np.zeros(len(DAY_TYPES))
    for j in range(n):
        if not watched[j].any():
            continue
        seen, est = _fill(counts[j], watched[j], grid, shape)
        if seen is None:
            evidence[j] = ESTIMATED  # watched only in hours that say nothing of a level
            continue
        daily_obs[j] = counts[j].sum() / span_days
        daily_est[j] = est.sum() / span_days
        obs_slot = grid.slot_sum(counts[j])
        est_slot = grid.slot_sum(est)
        with np.errstate(divide="ignore", invalid="ignore"):
            arr = np.where(days_of > 0, (obs_slot + est_slot) / days_of, seen)
            obs_part = np.where(days_of > 0, obs_slot / days_of, 0.0)
        arrivals[ids[j]] = arr
        if evidence[j] == SIMULATED:
            sim_dt += obs_part.sum(axis=1)
        else:
            obs_dt += obs_part.sum(axis=1)
        all_dt += arr.sum(axis=1)
    sites = replace(sites, evidence=tuple(evidence))

    d_pts: list[np.ndarray] = []
    d_ids: list[str] = []
    d_daily: list[float] = []
    d_ev: list[str] = []
    d_label: list[str] = []
    for j, z in enumerate(ids):
        if daily_obs[j] > 0:
            d_pts.append(sites.lonlat[j])
            d_ids.append(f"bay-{z}")
            d_daily.append(float(daily_obs[j]))
            d_ev.append(evidence[j])
            d_label.append("deliveries at this bay")
        if daily_est[j] > 0:
            d_pts.append(sites.lonlat[j])
            d_ids.append(f"bay-{z}-unwatched")
            d_daily.append(float(daily_est[j]))
            d_ev.append(ESTIMATED)
            d_label.append("deliveries at this bay in the hours no camera watched (estimated)")
    pts = np.asarray(d_pts, dtype=float).reshape(-1, 2)
    for x, y, src, nd in free_points:
        pts = np.vstack([pts, [[x, y]]])
        d_ids.append(f"lane-{len(d_ids)}")
        d_daily.append(1.0 / nd)
        d_ev.append(SIMULATED if src == SIMULATED else OBSERVED)
        d_label.append("double parking in a lane zone")
    notes: list[str] = []
    unwatched = [j for j in range(n) if evidence[j] == ESTIMATED]
    if unwatched and shops is not None:
        est_pts = _shops_outside_watch(shops, sites, evidence, rules.walk_limit_m)
        if est_pts is not None:
            pts = np.vstack([pts, est_pts.lonlat]) if len(pts) else est_pts.lonlat
            d_ids += list(est_pts.ids)
            d_daily += list(est_pts.daily)
            d_ev += [ESTIMATED] * len(est_pts)
            d_label += list(est_pts.label)
            notes.append(
                f"demand where no camera watches: {len(est_pts)} declared shops of {shops.name}"
                " (weights by shop type, an assumption)"
            )
    if not d_ids:
        from optimiser.errors import OptimiserInputError

        raise OptimiserInputError(
            f"area {inputs.area}: no sessions in the period and no declared demand layer"
            " for the bays no camera watches (give --shops)"
        )
    lonlat = np.asarray(pts, dtype=float).reshape(-1, 2)
    demand = Demand(
        ids=tuple(d_ids),
        xy=to_l93(lonlat),
        lonlat=lonlat,
        daily=np.asarray(d_daily, dtype=float),
        label=tuple(d_label),
        simulated=all(e == SIMULATED for e in d_ev),
        evidence=tuple(d_ev),
    )
    wanted = sess[counted]
    if len(wanted):
        by_hour = np.bincount(hour[counted], minlength=24).astype(float)
        profile = tuple(float(v) for v in by_hour / by_hour.sum())
        dw = dwell_s[counted]
        dwell_h = float(dw[dw > 0].mean()) / 3600.0 if np.any(dw > 0) else DEFAULT_DWELL_H
        src = "simulated" if set(wanted["data_source_type"]) == {SIMULATED} else "observed"
        notes.append(
            f"hourly profile and mean dwell ({dwell_h * 60:.1f} min): {src} sessions in"
            " watched hours"
        )
    else:
        profile, dwell_h = TYPICAL_URBAN_PROFILE, DEFAULT_DWELL_H
        notes.append("hourly profile and dwell: assumed typical urban delivery day (estimated)")
    shares = demand.shares()
    watched_bays = [j for j in range(n) if evidence[j] == OBSERVED]
    cover = (
        f"; cameras watched {float(watched[watched_bays].mean()):.0%} of the period's hours"
        f" at their {len(watched_bays)} bays"
        if watched_bays and grid.n_hours
        else ""
    )
    notes.insert(
        0,
        "demand: "
        + ", ".join(f"{shares.get(k, 0.0):.0%} {k}" for k in (OBSERVED, SIMULATED, ESTIMATED))
        + f" ({demand.daily.sum():.1f} deliveries/day; bays: "
        + ", ".join(f"{evidence.count(k)} {k}" for k in (OBSERVED, SIMULATED, ESTIMATED))
        + ")"
        + cover,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        by_dt = tuple(float(v) for v in np.where(all_dt > 0, obs_dt / all_dt, np.nan))
        sim_by_dt = np.where(all_dt > 0, sim_dt / all_dt, np.nan)
    if arrivals:
        notes.append(
            "time-slot demand of the watched and simulated bays by day type (observed in"
            " watched hours / simulated / estimated): "
            + ", ".join(
                f"{name} -"
                if np.isnan(v)
                else f"{name} {v:.0%}/{w:.0%}/{max(0.0, 1.0 - v - w):.0%}"
                for name, v, w in zip(DAY_TYPES, by_dt, sim_by_dt, strict=True)
            )
        )
    if np.any(misuse > 0):
        notes.append(
            f"misuse: mean {float(np.mean(misuse[watched_h > 0])):.0%} of bay time taken by"
            " other vehicles or overstays in watched hours (reduces what a bay serves)"
        )
    street = zones["street_name"] if "street_name" in zones.columns else pd.Series([""] * n)
    return AreaDemand(
        sites=sites,
        demand=demand,
        profile=profile,
        dwell_h=dwell_h,
        arrivals=arrivals,
        notes=tuple(notes),
        street_of=tuple(str(s) if pd.notna(s) else "" for s in street),
        observed_by_day_type=by_dt,
        observed_per_day_type=tuple(float(v) for v in obs_dt),
        simulated_per_day_type=tuple(float(v) for v in sim_dt),
    )


def _fill(
    counts: np.ndarray, watched: np.ndarray, grid: _Grid, shape: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray]:
    """Estimates for one bay's unwatched hours of the period, and its (3, 24) expected
    deliveries an hour for day types the period lacks; (None, zeros) when its watched
    hours say nothing of its level (they carry no weight in ``shape``).

    An unwatched hour takes the bay's own mean in that day type and hour of day where
    another day of the period watched it; else the bay's level times ``shape``
    (``ESTIMATED_DAY_FACTOR`` x ``TYPICAL_URBAN_PROFILE``, assumptions), the level
    fitted on its watched hours (deliveries counted / shape summed over them)."""
    w = watched.astype(float)
    weight = float((shape[grid.day_type, grid.hour] * w).sum())
    if weight <= 1e-9:
        return None, np.zeros_like(counts)
    level = float(counts.sum()) / weight
    n_seen = grid.slot_sum(w)
    with np.errstate(divide="ignore", invalid="ignore"):
        own = np.where(n_seen > 0, grid.slot_sum(counts) / n_seen, level * shape)
    est = np.where(watched, 0.0, own[grid.day_type, grid.hour])
    return own, est


def _shops_outside_watch(
    shops: Path, sites: Sites, evidence: list[str], walk_m: float
) -> Demand | None:
    """Declared shops inside the bays' hull (buffered by the walk limit), except those
    within the walk limit of a watched bay."""
    from optimiser.errors import OptimiserInputError
    from optimiser.instances import shop_demand

    hull_xy = shapely.convex_hull(shapely.multipoints(sites.xy)).buffer(walk_m)
    from optimiser.distances import to_wgs84

    ring = to_wgs84(np.asarray(hull_xy.exterior.coords))
    try:
        est = shop_demand(shops, shapely.Polygon(ring))
    except OptimiserInputError:
        return None
    watched = np.array([e != ESTIMATED for e in evidence], dtype=bool)
    if watched.any():
        tree = shapely.STRtree(shapely.points(sites.xy[watched]))
        hit, _ = tree.query(shapely.points(est.xy), predicate="dwithin", distance=walk_m)
        keep = np.ones(len(est), dtype=bool)
        keep[np.unique(hit)] = False
    else:
        keep = np.ones(len(est), dtype=bool)
    if not keep.any():
        return None
    return Demand(
        ids=tuple(np.asarray(est.ids)[keep]),
        xy=est.xy[keep],
        lonlat=est.lonlat[keep],
        daily=est.daily[keep],
        label=tuple(np.asarray(est.label)[keep]),
        simulated=False,
        evidence=tuple(ESTIMATED for _ in range(int(keep.sum()))),
    )


__all__ = ["ESTIMATED", "OBSERVED", "SIMULATED", "AreaDemand", "area_demand", "session_bays"]
