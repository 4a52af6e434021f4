"""Large cities: solve area by area, stitch, and bound the whole honestly.

Method (for a budget on bays added only, the city-scale case):

1. A greedy layout of the whole city shares the bay budget out among areas
   (each area gets the bays the greedy put there).
2. Each area is solved on its own (LP bound, greedy and rounded layouts, SCIP for the
   time left). A demand group whose walking reach crosses an area border is split
   between the areas in proportion to the sites it reaches in each, so the stitched
   layout is feasible for the whole city and its objective is the sum of the areas'
   (a lower bound on that layout's value: the split only restricts the assignment).
3. The bound: each area's LP relaxation with the border groups' demand counted in
   full in every area they touch (a relaxation of the city model restricted to that
   area) at its budget share b_a gives L_a and the budget's dual mu_a, a supergradient
   of the concave L_a. For any other split b' of the budget B,
   sum L_a(b'_a) <= sum L_a(b_a) + mu_max * B - sum mu_a * b_a, and the city's LP
   relaxation is at most the best such split: that sum is a valid bound on the city
   model, whatever the budget split the greedy chose.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
    _solve_mip,
    lp_relaxation,
    objective_offset,
    optimise,
)


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
    problem: PlacementProblem, idx: IntArray, budget: int, full_border: bool
) -> PlacementProblem | None:
    local = -np.ones(len(problem.sites), dtype=np.int64)
    local[idx] = np.arange(len(idx))
    daily, reach = [], []
    for d, r in zip(problem.groups.daily, problem.groups.reach, strict=True):
        inside = local[r]
        inside = inside[inside >= 0]
        if len(inside) == 0:
            continue
        share = 1.0 if full_border else len(inside) / len(r)
        daily.append(d * share)
        reach.append(np.sort(inside))
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
    )


def solve_by_area(
    problem: PlacementProblem,
    area_of: IntArray,
    options: SolveOptions,
    progress: Callable[[str], None] | None = None,
) -> PlacementSolution:
    b = problem.budget
    if b.max_added is None or any(
        v is not None for v in (b.max_removed, b.max_changes, b.max_new_kerb_m, b.max_total_kerb_m)
    ):
        raise OptimiserInputError(
            "areas: the split-and-stitch method handles a budget on bays added only"
        )
    t0 = time.perf_counter()
    say = progress or (lambda _: None)
    say("greedy layout of the whole city (budget shares)")
    greedy = greedy_layout(problem)
    added = np.maximum(greedy - problem.sites.existing, 0)
    n_areas = int(area_of.max()) + 1
    bays = problem.sites.existing.copy()
    load = np.zeros(len(problem.sites))
    served_model = np.zeros(len(problem.sites))
    served_erlang = np.zeros(len(problem.sites))
    obj = 0.0
    lp_sum, mu, share = 0.0, np.zeros(n_areas), np.zeros(n_areas)
    n_vars = n_cons = 0
    lin_err = 0.0
    for a in range(n_areas):
        idx = np.flatnonzero(area_of == a)
        b_a = int(added[idx].sum())
        share[a] = b_a
        relaxed = _area_problem(problem, idx, b_a, full_border=True)
        if relaxed is None:
            continue
        duals: dict[str, float] = {}
        lp_a, _ = lp_relaxation(relaxed, duals)
        lp_sum += lp_a
        mu[a] = duals.get("max_added", 0.0)
        primal = _area_problem(problem, idx, b_a, full_border=False)
        assert primal is not None
        left = options.time_limit_s - (time.perf_counter() - t0)
        per_area = max(0.5, left / (n_areas - a) - 0.5)
        say(f"area {a + 1}/{n_areas}: {len(idx)} sites, {b_a} bays, {per_area:.1f} s")
        sol = optimise(primal, replace(options, time_limit_s=per_area), hint=greedy[idx])
        bays[idx] = sol.bays
        load[idx] = sol.load
        served_model[idx] = sol.served_model
        served_erlang[idx] = sol.served_erlang
        obj += sol.objective  # area offsets are 0
        n_vars += sol.n_variables
        n_cons += sol.n_constraints
        lin_err = max(lin_err, sol.linearisation_error)
    bound = lp_sum + float(mu.max(initial=0.0)) * float(b.max_added) - float((mu * share).sum())
    bound = max(bound, obj)
    offset = objective_offset(problem)
    gap = (bound - obj) / max(1.0, abs(bound))
    _ = _solve_mip  # the areas reuse the single-area machinery
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
