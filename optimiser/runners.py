"""Run a request end to end: load, build, solve, explain (``run_placement``, ``run_timeslots``).

Results are pydantic models. ``write_outputs`` writes the proposals GeoJSON, the
summary and the map picture into a folder (for the CLI); ``optimiser.publish`` stores
them in the database for planners (the CLI with ``--db``, and the API's jobs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from optimiser.areas import solve_by_area
from optimiser.distances import reach_network, reach_straight
from optimiser.errors import OptimiserInputError
from optimiser.greedy import greedy_layout
from optimiser.inputs import IntArray, Rules, Sites
from optimiser.placement import SolveOptions, optimise, solve
from optimiser.problem import build_problem
from optimiser.proposals import (
    Proposal,
    placement_proposals,
    placement_summary,
    retime_proposals,
    signed,
    site_evidence,
    to_geojson,
)
from optimiser.regimes import DAY_TYPES, PERMANENT, Regime, catalogue
from optimiser.requests import (
    PlacementRequest,
    PlacementResult,
    TimeslotRequest,
    TimeslotResultModel,
)
from optimiser.sources import ESTIMATED_DAY_FACTOR, Loaded, load
from optimiser.timeslots import TimeslotProblem, solve_timeslots

Progress = Callable[[str], None]


def _noop(_: str) -> None:
    return None


class Run:
    """A finished run: its result model plus what the map and the database need."""

    def __init__(self, result: Any, loaded: Loaded, proposals: list[Proposal], draw: Any) -> None:
        self.result = result
        self.loaded = loaded
        self.proposals = proposals
        self.draw = draw  # (path) -> None: the map picture


def _check_fixed(sites: Sites, rules: Rules) -> None:
    """Refuse ``fixed_bay_ids`` naming no bay in place (a typo must not be ignored)."""
    bays = {sites.ids[j] for j in np.flatnonzero(sites.existing > 0)}
    unknown = sorted(rules.fixed_bay_ids - bays)
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise OptimiserInputError(
            f"fixed_bay_ids: no bay in place with id {shown}{more} ({len(bays)} bays in place)"
        )


def placement(request: PlacementRequest, progress: Progress = _noop) -> Run:
    """Load, solve and explain a placement request (see ``optimiser.placement``)."""
    src = load(request.sources, request.rules, request.profile, request.dwell_h, progress)
    _check_fixed(src.sites, request.rules)
    progress(f"walking reach ({'street graph' if src.graph else 'straight line'})")
    problem = build_problem(
        src.sites,
        src.demand,
        src.profile,
        src.dwell_h,
        request.budget,
        request.rules,
        request.costs,
        graph=src.graph,  # type: ignore[arg-type]
    )
    progress(
        f"{len(src.sites)} sites, {len(src.demand)} demand points -> "
        f"{len(problem.groups.daily)} groups with identical reach"
    )
    opts = SolveOptions(
        time_limit_s=request.time_limit_s,
        num_workers=request.num_workers,
        seed=request.seed,
        relative_gap=request.relative_gap,
        solver=request.solver,
    )
    progress("evaluating the bays in place")
    # With the bays fixed the model is a linear programme: GLOP evaluates it exactly.
    before = solve(problem, replace(opts, solver="glop"), fix_bays=problem.sites.existing)
    if request.split_by_area:
        labels = problem.sites.area
        index = {a: i for i, a in enumerate(dict.fromkeys(labels))}
        area_of = np.array([index[a] for a in labels], dtype=np.int64)
        after = solve_by_area(problem, area_of, opts, progress=progress)
    else:
        progress("greedy warm start")
        after = optimise(problem, opts, hint=greedy_layout(problem), progress=progress)
    evidence = site_evidence(problem, src.demand)
    props = placement_proposals(
        problem, before, after, evidence, new_bay=src.new_bay, new_bay_of=src.new_bay_by_site
    )
    simulated = bool(src.demand.simulated)
    shares = src.demand.shares()
    summary = placement_summary(problem, before, after, props, simulated) + evidence_line(src)
    kerb = problem.sites.bay_length_m
    regimes = [problem.sites.regime_of(j) for j in range(len(problem.sites))]
    result = PlacementResult(
        status=after.status,
        solver=after.solver,
        objective=after.objective,
        bound=after.bound,
        gap=after.gap,
        abs_gap=after.abs_gap,
        wall_s=after.wall_s,
        served_before=before.served,
        served_after=after.served,
        double_parking_before=before.double_parking,
        double_parking_after=after.double_parking,
        bays_before=int(problem.sites.existing.sum()),
        bays_after=int(after.bays.sum()),
        kerb_m_before=float((problem.sites.existing * kerb).sum()),
        kerb_m_after=float((after.bays * kerb).sum()),
        permanent_bays=sum(r == PERMANENT for r in regimes),
        demand_simulated=simulated,
        evidence_shares=shares,
        proposals=to_geojson(props, simulated),
        summary=summary,
        notes=src.notes,
    )

    return Run(result, src, props, _drawer(src, src.title, problem.sites, after.bays, props))


def _drawer(
    src: Loaded, title: str, sites: Sites, bays: IntArray, props: list[Proposal]
) -> Callable[[Path], None]:
    """The map picture of a run: ``bays`` at ``sites`` with the proposals, written to a path."""

    def draw(path: Path) -> None:
        from optimiser.plot import proposal_map

        proposal_map(
            path,
            title,
            sites,
            bays,
            src.demand,
            props,
            src.streets_xy,
            credits="; ".join(src.notes[:1]),
        )

    return draw


def _zones(src: Loaded, zone_by: str, bay_idx: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    sites = src.sites
    if zone_by == "bay":
        keys = [sites.ids[j] for j in bay_idx]
    elif zone_by == "area":
        keys = [sites.area[j] for j in bay_idx]
    else:
        keys = [
            (src.street_of[j] if j < len(src.street_of) else "") or sites.ids[j] for j in bay_idx
        ]
    names = tuple(dict.fromkeys(keys))
    index = {k: i for i, k in enumerate(names)}
    return np.array([index[k] for k in keys], dtype=np.int64), names


def timeslots(request: TimeslotRequest, progress: Progress = _noop) -> Run:
    """Choose each bay's regime among those the city allows (``optimiser.timeslots``)."""
    src = load(
        request.sources,
        request.rules,
        request.profile,
        request.dwell_h,
        progress,
        candidates=False,
    )
    sites = src.sites
    _check_fixed(sites, request.rules)
    bay_idx = np.flatnonzero(sites.existing > 0)
    if len(bay_idx) == 0:
        raise OptimiserInputError("timeslots: no existing bays to schedule")
    zone_of, zone_ids = _zones(src, request.zone_by, bay_idx)
    allowed = catalogue(request.regimes)
    hours_now = _current_hours(src, bay_idx)
    options: list[tuple[Regime, ...]] = []
    for b, j in enumerate(bay_idx):
        current = Regime(sites.regime_of(int(j)), hours_now[b])
        locked = sites.regime_of(int(j)) == PERMANENT and not request.rules.allow_permanent_changes
        locked |= sites.ids[j] in request.rules.fixed_bay_ids
        others = () if locked else tuple(r for r in allowed if r.hours != current.hours)
        options.append((current, *others))
    arrivals = _zone_arrivals(src, request, bay_idx, zone_of, len(zone_ids))
    problem = TimeslotProblem(
        bay_ids=tuple(sites.ids[j] for j in bay_idx),
        places=sites.existing[bay_idx],
        zone_of=zone_of,
        zone_ids=zone_ids,
        arrivals=arrivals,
        dwell_h=src.dwell_h,
        options=tuple(options),
        blocking_cap=request.blocking_cap,
        release_value=request.release_value,
        double_parking_weight=request.double_parking_weight,
        change_cost=request.change_cost,
    )
    progress(f"time-slot model: {len(bay_idx)} bays in {len(zone_ids)} zones (CP-SAT)")
    res = solve_timeslots(
        problem,
        time_limit_s=request.time_limit_s,
        num_workers=request.num_workers,
        seed=request.seed,
        deterministic=request.deterministic,
    )
    evidence = [sites.evidence[j] if sites.evidence else "estimated" for j in bay_idx]
    if not sites.evidence and src.demand.simulated:
        evidence = ["simulated"] * len(bay_idx)
    props = retime_proposals(
        problem, res, sites.lonlat[bay_idx], evidence, [sites.area[j] for j in bay_idx]
    )
    simulated = bool(src.demand.simulated)
    locked_n = sum(len(o) == 1 for o in options)
    summary = "\n".join(
        [
            f"timeslots: {len(props)} of {len(bay_idx)} bays change regime"
            f" ({locked_n} kept as they are: permanent or fixed); regimes allowed: "
            + ", ".join(f"{r.name} ({r.hours})" for r in allowed),
            "  place-hours: "
            + signed(res.place_hours_released, "a day more open to all", "a day fewer open to all")
            + " (weekly mean)",
            f"  expected double parking: {res.double_parking_before:.2f} -> "
            f"{res.double_parking_after:.2f} deliveries/day (weekly mean)"
            + (" [SIMULATED demand]" if simulated else ""),
            f"  blocking cap {request.blocking_cap:.0%}: met in every zone-hour"
            + (
                f" except {len(res.unreachable_cap)} where even the most delivery hours miss it"
                if res.unreachable_cap
                else ""
            ),
            f"  objective {res.objective:.2f}, bound {res.bound:.2f}, gap {res.gap:.2%},"
            f" {res.status} in {res.wall_s:.1f} s",
        ]
    ) + evidence_line(src, arrivals)
    result = TimeslotResultModel(
        status=res.status,
        objective=res.objective,
        bound=res.bound,
        gap=res.gap,
        wall_s=res.wall_s,
        place_hours_released=res.place_hours_released,
        double_parking_before=res.double_parking_before,
        double_parking_after=res.double_parking_after,
        unreachable_cap=list(res.unreachable_cap),
        demand_simulated=simulated,
        evidence_shares=src.demand.shares(),
        proposals=to_geojson(props, simulated),
        summary=summary,
        notes=src.notes,
    )

    title = src.title.replace("delivery-bay proposals", "delivery regime of each bay")
    return Run(result, src, props, _drawer(src, title, sites, sites.existing, props))


def evidence_line(src: Loaded, arrivals: np.ndarray | None = None) -> str:
    """The summary's line on what the demand rests on: observed, simulated and estimated
    shares of the deliveries a day and, given the time-slot model's ``arrivals``
    (zones, 3, 24), the same shares of each day type's deliveries where sessions were
    read (counted in watched hours / simulated / the rest, estimated)."""
    shares = src.demand.shares()
    line = "\n  evidence: " + ", ".join(
        f"{shares.get(k, 0.0):.0%} {k}" for k in ("observed", "simulated", "estimated")
    )
    if arrivals is not None and src.observed_per_day_type:
        total = arrivals.sum(axis=(0, 2))
        parts = []
        for d, name in enumerate(DAY_TYPES):
            if total[d] <= 0:
                parts.append(f"{name} -")
                continue
            obs = src.observed_per_day_type[d] / total[d]
            sim = src.simulated_per_day_type[d] / total[d]
            parts.append(f"{name} {obs:.0%}/{sim:.0%}/{max(0.0, 1.0 - obs - sim):.0%}")
        line += "; time-slot demand by day type (observed/simulated/estimated): " + ", ".join(parts)
    return line


def _current_hours(src: Loaded, bay_idx: np.ndarray) -> list[str]:
    """Each bay's hours now: its regime's (permanent 24/7, periodic Paris hours)."""
    from optimiser.regimes import ALWAYS, PARIS_PERIODIC

    return [ALWAYS if src.sites.regime_of(int(j)) == PERMANENT else PARIS_PERIODIC for j in bay_idx]


def _zone_arrivals(
    src: Loaded, request: TimeslotRequest, bay_idx: np.ndarray, zone_of: np.ndarray, n_zones: int
) -> np.ndarray:
    """(zones, 3, 24) deliveries an hour: each bay's arrivals when sessions were read
    (watched hours counted, the others estimated: ``optimiser.observed``), plus every
    other demand point's deliveries at its nearest bay in reach, with the hourly profile
    and ``ESTIMATED_DAY_FACTOR`` per day type."""
    sites = src.sites
    out = np.zeros((n_zones, 3, 24))
    points = np.arange(len(src.demand))
    if src.arrivals:
        for b, j in enumerate(bay_idx):
            arr = src.arrivals.get(str(sites.ids[j]))
            if arr is not None:
                out[zone_of[b]] += arr
        # The bays' own demand points ("bay-<id>", "bay-<id>-unwatched") are in their
        # arrivals; the rest (declared shops where no camera watches, double parking in
        # lane zones) goes to its nearest bay, estimated: never 0 for an unwatched bay.
        points = np.array(
            [i for i, d in enumerate(src.demand.ids) if not d.startswith("bay-")], dtype=np.int64
        )
        if not len(points):
            return out
    xy = sites.xy[bay_idx]
    pxy = src.demand.xy[points]
    limit = request.rules.walk_limit_m
    if src.graph is not None:
        reach = reach_network(pxy, xy, limit, src.graph)  # type: ignore[arg-type]
    else:
        reach = reach_straight(pxy, xy, limit)
    daily = np.zeros(n_zones)
    for i, r in enumerate(reach):
        if len(r):
            near = r[np.argmin(np.hypot(*(xy[r] - pxy[i]).T))]
            daily[zone_of[near]] += src.demand.daily[points[i]]
    prof = np.asarray(src.profile)
    return out + np.stack([np.outer(daily * f, prof) for f in ESTIMATED_DAY_FACTOR], axis=1)


def write_outputs(run: Run, kind: str, out: Path) -> dict[str, str]:
    """Write ``{kind}_proposals.geojson``, ``{kind}_summary.txt`` and ``{kind}_map.png``."""
    import json

    if out.exists() and not out.is_dir():
        raise OptimiserInputError(f"--out {out}: names a file; give a folder for the outputs")
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "proposals": out / f"{kind}_proposals.geojson",
        "summary": out / f"{kind}_summary.txt",
        "map": out / f"{kind}_map.png",
    }
    files["proposals"].write_text(json.dumps(run.result.proposals, indent=1))
    files["summary"].write_text(
        run.result.summary + "\n" + "\n".join(run.loaded.notes) + "\n", encoding="utf-8"
    )
    run.draw(files["map"])
    return {k: str(v) for k, v in files.items()}


def run_placement(request: PlacementRequest, progress: Progress = _noop) -> PlacementResult:
    """Run a placement request and return its result (``progress`` gets text updates)."""
    return placement(request, progress).result


def run_timeslots(request: TimeslotRequest, progress: Progress = _noop) -> TimeslotResultModel:
    """Run a time-slot request and return its result (``progress`` gets text updates)."""
    return timeslots(request, progress).result
