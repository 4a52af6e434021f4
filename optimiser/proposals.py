"""Proposals (add, remove, move, retime, enforce) as GeoJSON, each with its reason, expected
effect and evidence (observed | simulated | estimated: where the figures behind it come from).

Effects of the layout changes (add, remove, move) are incremental: the changes are
listed in the order they are applied (the ones that free the most kerb first, so that
every step keeps the budget), and each one's effect is the whole area's Erlang-B
served deliveries a day (demand assigned optimally to the bays) after it minus before
it, the earlier changes already made. They therefore add up exactly to the run's
total change (the summary's before -> after). A delivery not served double parks, so
the change in expected double parking is minus the change in served deliveries.
An ``enforce`` proposal is not part of that total: its effect is what the bay would
win back, in the proposed layout, with its misuse removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from optimiser.bay_length import NewBayLength
from optimiser.distances import Groups
from optimiser.erlang import served_per_day
from optimiser.inputs import Demand
from optimiser.placement import PlacementProblem, PlacementSolution, evaluate_layout
from optimiser.regimes import DAY_TYPES, DAYS_PER_WEEK
from optimiser.timeslots import TimeslotProblem, TimeslotResult

MOVE_RADIUS_M = 150.0  # a removal and an addition this close read as one move


@dataclass(frozen=True)
class Proposal:
    """One proposed change at a site (add, remove, move, retime or enforce) with its reason
    and effects: deliveries served and double parking a day, kerb metres freed, bays
    before and after.
    """

    action: str  # add | remove | move | retime | enforce
    site_id: str
    lonlat: tuple[float, float]
    reason: str
    # a day; add/remove/move: incremental, in the order listed (they sum to the run's
    # total); enforce: the bay's own gain with its misuse removed (not in the total)
    deliveries_served_delta: float
    double_parking_delta: float  # a day: minus deliveries_served_delta
    kerb_m_freed: float
    bays_before: int
    bays_after: int
    from_site_id: str | None = None
    from_lonlat: tuple[float, float] | None = None
    distance_m: float | None = None
    hours: str | None = None  # retime: the proposed regime's opening_hours
    hours_before: str | None = None
    evidence: str = "estimated"
    area_id: str = ""
    # add / move: kerb metres of each new bay, and how that length was chosen (evidence
    # and rule, ``optimiser.bay_length``)
    bay_length_m: float | None = None
    bay_length_basis: str | None = None
    bay_length_evidence: str | None = None


def site_evidence(problem: PlacementProblem, demand: Demand) -> list[str]:
    """The evidence behind each site's figures: the site's own (a watched bay) when the
    sites carry it, else the evidence with the most deliveries a day within its reach."""
    groups: Groups = problem.groups
    kinds = ("observed", "simulated", "estimated")
    per_group = np.zeros((len(groups.daily), len(kinds)))
    for i, g in enumerate(groups.of_point):
        if g >= 0:
            per_group[g, kinds.index(demand.evidence_of(i))] += float(demand.daily[i])
    per_site = np.zeros((len(problem.sites), len(kinds)))
    for g, r in enumerate(groups.reach):
        per_site[r] += per_group[g]
    own = problem.sites.evidence
    out = []
    for j in range(len(problem.sites)):
        if own and own[j] != "estimated":
            out.append(own[j])
        elif per_site[j].sum() > 0:
            out.append(kinds[int(np.argmax(per_site[j]))])
        else:
            out.append(own[j] if own else "estimated")
    return out


def placement_proposals(
    problem: PlacementProblem,
    before: PlacementSolution,
    after: PlacementSolution,
    evidence: list[str] | None = None,
    new_bay: NewBayLength | None = None,
    new_bay_of: Mapping[str, NewBayLength] | None = None,
) -> list[Proposal]:
    """Add, remove and move proposals from the layout change, then ``enforce`` proposals
    for kept bays whose misuse costs more than ``rules.enforce_min_gain`` deliveries a day
    (the served deliveries the bay would win back with its misuse removed, at its load).

    ``new_bay``: how the new bays' length was chosen, ``new_bay_of`` the same per
    candidate id where it differs by place; an add or a move states it in its reason
    and carries the site's ``bay_length_m``."""
    sites = problem.sites

    def chosen(j: int) -> NewBayLength | None:
        return (new_bay_of or {}).get(sites.ids[j], new_bay)

    def sized(j: int) -> dict[str, Any]:
        length = float(sites.bay_length_m[j])
        nb = chosen(j)
        if nb is None:
            return {"bay_length_m": round(length, 2)}
        return {
            "bay_length_m": round(length, 2),
            "bay_length_basis": nb.basis,
            "bay_length_evidence": nb.evidence,
        }

    def length_text(j: int) -> str:
        nb = chosen(j)
        basis = f" ({nb.basis}; {nb.evidence})" if nb is not None else ""
        return f"; each new bay {float(sites.bay_length_m[j]):g} m{basis}"

    ev = evidence or ["estimated"] * len(sites)
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
                    f"move {n} bay(s) {d:.0f} m: here {after.load[a]:.1f} deliveries/day would"
                    f" walk to it (the share of each stop's deliveries that walks that far,"
                    f" none at {walk:g} m), at the old place {before.load[i]:.1f}" + length_text(a)
                ),
                deliveries_served_delta=round(gain, 2),
                double_parking_delta=round(-gain, 2) + 0.0,
                kerb_m_freed=round(
                    float(-delta[i] * sites.bay_length_m[i] - n * sites.bay_length_m[a]), 1
                ),
                bays_before=int(sites.existing[a]),
                bays_after=int(after.bays[a]),
                evidence=ev[a],
                area_id=sites.area[a],
                **sized(a),
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
                    f"add {int(delta[a])} bay(s): {after.load[a]:.1f} deliveries/day would walk"
                    f" to them (the share of each stop's deliveries that walks that far, none"
                    f" at {walk:g} m)"
                    f" ({blocked:.1f}/day would still find them full)" + length_text(a)
                ),
                deliveries_served_delta=round(gain, 2),
                double_parking_delta=round(-gain, 2) + 0.0,
                kerb_m_freed=round(float(-delta[a] * sites.bay_length_m[a]), 1),
                bays_before=int(sites.existing[a]),
                bays_after=int(after.bays[a]),
                evidence=ev[a],
                area_id=sites.area[a],
                **sized(a),
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
                evidence=ev[i],
                area_id=sites.area[i],
            )
        )
    out = incremental_effects(problem, before, after, out)
    out += enforce_proposals(problem, after, ev)
    return out


def _touched(p: Proposal, index: Mapping[str, int]) -> list[int]:
    return [index[p.site_id]] + ([index[p.from_site_id]] if p.from_site_id else [])


def incremental_effects(
    problem: PlacementProblem,
    before: PlacementSolution,
    after: PlacementSolution,
    changes: list[Proposal],
) -> list[Proposal]:
    """The layout changes in the order they are applied (most kerb freed first: every
    partial layout then keeps the kerb and count budgets the final one keeps), each with
    its incremental effect: the area's served deliveries a day with it and the earlier
    ones applied minus without it. The effects telescope: they sum to ``after.served -
    before.served`` exactly (the last step is measured against ``after`` itself)."""
    if not changes:
        return changes
    index = {sid: j for j, sid in enumerate(problem.sites.ids)}
    ordered = sorted(changes, key=lambda p: -p.kerb_m_freed)
    layout = problem.sites.existing.copy()
    prev = before.served
    out = []
    for k, p in enumerate(ordered):
        touched = _touched(p, index)
        layout[touched] = after.bays[touched]
        value = after.served if k == len(ordered) - 1 else evaluate_layout(problem, layout).served
        gain = value - prev
        prev = value
        step = (
            f" [effect {gain:+.2f} deliveries/day: change {k + 1} of {len(ordered)}, applied"
            " after the ones listed before it; the changes' effects add up to the run's total]"
        )
        out.append(
            replace(
                p,
                reason=p.reason + step,
                deliveries_served_delta=round(gain, 2) + 0.0,
                double_parking_delta=round(-gain, 2) + 0.0,
            )
        )
    return out


def enforce_proposals(
    problem: PlacementProblem, after: PlacementSolution, evidence: list[str]
) -> list[Proposal]:
    """Bays kept whose misuse share m costs at least ``rules.enforce_min_gain`` served
    deliveries a day: served with m = 0 minus served now, at the bay's load."""
    sites = problem.sites
    if sites.misuse is None:
        return []
    out = []
    for j in np.flatnonzero((after.bays > 0) & (sites.misuse > 0)):
        k, lo, m = int(after.bays[j]), float(after.load[j]), float(sites.misuse[j])
        full = served_per_day(k, lo, problem.profile, problem.dwell_h)
        gain = full - float(after.served_erlang[j])
        if gain < problem.rules.enforce_min_gain:
            continue
        out.append(
            Proposal(
                action="enforce",
                site_id=sites.ids[j],
                lonlat=(float(sites.lonlat[j, 0]), float(sites.lonlat[j, 1])),
                reason=(
                    f"enforce: {m:.0%} of this bay's time is taken by vehicles that are not"
                    f" delivering or overstay; with it free, {gain:.1f} more of its"
                    f" {lo:.1f} deliveries/day would find a place"
                ),
                deliveries_served_delta=round(gain, 2),
                double_parking_delta=round(-gain, 2) + 0.0,
                kerb_m_freed=0.0,
                bays_before=int(sites.existing[j]),
                bays_after=int(after.bays[j]),
                evidence=evidence[j],
                area_id=sites.area[j],
            )
        )
    return out


def retime_proposals(
    problem: TimeslotProblem,
    result: TimeslotResult,
    lonlat: np.ndarray,
    evidence: list[str] | None = None,
    area: list[str] | None = None,
) -> list[Proposal]:
    """One ``retime`` per bay whose regime changes. Its effect is the zone's change in
    expected double parking shared by the places retimed there (an attribution)."""
    dp_before, dp_after = result.zone_double_parking(problem)
    changed = np.flatnonzero(result.choice > 0)
    zone_places = {
        int(c): float(problem.places[changed][problem.zone_of[changed] == c].sum())
        for c in np.unique(problem.zone_of[changed])
    }
    w = np.asarray(DAYS_PER_WEEK) / sum(DAYS_PER_WEEK)
    out = []
    for b in changed:
        old = problem.options[b][0]
        new = problem.options[b][int(result.choice[b])]
        zone = int(problem.zone_of[b])
        share = float(problem.places[b]) / zone_places[zone]
        dp_delta = share * float(dp_after[zone] - dp_before[zone])
        # Delivery-only hours a day before minus after (weekly mean): hours open to all.
        freed = float((_mask(old.hours).sum(axis=1) - result.delivery[b].sum(axis=1)) @ w)
        worst = float(result.blocking_after[zone].max())
        out.append(
            Proposal(
                action="retime",
                site_id=problem.bay_ids[b],
                lonlat=(float(lonlat[b, 0]), float(lonlat[b, 1])),
                hours=new.hours,
                hours_before=old.hours,
                reason=(
                    f"{old.name} ({old.hours}) -> {new.name} ({new.hours}):"
                    f" {signed(freed, 'h a day more open to all', 'h a day fewer open to all')}"
                    " (weekly mean); in zone"
                    f" {problem.zone_ids[zone]} a delivery finds no free place with"
                    f" probability <= {worst:.2f} in every hour of every day type"
                    f" ({', '.join(DAY_TYPES)})"
                ),
                deliveries_served_delta=round(-dp_delta, 2) + 0.0,
                double_parking_delta=round(dp_delta, 2) + 0.0,
                kerb_m_freed=0.0,
                bays_before=int(problem.places[b]),
                bays_after=int(problem.places[b]),
                evidence=(evidence or ["estimated"] * len(problem.bay_ids))[b],
                area_id=(area or [""] * len(problem.bay_ids))[b],
            )
        )
    return out


def signed(value: float, gain: str, loss: str, fmt: str = ".1f") -> str:
    """A change worded by its sign: ``120 m freed`` or ``120 m more kerb used``, never a
    negative number before words that say the opposite."""
    shown = format(abs(value), fmt)
    if float(shown) == 0:
        return f"0 {gain}"
    return f"{shown} {gain if value > 0 else loss}"


def _mask(hours: str) -> np.ndarray:
    from optimiser.regimes import hour_mask

    return hour_mask(hours)


def effect(p: Proposal) -> dict[str, float]:
    """Expected effect a day: deliveries served (+ more), double parking avoided (+ fewer)."""
    return {
        "deliveries_served_per_day": p.deliveries_served_delta,
        "double_parking_avoided_per_day": round(-p.double_parking_delta, 2) + 0.0,
        "kerb_m_freed": p.kerb_m_freed,
    }


def length_details(p: Proposal) -> dict[str, Any]:
    """An add's or a move's new bay length (m), with how and from what it was chosen."""
    if p.bay_length_m is None:
        return {}
    out: dict[str, Any] = {"bay_length_m": p.bay_length_m}
    if p.bay_length_basis is not None:
        out.update(bay_length_basis=p.bay_length_basis, bay_length_evidence=p.bay_length_evidence)
    return out


def geometry(p: Proposal) -> dict[str, Any]:
    """A move is a LineString from the old place to the new; anything else a Point."""
    if p.action == "move" and p.from_lonlat is not None:
        return {"type": "LineString", "coordinates": [list(p.from_lonlat), list(p.lonlat)]}
    return {"type": "Point", "coordinates": list(p.lonlat)}


def to_geojson(proposals: list[Proposal], simulated: bool) -> dict[str, Any]:
    """The proposals as a GeoJSON FeatureCollection (WGS84), marked simulated when they are."""
    feats = []
    for p in proposals:
        geom = geometry(p)
        props = {
            "kind": p.action,
            "action": p.action,
            "site_id": p.site_id,
            "area_id": p.area_id,
            "reason": p.reason,
            "effect": effect(p),
            "evidence": p.evidence,
            "bays_before": p.bays_before,
            "bays_after": p.bays_after,
            "demand_simulated": simulated,
        }
        if p.from_site_id is not None:
            props.update(from_site_id=p.from_site_id, distance_m=p.distance_m)
        if p.hours is not None:
            props.update(delivery_hours=p.hours, delivery_hours_before=p.hours_before)
        props.update(length_details(p))
        feats.append({"type": "Feature", "geometry": geom, "properties": props})
    return {"type": "FeatureCollection", "features": feats}


def placement_summary(
    problem: PlacementProblem,
    before: PlacementSolution,
    after: PlacementSolution,
    proposals: list[Proposal],
    simulated: bool,
) -> str:
    """A short text summary of a placement's proposals and effects (simulated data said so)."""
    counts = {
        a: sum(p.action == a for p in proposals) for a in ("add", "remove", "move", "enforce")
    }
    kerb_before = float((problem.sites.existing * problem.sites.bay_length_m).sum())
    kerb_after = float((after.bays * problem.sites.bay_length_m).sum())
    lines = [
        f"placement: {counts['add']} add, {counts['remove']} remove, {counts['move']} move,"
        f" {counts['enforce']} enforce; {int(problem.sites.fixed.sum())} bays kept as they are"
        " (permanent or fixed)",
        f"  bays: {int(problem.sites.existing.sum())} -> {int(after.bays.sum())};"
        f" kerb metres of delivery bays: {kerb_before:.0f} -> {kerb_after:.0f}"
        f" ({signed(kerb_before - kerb_after, 'm freed', 'm more kerb used', '.0f')})",
        f"  demand: {problem.total_daily:.1f} deliveries/day"
        f" ({problem.groups.unreachable_daily:.1f} with no kerb site within"
        f" {problem.rules.walk_limit_m:g} m)" + (" [SIMULATED weights]" if simulated else ""),
        f"  served (Erlang-B): {before.served:.1f} -> {after.served:.1f} deliveries/day",
        f"  expected double parking: {before.double_parking:.1f} -> {after.double_parking:.1f}"
        " deliveries/day",
        f"  objective (served - w x double parking - cost of changes) {after.objective:.2f},"
        f" bound {after.bound:.2f}: gap {after.gap:.2%} (|bound - objective| / |objective|),"
        f" {after.abs_gap:.2f} deliveries/day absolute; {after.status} by {after.solver}"
        f" in {after.wall_s:.1f} s",
        f"  linearisation: secants under Erlang-B by at most {after.linearisation_error:.3f}"
        " deliveries/day per site",
    ]
    return "\n".join(lines)
