"""Large cities: solve area by area, stitch, and bound the whole honestly.

Method (for a budget on bays added only, the city-scale case):

1. A greedy layout of the whole city shares the bay budget out among areas
   (each area gets the bays the greedy put there).
2. Each area is solved on its own (LP bound, greedy and rounded layouts, SCIP for the
   time left). A demand group whose walking reach crosses an area border is split
   between the areas in proportion to the sites it reaches in each, so the stitched
   layout is feasible for the whole city and its objective is the sum of the areas'
   (a lower bound on that layout's value: the split only restricts the assignment).
3. The bound, Lagrangian: price the bay budget at mu (the greedy's last marginal
   gain, an estimate of its shadow price) instead of enforcing it, and price the
   demand a border group shares between m areas at pi_g = BORDER_PRICE x (1 + w) x
   (m - 1) / m per delivery sent, every area then seeing the group's whole demand.
   The city model falls apart into areas, each an LP relaxation V_a(mu, pi), and
   mu * B + sum_g pi_g d_g + sum_a V_a(mu, pi) bounds it for any mu, pi >= 0.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

import numpy as np

from optimiser.distances import Groups
from optimiser.errors import OptimiserInputError
from optimiser.greedy import greedy_layout
from optimiser.inputs import Budget, IntArray, Sites
from optimiser.placement import (
    PlacementProblem,
    PlacementSolution,
    SolveOptions,
    evaluate_layout,
    layout_feasible,
    lp_relaxation,
    objective_offset,
    round_layout,
    solve,
)

# Multiplier on border demand, as a share of a delivery's value. Any value >= 0 gives a
# valid bound; on the benchmark arrondissement split in 4 the bound was 236 at 0,
# 186 at 0.5, 172 at 0.8 and 184 at 1.0 (objective units), hence 0.8.
BORDER_PRICE = 0.8


def grid_areas(sites: Sites, cell_m: float) -> IntArray:
    """Area index of each site on a square grid of ``cell_m`` (arrondissement-sized cells)."""
    cell = np.floor((sites.xy - sites.xy.min(axis=0)) / cell_m).astype(np.int64)
    _, idx = np.unique(cell[:, 0] * 1_000_003 + cell[:, 1], return_inverse=True)
    return idx.astype(np.int64)


def _subset(sites: Sites, idx: IntArray) -> Sites:
    return Sites(
        ids=tuple(sites.ids[i] for i in idx),
        xy=sites.xy[idx],
        lonlat=sites.lonlat[idx],
        existing=sites.existing[idx],
        max_bays=sites.max_bays[idx],
        bay_length_m=sites.bay_length_m[idx],
        fixed=sites.fixed[idx],
        area=tuple(sites.area[i] for i in idx),
        label=tuple(sites.label[i] for i in idx),
        lines=tuple(sites.lines[i] for i in idx) if sites.lines else (),
    )


def _area_problem(
    problem: PlacementProblem,
    idx: IntArray,
    budget: int,
    full_border: bool,
    areas_touched: IntArray | None = None,
) -> PlacementProblem | None:
    """One area's problem. ``full_border``: border groups keep all their demand here (a
    relaxation), priced at BORDER_PRICE x (1 + w) x (m - 1) / m for a group touching m
    areas (a Lagrangian multiplier on the shared demand, which the bound adds back)."""
    local = -np.ones(len(problem.sites), dtype=np.int64)
    local[idx] = np.arange(len(idx))
    daily, reach, price = [], [], []
    value = 1.0 + problem.costs.double_parking_weight
    for g, (d, r) in enumerate(zip(problem.groups.daily, problem.groups.reach, strict=True)):
        inside = local[r]
        inside = inside[inside >= 0]
        if len(inside) == 0:
            continue
        share = 1.0 if full_border else len(inside) / len(r)
        daily.append(d * share)
        reach.append(np.sort(inside))
        m = int(areas_touched[g]) if areas_touched is not None else 1
        price.append(BORDER_PRICE * value * (m - 1) / m if full_border else 0.0)
    if not daily:
        return None
    groups = Groups(np.asarray(daily), tuple(reach), np.zeros(0, dtype=np.int64), 0.0)
    return PlacementProblem(
        sites=_subset(problem.sites, idx),
        groups=groups,
        profile=problem.profile,
        dwell_h=problem.dwell_h,
        budget=Budget(max_added=budget),
        rules=problem.rules,
        costs=problem.costs,
        total_daily=0.0,  # the constant -w * demand is added once, for the whole city
        group_price=np.asarray(price) if full_border and areas_touched is not None else None,
    )


def _solve_area(
    job: tuple[PlacementProblem, PlacementProblem, IntArray, float, SolveOptions, float],
) -> tuple[float, PlacementSolution]:
    """One area: its Lagrangian LP value and its best layout (runs in a worker process)."""
    relaxed, primal, greedy, mu, options, deadline_s = job
    t0 = time.perf_counter()
    # Lagrangian bound: the budget priced at mu instead of enforced, border demand
    # counted in full; any mu >= 0 gives a valid bound, mu near the shadow price a tight one.
    priced = replace(
        relaxed,
        budget=Budget(),
        costs=relaxed.costs.model_copy(update={"add_cost": relaxed.costs.add_cost + mu}),
    )
    v_a, frac = lp_relaxation(priced)
    # Primal: the city greedy's layout here, this area's own greedy layout and the
    # LP-rounded one (within this area's budget share), each evaluated exactly, then
    # SCIP from the best for the time this area has left.
    layouts = [greedy, greedy_layout(primal, 0.4)]
    rounded = round_layout(primal, np.minimum(frac, primal.sites.max_bays))
    if rounded is not None:
        layouts.append(rounded)
    best = None
    for lay in layouts:
        if layout_feasible(primal, lay):
            sol = evaluate_layout(primal, lay)
            if best is None or sol.objective > best.objective:
                best = sol
    left = deadline_s - (time.perf_counter() - t0)
    if left > 1.0:
        try:
            sol = solve(
                primal,
                replace(options, time_limit_s=left),
                hint=None if best is None else best.bays,
            )
            if best is None or sol.objective > best.objective:
                best = sol
        except OptimiserInputError:
            pass
    if best is None:
        raise OptimiserInputError("areas: no layout for an area; raise the time limit")
    return v_a, best


def solve_by_area(
    problem: PlacementProblem,
    area_of: IntArray,
    options: SolveOptions,
    progress: Callable[[str], None] | None = None,
    processes: int | None = None,
) -> PlacementSolution:
    """Split, solve (areas in parallel, one process per core), stitch, bound."""
    b = problem.budget
    if b.max_added is None or any(
        v is not None for v in (b.max_removed, b.max_changes, b.max_new_kerb_m, b.max_total_kerb_m)
    ):
        raise OptimiserInputError(
            "areas: the split-and-stitch method handles a budget on bays added only"
        )
    t0 = time.perf_counter()
    say = progress or (lambda _: None)
    say("greedy layout of the whole city (budget shares, bay price)")
    price: list[float] = [0.0]
    greedy = greedy_layout(problem, price=price)
    mu = max(0.0, price[0])
    added = np.maximum(greedy - problem.sites.existing, 0)
    n_areas = int(area_of.max()) + 1
    procs = max(1, processes or os.cpu_count() or 1)
    touched = np.array([len(np.unique(area_of[r])) for r in problem.groups.reach], dtype=np.int64)
    jobs, where = [], []
    for a in range(n_areas):
        idx = np.flatnonzero(area_of == a)
        b_a = int(added[idx].sum())
        relaxed = _area_problem(problem, idx, b_a, full_border=True, areas_touched=touched)
        primal = _area_problem(problem, idx, b_a, full_border=False)
        if relaxed is None or primal is None:
            continue
        where.append(idx)
        jobs.append([relaxed, primal, greedy[idx], mu, options, 0.0])
    # Each process works through its share of the areas within the time left.
    left = options.time_limit_s - (time.perf_counter() - t0)
    # 15 % held back: an area's LP and layout evaluations can overrun its share, and
    # only the SCIP part stops on time.
    per_area = max(0.0, 0.85 * left * procs / max(1, len(jobs)) - 0.5)
    for job in jobs:
        job[5] = per_area
    say(f"{len(jobs)} areas on {procs} process(es), {per_area:.1f} s each")
    if procs > 1 and len(jobs) > 1:
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=procs, mp_context=ctx) as pool:
            results = list(pool.map(_solve_area, [tuple(j) for j in jobs]))
    else:
        results = [_solve_area(tuple(j)) for j in jobs]  # type: ignore[arg-type]
    bays = problem.sites.existing.copy()
    load = np.zeros(len(problem.sites))
    served_model = np.zeros(len(problem.sites))
    served_erlang = np.zeros(len(problem.sites))
    obj = dual_sum = lin_err = 0.0
    n_vars = n_cons = 0
    for idx, (v_a, best) in zip(where, results, strict=True):
        dual_sum += v_a
        bays[idx] = best.bays
        load[idx] = best.load
        served_model[idx] = best.served_model
        served_erlang[idx] = best.served_erlang
        obj += best.objective  # area offsets are 0
        n_vars += best.n_variables
        n_cons += best.n_constraints
        lin_err = max(lin_err, best.linearisation_error)
    # The multipliers' constant: each priced border group's price x its demand, once.
    value = 1.0 + problem.costs.double_parking_weight
    border = float((BORDER_PRICE * value * (touched - 1) / touched * problem.groups.daily).sum())
    bound = max(mu * float(b.max_added) + dual_sum + border, obj)
    offset = objective_offset(problem)
    gap = (bound - obj) / max(1.0, abs(bound))
    return PlacementSolution(
        bays=bays,
        load=load,
        served_model=served_model,
        served_erlang=served_erlang,
        objective=obj + offset,
        bound=bound + offset,
        gap=gap,
        abs_gap=bound - obj,
        status="OPTIMAL" if gap <= max(options.relative_gap, 1e-4) else "FEASIBLE",
        wall_s=time.perf_counter() - t0,
        total_daily=problem.total_daily,
        linearisation_error=lin_err,
        n_variables=n_vars,
        n_constraints=n_cons,
        solver=f"areas({n_areas})+lp+greedy+{options.solver}",
    )
