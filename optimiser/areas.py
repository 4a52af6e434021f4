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
   gain, an estimate of its shadow price) instead of enforcing it, and relax the
   coupling "a border group's deliveries, summed over the areas it reaches, are at
   most its demand" with a multiplier pi_g per delivery sent: every area then sees
   the group's whole demand at price pi_g, the city model falls apart into areas,
   each an LP relaxation V_a(mu, pi), and mu * B + sum_g pi_g d_g + sum_a V_a(mu, pi)
   bounds it for any mu, pi >= 0. pi_g is read from the layout pass: the largest
   dual of the group's demand cap among its areas' LPs (what its last delivery is
   worth there; in the city LP the ideal multiplier is the group's dual).
4. Each area's layout comes from the full method (``placement.optimise``), run
   before the bound pass so that its LP duals give the border prices.
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
from optimiser.inputs import Budget, FloatArray, IntArray, Sites
from optimiser.placement import (
    PlacementProblem,
    PlacementSolution,
    SolveOptions,
    evaluate_layout,
    lp_relaxation,
    objective_offset,
    optimise,
    relative_gap,
)

# Share of a delivery's value (1 + w) at which border demand is priced when no LP dual
# is at hand: the best of 0, 0.5, 0.8 and 1.0 on the arrondissement split in 4.
FLAT_BORDER_PRICE = 0.8


def grid_areas(sites: Sites, cell_m: float) -> IntArray:
    """Area index of each site on a square grid of ``cell_m`` (arrondissement-sized cells)."""
    cell = np.floor((sites.xy - sites.xy.min(axis=0)) / cell_m).astype(np.int64)
    _, idx = np.unique(cell[:, 0] * 1_000_003 + cell[:, 1], return_inverse=True)
    return idx.astype(np.int64)


def component_areas(problem: PlacementProblem, max_sites: int = 600) -> IntArray:
    """Area index of each site: the connected components of the site-demand graph (two
    sites are linked when a demand group reaches both), packed first-fit-decreasing into
    areas of at most ``max_sites`` sites (a larger component is an area on its own).

    No demand group then spans two areas, so the stitched layout loses nothing at the
    borders and the Lagrangian bound has no border term: its only relaxation is the
    bay budget, priced. Needs scipy (imported here).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n_sites, reach = len(problem.sites), problem.groups.reach
    n_groups = len(reach)
    rows = np.repeat(np.arange(n_groups), [len(r) for r in reach]) + n_sites
    cols = np.concatenate(reach) if n_groups else np.zeros(0, dtype=np.int64)
    graph = coo_matrix(
        (np.ones(len(rows)), (rows, cols)), shape=(n_sites + n_groups, n_sites + n_groups)
    )
    _, label = connected_components(graph, directed=False)
    comp_of_site = label[:n_sites]
    comps, site_comp, sizes = np.unique(comp_of_site, return_inverse=True, return_counts=True)
    area_of_comp = np.zeros(len(comps), dtype=np.int64)
    fill: list[int] = []
    for c in np.argsort(-sizes, kind="stable"):
        size = int(sizes[c])
        room = [a for a, f in enumerate(fill) if f + size <= max_sites]
        if room:
            a = min(room, key=lambda a: fill[a])
            fill[a] += size
        else:
            a = len(fill)
            fill.append(size)
        area_of_comp[c] = a
    return area_of_comp[site_comp].astype(np.int64)


def _area_groups(problem: PlacementProblem, idx: IntArray) -> IntArray:
    """The city's groups that reach a site of the area, in the order the area lists them."""
    inside = np.zeros(len(problem.sites), dtype=bool)
    inside[idx] = True
    return np.array(
        [g for g, r in enumerate(problem.groups.reach) if inside[r].any()], dtype=np.int64
    )


def _area_problem(
    problem: PlacementProblem,
    idx: IntArray,
    budget: int,
    full_border: bool,
    price: FloatArray | None = None,
) -> PlacementProblem | None:
    """One area's problem. ``full_border``: border groups keep all their demand here (a
    relaxation), priced at ``price[g]`` per delivery sent (a Lagrangian multiplier on
    the shared demand, which the bound adds back)."""
    local = -np.ones(len(problem.sites), dtype=np.int64)
    local[idx] = np.arange(len(idx))
    daily, reach, served, prices = [], [], [], []
    for g, (d, r) in enumerate(zip(problem.groups.daily, problem.groups.reach, strict=True)):
        inside = local[r]
        keep = inside >= 0
        if not keep.any():
            continue
        share = 1.0 if full_border else int(keep.sum()) / len(r)
        order = np.argsort(inside[keep])
        daily.append(d * share)
        reach.append(inside[keep][order])
        served.append(problem.groups.share_of(g)[keep][order])
        prices.append(float(price[g]) if full_border and price is not None else 0.0)
    if not daily:
        return None
    groups = Groups(
        np.asarray(daily), tuple(reach), np.zeros(0, dtype=np.int64), 0.0, tuple(served)
    )
    return PlacementProblem(
        sites=problem.sites.subset(idx),
        groups=groups,
        profile=problem.profile,
        dwell_h=problem.dwell_h,
        budget=Budget(max_added=budget),
        rules=problem.rules,
        costs=problem.costs,
        total_daily=0.0,  # the constant -w * demand is added once, for the whole city
        group_price=np.asarray(prices) if full_border and price is not None else None,
    )


def _priced(relaxed: PlacementProblem, mu: float) -> PlacementProblem:
    """The bay budget priced at mu instead of enforced (its Lagrangian relaxation)."""
    return replace(
        relaxed,
        budget=Budget(),
        costs=relaxed.costs.model_copy(update={"add_cost": relaxed.costs.add_cost + mu}),
    )


def _area_bound(job: tuple[PlacementProblem, float]) -> tuple[float, FloatArray]:
    """An area's Lagrangian LP value and its groups' demand duals (runs in a worker
    process): the budget priced at mu instead of enforced, border demand counted in
    full at its price."""
    relaxed, mu = job
    u = np.zeros(len(relaxed.groups.daily))
    v_a, _ = lp_relaxation(_priced(relaxed, mu), group_duals=u)
    return v_a, u


def _area_layout(
    job: tuple[PlacementProblem, IntArray, SolveOptions, float, float],
) -> tuple[PlacementSolution, FloatArray]:
    """An area's layout by the full method (its own LP, greedy and rounded layouts, the
    city greedy's layout as a hint, SCIP on the LP neighbourhood, then SCIP after
    reduced-cost fixing), and the duals of its groups' demand in its LP (worker process)."""
    primal, greedy, options, deadline_s, end_at = job
    u = np.zeros(len(primal.groups.daily))
    # ``end_at`` (epoch seconds) is the end of this pass: an area that starts late, after
    # others overran, keeps the city greedy's layout rather than run over.
    left = min(deadline_s, end_at - time.time())
    if left < 1.0:
        # Late: no LP, so no duals (its border groups are priced by their other areas).
        return evaluate_layout(primal, greedy), np.zeros(0)
    try:
        sol = optimise(primal, replace(options, time_limit_s=left), hint=greedy, group_duals=u)
    except OptimiserInputError:
        # Its LP did not finish in the slice it got (a loaded machine): keep the city
        # greedy's layout, priced like a late area.
        return evaluate_layout(primal, greedy), np.zeros(0)
    return sol, u


def border_prices(best_u: FloatArray, touched: IntArray, rule: str) -> FloatArray:
    """Multipliers on demand shared by ``touched`` areas, from the largest of its duals
    in the areas' unpriced LPs (``best_u``): "dual" prices it at that dual, "shared"
    at the dual x (m - 1) / m."""
    if rule == "dual":
        return best_u.copy()
    return best_u * (touched - 1) / np.maximum(touched, 1)


def _added_only(problem: PlacementProblem, message: str) -> int:
    """The problem's budget on bays added, which must be its only limit (else
    ``OptimiserInputError(message)``): the one coupling the split methods price."""
    b = problem.budget
    others = (b.max_removed, b.max_changes, b.max_new_kerb_m, b.max_total_kerb_m)
    if b.max_added is None or b.kerb_neutral or any(v is not None for v in others):
        raise OptimiserInputError(message)
    return b.max_added


def solve_by_area(
    problem: PlacementProblem,
    area_of: IntArray,
    options: SolveOptions,
    progress: Callable[[str], None] | None = None,
    processes: int | None = None,
    border_rule: str = "dual",
) -> PlacementSolution:
    """Split, solve (areas in parallel, one process per core), stitch, bound."""
    max_added = _added_only(
        problem, "areas: the split-and-stitch method handles a budget on bays added only"
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
    parts = []
    for a in range(n_areas):
        idx = np.flatnonzero(area_of == a)
        b_a = int(added[idx].sum())
        primal = _area_problem(problem, idx, b_a, full_border=False)
        if primal is not None:
            parts.append((idx, _area_groups(problem, idx), b_a, primal))
    ctx = multiprocessing.get_context("fork")
    parallel = procs > 1 and len(parts) > 1
    left = options.time_limit_s - (time.perf_counter() - t0)
    # Two passes: layouts (with the duals of every group's demand), then the bounds at
    # border prices read from those duals. Half the time for the layouts, which
    # overrun it by their LPs (42 s for 34 s on the Paris-sized benchmark at 60 %); the
    # bound pass is one LP an area (16 s there) and cannot be cut short. A second
    # bound pass runs only if it fits.
    per_area = max(0.0, 0.5 * left * procs / max(1, len(parts)) - 0.3)
    end_at = time.time() + 0.5 * left
    with ProcessPoolExecutor(max_workers=procs if parallel else 1, mp_context=ctx) as pool:
        say(f"{len(parts)} areas on {procs} process(es): layouts, {per_area:.1f} s each")
        jobs1 = [(primal, greedy[idx], options, per_area, end_at) for idx, _, _, primal in parts]
        results = (
            list(pool.map(_area_layout, jobs1)) if parallel else list(map(_area_layout, jobs1))
        )
        # Border multipliers: in the city LP a group shared by m areas is worth what its
        # last delivery is worth where it is sent; estimate that by the largest dual of
        # its demand among its areas' LPs (any price >= 0 gives a valid bound).
        best_u = np.zeros(len(problem.groups.daily))
        priced = np.zeros(len(problem.groups.daily), dtype=bool)
        for (_, gl, _, _), (_, u) in zip(parts, results, strict=True):
            if len(u):
                np.maximum.at(best_u, gl, u)
                priced[gl] = True
        # A group none of whose areas ran its LP (late, on a loaded machine) gets the
        # flat price used before: 0.8 x (1 + w) x (m - 1) / m.
        flat = FLAT_BORDER_PRICE * (1.0 + problem.costs.double_parking_weight)
        flat_pi = flat * (touched - 1) / np.maximum(touched, 1)
        pi = np.where(priced, border_prices(best_u, touched, border_rule), flat_pi)
        pi = np.where(touched > 1, pi, 0.0)

        budget_b = float(max_added)

        def bound_pass(pi: FloatArray) -> tuple[float, list[tuple[float, FloatArray]]]:
            say(f"{time.perf_counter() - t0:.1f} s: Lagrangian bounds, border demand priced")
            jobs2 = []
            for idx, _, b_a, _ in parts:
                relaxed = _area_problem(problem, idx, b_a, full_border=True, price=pi)
                assert relaxed is not None
                jobs2.append((relaxed, mu))
            out = list(pool.map(_area_bound, jobs2)) if parallel else list(map(_area_bound, jobs2))
            # The multipliers' constant: each priced border group's price x its demand, once.
            border = float((pi * problem.groups.daily).sum())
            total = mu * budget_b + sum(v for v, _ in out) + border
            say(f"bound {total + objective_offset(problem):.1f}")
            return total, out

        t_pass = time.perf_counter()
        bound, out = bound_pass(pi)
        t_pass = time.perf_counter() - t_pass
        if time.perf_counter() - t0 + 1.1 * t_pass < 0.97 * options.time_limit_s:
            # Time for one more: reprice each border group at what its last delivery is
            # worth, gross of its price, in the area that values it most at these prices.
            gross = np.zeros(len(problem.groups.daily))
            for (_, gl, _, _), (_, u) in zip(parts, out, strict=True):
                np.maximum.at(gross, gl, pi[gl] + u)
            step = np.where(touched > 1, 0.5 * (pi + gross), 0.0)
            bound = min(bound, bound_pass(step)[0])
    bays = problem.sites.existing.copy()
    pieces = [(p[0], best) for p, (best, _) in zip(parts, results, strict=True)]
    for idx, best in pieces:
        bays[idx] = best.bays
    obj = sum(best.objective for _, best in pieces)  # area offsets are 0
    return _stitched(
        problem,
        bays,
        pieces,
        obj,
        bound,
        options,
        t0,
        f"areas({n_areas})+lp+greedy+{options.solver}",
    )


def _stitched(
    problem: PlacementProblem,
    bays: IntArray,
    pieces: list[tuple[IntArray, PlacementSolution]],
    obj: float,
    bound: float,
    options: SolveOptions,
    t0: float,
    solver: str,
) -> PlacementSolution:
    """The city solution from its areas' (site indices, solution): ``obj`` and ``bound``
    without the constant -w x all demand, which is added here once."""
    n = len(problem.sites)
    load, served_model, served_erlang = np.zeros(n), np.zeros(n), np.zeros(n)
    for idx, sol in pieces:
        load[idx] = sol.load
        served_model[idx] = sol.served_model
        served_erlang[idx] = sol.served_erlang
    bound = max(bound, obj)
    offset = objective_offset(problem)
    gap = relative_gap(obj + offset, bound + offset)
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
        linearisation_error=max((sol.linearisation_error for _, sol in pieces), default=0.0),
        n_variables=sum(sol.n_variables for _, sol in pieces),
        n_constraints=sum(sol.n_constraints for _, sol in pieces),
        solver=solver,
    )


def _component_job(
    job: tuple[PlacementProblem, IntArray, SolveOptions, float, float],
) -> tuple[PlacementSolution, float, str]:
    """One area of independent components with the bay budget priced: its layout (the
    full method, from the city greedy's layout), an upper bound on its priced optimum
    V_a(mu), and a note of its sites, time given and time taken (worker process)."""
    priced, greedy, options, slice_s, end_at = job
    left = min(slice_s, end_at - time.time())
    t = time.perf_counter()
    if left >= 2.0:
        try:
            sol = optimise(priced, replace(options, time_limit_s=left), hint=greedy)
            took = time.perf_counter() - t
            return sol, sol.bound, f"{len(priced.sites)}/{left:.0f}/{took:.0f}"
        except OptimiserInputError:
            pass
    # Late (or its LP did not finish in its slice): the city greedy's layout, and the
    # area's LP relaxation for the bound, which cannot be cut short.
    lp_bound, _ = lp_relaxation(priced, time_limit_s=600.0)
    sol = evaluate_layout(priced, greedy, 600.0)
    took = time.perf_counter() - t
    return sol, max(lp_bound, sol.objective), f"{len(priced.sites)}/{left:.0f}/{took:.0f} late"


def solve_by_component(
    problem: PlacementProblem,
    options: SolveOptions,
    progress: Callable[[str], None] | None = None,
    processes: int | None = None,
    max_sites: int = 600,
) -> PlacementSolution:
    """A city placement for a budget on bays added only, by independent components.

    Method (Lagrangian relaxation of the one coupling constraint, the bay budget B):

    1. ``component_areas``: no demand group spans two areas, so for a price mu >= 0 per
       bay added the city model falls apart into the areas' priced models, and
       ``mu B + sum_a V_a(mu)`` bounds the city optimum for any mu (V_a(mu): area a's
       optimum with add_cost + mu and no budget; any upper bound of it will do).
    2. mu: the city greedy's last marginal gain (its estimate of the budget's price).
    3. Each area's priced model is solved once by the full method (``optimise``) in a
       worker, largest first, its time in proportion to its demand groups; its bound (the better of its LP
       and its MIP bound) bounds V_a(mu), and its layout is the area's part.
    4. If the areas together add more than B bays, the added bays serving the fewest
       deliveries a day (Erlang-B, per bay) are dropped until B is met, and the areas
       touched are evaluated again exactly. The objective is the stitched layout's
       exact value (the sum of the areas'); the gap includes mu x the budget left unused.
    """
    max_added = _added_only(
        problem, "components: the component method handles a budget on bays added only"
    )
    t0 = time.perf_counter()
    say = progress or (lambda _: None)
    area_of = component_areas(problem, max_sites)
    say("greedy layout of the whole city (the budget's price)")
    price: list[float] = [0.0]
    greedy = greedy_layout(problem, price=price)
    mu = max(0.0, price[0])
    parts = []
    for a in range(int(area_of.max()) + 1):
        idx = np.flatnonzero(area_of == a)
        sub = _area_problem(problem, idx, 0, full_border=False)
        if sub is not None:
            parts.append((idx, _priced(sub, mu)))
    procs = max(1, processes or os.cpu_count() or 1)
    parallel = procs > 1 and len(parts) > 1
    left = options.time_limit_s - (time.perf_counter() - t0)
    # Areas run in parallel, largest first; each gets a share of the time left in
    # proportion to its groups, and all stop by ``end_at`` (90 % of the time left, the
    # rest for the repair and the stitching).
    order = sorted(range(len(parts)), key=lambda i: -len(parts[i][1].groups.daily))
    window = 0.9 * left
    end_at = time.time() + window
    n_groups = sum(len(p.groups.daily) for _, p in parts)
    jobs = [
        (
            parts[i][1],
            greedy[parts[i][0]],
            options,
            # its share of the processes' time, never less than 2 s (an LP, a MIP try)
            max(2.0, window * procs * len(parts[i][1].groups.daily) / n_groups),
            end_at,
        )
        for i in order
    ]
    say(f"{len(parts)} areas of whole components on {procs} process(es), mu = {mu:.3f}/bay")
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=procs if parallel else 1, mp_context=ctx) as pool:
        done = list(pool.map(_component_job, jobs)) if parallel else list(map(_component_job, jobs))
    say("areas (sites/s given/s taken): " + ", ".join(d[2] for d in done))
    results: list[tuple[PlacementSolution, float]] = [(done[0][0], done[0][1])] * len(parts)
    for k, i in enumerate(order):
        results[i] = (done[k][0], done[k][1])
    existing = problem.sites.existing
    bays = existing.copy()
    for (idx, _), (sol, _) in zip(parts, results, strict=True):
        bays[idx] = sol.bays
    bound = mu * float(max_added) + sum(ub for _, ub in results)
    # Repair: drop the added bays that serve least until the budget holds.
    added = np.maximum(bays - existing, 0)
    excess = int(added.sum()) - int(max_added)
    touched: set[int] = set()
    if excess > 0:
        say(f"{excess} bays over the budget: dropping those that serve least")
        served = np.zeros(len(bays))
        for (idx, _), (sol, _) in zip(parts, results, strict=True):
            served[idx] = sol.served_erlang / np.maximum(sol.bays, 1)
        area_part = -np.ones(len(bays), dtype=np.int64)
        for p, (idx, _) in enumerate(parts):
            area_part[idx] = p
        for j in np.argsort(served, kind="stable"):
            if excess <= 0:
                break
            drop = min(int(added[j]), excess)
            if drop > 0:
                bays[j] -= drop
                excess -= drop
                touched.add(int(area_part[j]))
    obj = 0.0
    pieces = []
    for p, ((idx, priced), (sol, _)) in enumerate(zip(parts, results, strict=True)):
        if p in touched:
            sol = evaluate_layout(replace(priced, costs=problem.costs, budget=Budget()), bays[idx])
            obj += sol.objective
        else:
            # The area's exact value without the price: priced objective + mu x bays added.
            obj += sol.objective + mu * int(np.maximum(bays[idx] - existing[idx], 0).sum())
        pieces.append((idx, sol))
    say(
        f"objective {obj + objective_offset(problem):.1f}, bound {bound + objective_offset(problem):.1f}"
    )
    return _stitched(
        problem,
        bays,
        pieces,
        obj,
        bound,
        options,
        t0,
        f"components({len(parts)} areas)+lagrangian+lp+greedy+{options.solver}",
    )
