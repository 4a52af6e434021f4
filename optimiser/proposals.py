"""Proposals (add, remove, move, retime) as GeoJSON, each with its reason and expected effect.

Effects per proposal are the Erlang-B served deliveries at the sites it touches,
before (the bays in place, with the demand assigned optimally) and after (the
proposed layout); a delivery not served double parks, so the change in expected
double parking is minus the change in served deliveries. Neighbouring bays also
shift load, so the per-proposal figures are attributions: the summary's totals are
the exact whole-area figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from optimiser.placement import PlacementProblem, PlacementSolution
from optimiser.timeslots import TimeslotProblem, TimeslotResult

MOVE_RADIUS_M = 150.0  # a removal and an addition this close read as one move


@dataclass(frozen=True)
class Proposal:
    action: str  # add | remove | move | retime
    site_id: str
    lonlat: tuple[float, float]
    reason: str
    deliveries_served_delta: float  # a day
    double_parking_delta: float  # a day
    kerb_m_freed: float
    bays_before: int
    bays_after: int
    from_site_id: str | None = None
    from_lonlat: tuple[float, float] | None = None
    distance_m: float | None = None
    windows: tuple[tuple[int, int], ...] | None = None


def placement_proposals(
    problem: PlacementProblem, before: PlacementSolution, after: PlacementSolution
) -> list[Proposal]:
    sites = problem.sites
    delta = after.bays - sites.existing
    walk = problem.rules.walk_limit_m
    adds = [int(j) for j in np.flatnonzero(delta > 0)]
    removes = [int(j) for j in np.flatnonzero(delta < 0)]
    # Pair each removal with the nearest unpaired addition within the move radius.
    pairs: list[tuple[int, int, float]] = []
    free_adds = set(adds)
    for i in sorted(removes, key=lambda r: before.served_erlang[r]):
        if not free_adds:
            break
        cand = min(free_adds, key=lambda a: float(np.hypot(*(sites.xy[a] - sites.xy[i]))))
        d = float(np.hypot(*(sites.xy[cand] - sites.xy[i])))
        if d <= MOVE_RADIUS_M and delta[cand] == -delta[i]:
            pairs.append((i, cand, d))
            free_adds.discard(cand)
    paired_r = {i for i, _, _ in pairs}
    out: list[Proposal] = []

    def ll(j: int) -> tuple[float, float]:
        return (float(sites.lonlat[j, 0]), float(sites.lonlat[j, 1]))

    for i, a, d in pairs:
        gain = float(after.served_erlang[a] - before.served_erlang[i])
        n = int(delta[a])
        out.append(
            Proposal(
                action="move",
                site_id=sites.ids[a],
                lonlat=ll(a),
                from_site_id=sites.ids[i],
                from_lonlat=ll(i),
                distance_m=round(d, 1),
                reason=(
                    f"move {n} bay(s) {d:.0f} m: here {after.load[a]:.1f} deliveries/day are within"
                    f" {walk:g} m walk, at the old place {before.load[i]:.1f}"
                ),
                deliveries_served_delta=round(gain, 2),
                double_parking_delta=round(-gain, 2) + 0.0,
                kerb_m_freed=round(
                    float(-delta[i] * sites.bay_length_m[i] - n * sites.bay_length_m[a]), 1
                ),
                bays_before=int(sites.existing[a]),
                bays_after=int(after.bays[a]),
            )
        )
    for a in sorted(free_adds):
        gain = float(after.served_erlang[a] - before.served_erlang[a])
        blocked = float(after.load[a] - after.served_erlang[a])
        out.append(
            Proposal(
                action="add",
                site_id=sites.ids[a],
                lonlat=ll(a),
                reason=(
                    f"add {int(delta[a])} bay(s): {after.load[a]:.1f} deliveries/day within"
                    f" {walk:g} m walk would use them"
                    f" ({blocked:.1f}/day would still find them full)"
                ),
                deliveries_served_delta=round(gain, 2),
                double_parking_delta=round(-gain, 2) + 0.0,
                kerb_m_freed=round(float(-delta[a] * sites.bay_length_m[a]), 1),
                bays_before=int(sites.existing[a]),
                bays_after=int(after.bays[a]),
            )
        )
    for i in removes:
        if i in paired_r:
            continue
        gain = float(after.served_erlang[i] - before.served_erlang[i])
        out.append(
            Proposal(
                action="remove",
                site_id=sites.ids[i],
                lonlat=ll(i),
                reason=(
                    f"remove {int(-delta[i])} bay(s): no known demand within {walk:g} m walk;"
                    " the kerb goes back to other uses"
                    if before.load[i] < 0.05
                    else f"remove {int(-delta[i])} bay(s): {before.served_erlang[i]:.1f}"
                    " deliveries/day used it; the bays in reach elsewhere absorb most of"
                    " them and the kerb goes back to other uses"
                ),
                deliveries_served_delta=round(gain, 2),
                double_parking_delta=round(-gain, 2) + 0.0,
                kerb_m_freed=round(float(-delta[i] * sites.bay_length_m[i]), 1),
                bays_before=int(sites.existing[i]),
                bays_after=int(after.bays[i]),
            )
        )
    return out


def retime_proposals(
    problem: TimeslotProblem, result: TimeslotResult, lonlat: np.ndarray
) -> list[Proposal]:
    out = []
    for b, wins in enumerate(result.windows):
        if wins == ((0, 24),):
            continue
        freed_h = int((~result.delivery[b]).sum())
        text = ", ".join(f"{s:02d}:00-{e:02d}:00" for s, e in wins) or "never"
        zone = int(problem.zone_of[b])
        worst = float(result.blocking_after[zone].max())
        out.append(
            Proposal(
                action="retime",
                site_id=problem.bay_ids[b],
                lonlat=(float(lonlat[b, 0]), float(lonlat[b, 1])),
                windows=wins,
                reason=(
                    f"delivery-only {text}, another use otherwise: {freed_h} h a day given back;"
                    f" in zone {problem.zone_ids[zone]} a delivery finds no free bay with"
                    f" probability <= {worst:.2f} in every hour"
                ),
                deliveries_served_delta=0.0,
                double_parking_delta=0.0,
                kerb_m_freed=0.0,
                bays_before=int(problem.places[b]),
                bays_after=int(problem.places[b]),
            )
        )
    return out


def to_geojson(proposals: list[Proposal], simulated: bool) -> dict[str, Any]:
    feats = []
    for p in proposals:
        if p.action == "move" and p.from_lonlat is not None:
            geom: dict[str, Any] = {
                "type": "LineString",
                "coordinates": [list(p.from_lonlat), list(p.lonlat)],
            }
        else:
            geom = {"type": "Point", "coordinates": list(p.lonlat)}
        props = {
            "action": p.action,
            "site_id": p.site_id,
            "reason": p.reason,
            "expected_effect": {
                "deliveries_served_per_day": p.deliveries_served_delta,
                "double_parking_per_day": p.double_parking_delta,
                "kerb_m_freed": p.kerb_m_freed,
            },
            "bays_before": p.bays_before,
            "bays_after": p.bays_after,
            "demand_simulated": simulated,
        }
        if p.from_site_id is not None:
            props.update(from_site_id=p.from_site_id, distance_m=p.distance_m)
        if p.windows is not None:
            props["delivery_windows"] = [f"{s:02d}:00-{e:02d}:00" for s, e in p.windows]
        feats.append({"type": "Feature", "geometry": geom, "properties": props})
    return {"type": "FeatureCollection", "features": feats}


def placement_summary(
    problem: PlacementProblem,
    before: PlacementSolution,
    after: PlacementSolution,
    proposals: list[Proposal],
    simulated: bool,
) -> str:
    counts = {a: sum(p.action == a for p in proposals) for a in ("add", "remove", "move")}
    kerb_before = float((problem.sites.existing * problem.sites.bay_length_m).sum())
    kerb_after = float((after.bays * problem.sites.bay_length_m).sum())
    lines = [
        f"placement: {counts['add']} add, {counts['remove']} remove, {counts['move']} move",
        f"  bays: {int(problem.sites.existing.sum())} -> {int(after.bays.sum())};"
        f" kerb metres of delivery bays: {kerb_before:.0f} -> {kerb_after:.0f}"
        f" ({kerb_before - kerb_after:+.0f} m freed)",
        f"  demand: {problem.total_daily:.1f} deliveries/day"
        f" ({problem.groups.unreachable_daily:.1f} with no kerb site within"
        f" {problem.rules.walk_limit_m:g} m)" + (" [SIMULATED weights]" if simulated else ""),
        f"  served (Erlang-B): {before.served:.1f} -> {after.served:.1f} deliveries/day",
        f"  expected double parking: {before.double_parking:.1f} -> {after.double_parking:.1f}"
        " deliveries/day",
        f"  objective {after.objective:.2f}, bound {after.bound:.2f}, gap {after.gap:.2%}"
        f" ({after.abs_gap:.2f} deliveries/day), {after.status} by {after.solver}"
        f" in {after.wall_s:.1f} s",
        f"  linearisation: secants under Erlang-B by at most {after.linearisation_error:.3f}"
        " deliveries/day per site",
    ]
    return "\n".join(lines)
