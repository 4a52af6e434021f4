"""Demand, misuse and coverage of an area, from its stored sessions (``AreaInputs``).

Rules, per bay of the area:

- **evidence**: ``simulated`` when its sessions come from the simulator
  (``data_source_type="simulated"``), ``observed`` when a camera watched it in the
  period (``curb_zones.device_id`` with ``runs`` overlapping it), ``estimated``
  otherwise (no camera: its demand comes from a declared layer, see below);
- **deliveries**: park sessions of delivery vehicles (``DELIVERY_VEHICLES``: van,
  truck, freight, cargo bicycle; Code de la route R417-10 reserves the bays for
  loading goods) plus double-parking sessions beside the bay (demand the bay failed
  to serve), per day watched;
- **misuse**: the share of the bay's place-time taken by other vehicles (a car, a
  motorcycle) or by delivery vehicles past the bay's maximum stay (``overstay``),
  which reduces what the bay can serve (CEREMA's Paris survey found 47 % of bay time
  taken illicitly);
- **double parking in lane zones** with no bay of their own is demand at the lane
  zone's point.

Where no camera watched (and nothing was simulated), demand comes from a declared
layer: the shops file (``optimiser.instances.shop_demand``, weights by shop type, an
assumption) inside the area's bays' hull, leaving out shops within the walking
limit of a watched bay (their deliveries are already counted there).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from occupancy.inventory.bays import DELIVERY_VEHICLES
from optimiser.distances import to_l93
from optimiser.inputs import DEFAULT_DWELL_H, TYPICAL_URBAN_PROFILE, Demand, Rules, Sites
from optimiser.loaders import sites_from_zones
from optimiser.regimes import DAY_TYPES
from optimiser.store_inputs import MS_PER_H, AreaInputs

OBSERVED, SIMULATED, ESTIMATED = "observed", "simulated", "estimated"
MS_PER_DAY = 24 * MS_PER_H


@dataclass(frozen=True, eq=False)
class AreaDemand:
    """What the models read for one area: sites (with regime, misuse, evidence), demand,
    the hourly profile and mean dwell, and each bay's arrivals by day type and hour."""

    sites: Sites
    demand: Demand
    profile: tuple[float, ...]
    dwell_h: float
    # index: curb_zone_id; values (3, 24): deliveries a day of that day type in that hour
    arrivals: dict[str, np.ndarray]
    notes: tuple[str, ...]
    street_of: tuple[str, ...]


def _day_counts(start_ms: int, end_ms: int, tz: str) -> np.ndarray:
    """Days of each type (working, Saturday, Sunday) that [start, end) touches."""
    days = pd.date_range(
        pd.Timestamp(start_ms, unit="ms", tz="UTC").tz_convert(tz).normalize(),
        pd.Timestamp(end_ms - 1, unit="ms", tz="UTC").tz_convert(tz),
        freq="D",
    )
    out = np.zeros(3)
    for d in days:
        out[_day_type(d.weekday())] += 1.0
    return np.maximum(out, 0.0)


def _day_type(weekday: int) -> int:
    return 0 if weekday < 5 else (1 if weekday == 5 else 2)


def area_demand(
    inputs: AreaInputs,
    rules: Rules,
    tz: str = "Europe/Paris",
    shops: Path | None = None,
) -> AreaDemand:
    """Sites, demand and day-type arrivals of an area (see the module's rules)."""
    zones, sess = inputs.zones, inputs.sessions
    sites = sites_from_zones(zones, rules, where=f"area {inputs.area}")
    ids = list(sites.ids)
    n = len(ids)
    span_days = max((inputs.end_ms - inputs.start_ms) / MS_PER_DAY, 1e-9)
    day_counts = _day_counts(inputs.start_ms, inputs.end_ms, tz) if len(sess) else np.ones(3)
    lane_bay = dict(
        zip(
            inputs.lane_zones.get("lane_zone_id", []),
            inputs.lane_zones.get("curb_zone_id", []),
            strict=True,
        )
    )
    lane_xy = {
        str(r.lane_zone_id): (float(r.lon), float(r.lat))
        for r in inputs.lane_zones.itertuples(index=False)
    }
    bay_of = sess["curb_zone_id"].astype("string")
    if "lane_zone_id" in sess.columns:
        from_lane = (
            sess["lane_zone_id"]
            .astype("string")
            .map(lambda v: lane_bay.get(v) if pd.notna(v) else None)
        )
        bay_of = bay_of.fillna(from_lane.astype("string"))
    sess = sess.assign(_bay=bay_of)
    simulated_bays = set(sess.loc[sess["data_source_type"] == SIMULATED, "_bay"].dropna())
    devices = zones["device_id"] if "device_id" in zones.columns else pd.Series([None] * n)
    evidence: list[str] = []
    days = np.zeros(n)
    for j, (zid, dev) in enumerate(zip(ids, devices, strict=True)):
        if zid in simulated_bays:
            evidence.append(SIMULATED)
            days[j] = span_days
        elif pd.notna(dev) and inputs.camera_hours.get(str(dev), 0.0) > 0:
            evidence.append(OBSERVED)
            days[j] = inputs.camera_hours[str(dev)] / 24.0
        else:
            evidence.append(ESTIMATED)
    index = {z: j for j, z in enumerate(ids)}
    local = pd.to_datetime(sess["start_ms"], unit="ms", utc=True).dt.tz_convert(tz)
    hour = local.dt.hour.to_numpy()
    dtype = np.array([_day_type(int(w)) for w in local.dt.day_of_week.to_numpy()], dtype=np.int64)
    delivering = sess["vehicle_type"].isin(DELIVERY_VEHICLES).to_numpy()
    is_park = (sess["kind"] == "park").to_numpy()
    wants_bay = (is_park & delivering) | ~is_park
    dwell_s = pd.to_numeric(sess["dwell_s"], errors="coerce").fillna(0.0).to_numpy()
    max_stay_s = pd.to_numeric(sess.get("max_stay_min"), errors="coerce").to_numpy() * 60.0
    over = np.where(np.isfinite(max_stay_s), np.maximum(dwell_s - max_stay_s, 0.0), 0.0)
    misused_s = np.where(is_park & ~delivering, dwell_s, np.where(is_park, over, 0.0))

    daily = np.zeros(n)
    misuse = np.zeros(n)
    arrivals: dict[str, np.ndarray] = {}
    free_points: list[tuple[float, float, str, float]] = []
    per_type = np.maximum(day_counts, 1e-9)
    for i, zid in enumerate(sess["_bay"]):
        found = index.get(str(zid)) if pd.notna(zid) else None
        if found is None or days[found] <= 0:
            if not is_park[i] and "lane_zone_id" in sess.columns:
                lane = sess["lane_zone_id"].iloc[i]
                pt = lane_xy.get(str(lane))
                if pt is not None:
                    free_points.append(
                        (pt[0], pt[1], str(sess["data_source_type"].iloc[i]), span_days)
                    )
            continue
        j = found
        if wants_bay[i]:
            daily[j] += 1.0 / days[j]
            arr = arrivals.setdefault(ids[j], np.zeros((len(DAY_TYPES), 24)))
            arr[dtype[i], hour[i]] += 1.0 / per_type[dtype[i]] * (span_days / days[j])
        misuse[j] += misused_s[i]
    with np.errstate(divide="ignore", invalid="ignore"):
        misuse = np.where(days > 0, misuse / (days * 86_400.0 * sites.existing), 0.0)
    misuse = np.clip(misuse, 0.0, 0.95)
    sites = replace(sites, misuse=misuse, evidence=tuple(evidence))

    keep = daily > 0
    pts = sites.lonlat[keep]
    d_ids = [f"bay-{z}" for z, k in zip(ids, keep, strict=True) if k]
    d_daily = list(daily[keep])
    d_ev = [e for e, k in zip(evidence, keep, strict=True) if k]
    d_label = ["deliveries at this bay" for _ in d_ids]
    for x, y, src, nd in free_points:
        pts = np.vstack([pts, [[x, y]]])
        d_ids.append(f"lane-{len(d_ids)}")
        d_daily.append(1.0 / nd)
        d_ev.append(SIMULATED if src == SIMULATED else OBSERVED)
        d_label.append("double parking in a lane zone")
    notes: list[str] = []
    unwatched = [j for j in range(n) if evidence[j] == ESTIMATED]
    if unwatched and shops is not None:
        est = _shops_outside_watch(shops, sites, evidence, rules.walk_limit_m)
        if est is not None:
            pts = np.vstack([pts, est.lonlat]) if len(pts) else est.lonlat
            d_ids += list(est.ids)
            d_daily += list(est.daily)
            d_ev += [ESTIMATED] * len(est)
            d_label += list(est.label)
            notes.append(
                f"demand where no camera watches: {len(est)} declared shops of {shops.name}"
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
    wanted = sess[wants_bay]
    if len(wanted):
        by_hour = np.bincount(hour[wants_bay], minlength=24).astype(float)
        profile = tuple(float(v) for v in by_hour / by_hour.sum())
        dw = dwell_s[wants_bay]
        dwell_h = float(dw[dw > 0].mean()) / 3600.0 if np.any(dw > 0) else DEFAULT_DWELL_H
        src = "simulated" if set(wanted["data_source_type"]) == {SIMULATED} else "observed"
        notes.append(f"hourly profile and mean dwell ({dwell_h * 60:.1f} min): {src} sessions")
    else:
        profile, dwell_h = TYPICAL_URBAN_PROFILE, DEFAULT_DWELL_H
        notes.append("hourly profile and dwell: assumed typical urban delivery day (estimated)")
    shares = demand.shares()
    notes.insert(
        0,
        "demand: "
        + ", ".join(f"{shares.get(k, 0.0):.0%} {k}" for k in (OBSERVED, SIMULATED, ESTIMATED))
        + f" ({demand.daily.sum():.1f} deliveries/day; bays: "
        + ", ".join(f"{evidence.count(k)} {k}" for k in (OBSERVED, SIMULATED, ESTIMATED))
        + ")",
    )
    if np.any(misuse > 0):
        notes.append(
            f"misuse: mean {float(np.mean(misuse[days > 0])):.0%} of bay time taken by"
            " other vehicles or overstays (reduces what a bay serves)"
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
    )


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


__all__ = ["ESTIMATED", "OBSERVED", "SIMULATED", "AreaDemand", "area_demand"]
