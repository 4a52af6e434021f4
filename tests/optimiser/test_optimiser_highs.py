"""The placement solvers against an independent solver (HiGHS, through ``highspy``).

``highs_optimum`` writes the model of ``optimiser.placement`` (one-hot bay counts,
assignment of demand to sites with the walking rule's served shares, perspective
secants of the Erlang-B curve scaled by each site's availability, budget) without the
project's model code, from the raw demand points (``point_rows``: distances and
shares computed again here) or from the problem's aggregated groups, and solves it to
proven optimality. Then: SCIP's layout reaches that optimum
and its bound is not below it; CP-SAT's reported bound is not below it either (it
used to be the bound of a rounded, more restrictive model); the budget admits the
status quo under kerb-neutral with fractional bay lengths; permanent bays stay.
"""

from __future__ import annotations

from dataclasses import replace

import highspy
import numpy as np
import pytest

from optimiser.generate import generated_city
from optimiser.greedy import greedy_layout
from optimiser.inputs import TYPICAL_URBAN_PROFILE, Budget, Demand, Rules
from optimiser.placement import (
    PlacementProblem,
    SolveOptions,
    curves,
    objective_offset,
    optimise,
    solve,
)
from optimiser.problem import build_problem

TOL = 1e-4  # relative, on the objective without its constant


Row = tuple[float, np.ndarray, np.ndarray]  # deliveries a day, sites in reach, served shares


def point_rows(problem: PlacementProblem, demand: Demand) -> list[Row]:
    """Each demand point's row, from the raw points (no aggregation), with the walking
    rule written again here: straight line x detour factor, rounded up to 5 m, share 1
    up to ``walk_full_m`` and linear to 0 at ``walk_limit_m``."""
    rules = problem.rules
    xy_s = problem.sites.xy
    rows = []
    for i in range(len(demand)):
        walk = np.hypot(*(xy_s - demand.xy[i]).T) * rules.walk_detour_factor
        walk = np.ceil(walk / 5.0 - 1e-9) * 5.0
        share = np.clip(
            (rules.walk_limit_m - walk) / (rules.walk_limit_m - rules.walk_full_m), 0.0, 1.0
        )
        near = np.flatnonzero(share > 0)
        rows.append((float(demand.daily[i]), near, share[near]))
    return rows


def group_rows(problem: PlacementProblem) -> list[Row]:
    """The aggregated groups as rows (what the project's solvers read)."""
    g = problem.groups
    return [(float(g.daily[i]), g.reach[i], g.share_of(i)) for i in range(len(g.daily))]


def highs_optimum(
    problem: PlacementProblem, rows: list[Row] | None = None, time_limit_s: float = 120.0
) -> float:
    """The proven optimum (objective with its constant) of the placement model, by HiGHS,
    on ``rows`` (default: the problem's groups)."""
    sites, budget, costs = problem.sites, problem.budget, problem.costs
    rows = group_rows(problem) if rows is None else rows
    _, crv = curves(problem)
    cap = np.zeros(len(sites))
    for d, r, f in rows:
        cap[r] += d * f
    avail = sites.availability()
    h = highspy.Highs()
    h.silent()
    h.setOptionValue("time_limit", time_limit_s)
    h.setOptionValue("mip_rel_gap", 1e-7)
    # x[(g, j)] = (deliveries of row g sent to j, the share of them that use the bay)
    x: dict[tuple[int, int], tuple[highspy.highs_var, float]] = {}
    for g, (d, r, f) in enumerate(rows):
        xs = []
        for j, fj in zip(r, f, strict=True):
            if sites.max_bays[j] > 0:
                x[(g, int(j))] = (h.addVariable(0.0, float(d)), float(fj))
                xs.append(x[(g, int(j))][0])
        if xs:
            h.addConstr(sum(xs) <= float(d))
    served, added, removed, new_kerb, total_kerb = [], [], [], [], []
    for j in range(len(sites)):
        e, top = int(sites.existing[j]), int(sites.max_bays[j])
        if top == 0:
            continue
        low = e if sites.fixed[j] else 0
        z = {k: h.addBinary() for k in range(low, top + 1)}
        h.addConstr(sum(z.values()) == 1)
        loads = [fj * v for (g, jj), (v, fj) in x.items() if jj == j]
        parts = []
        for k, zk in z.items():
            if k == 0:
                continue
            a = h.addVariable(0.0, float(cap[j]))
            h.addConstr(a <= float(cap[j]) * zk)
            s = h.addVariable(0.0, float(cap[j]))
            for sec in crv[k].secants:
                h.addConstr(s <= float(avail[j]) * (sec.intercept * zk + sec.slope * a))
            parts.append(a)
            served.append(s)
        if loads:
            h.addConstr(sum(loads) == (sum(parts) if parts else 0))
        for k, zk in z.items():
            if k > e:
                added.append((k - e) * zk)
                new_kerb.append((k - e) * float(sites.bay_length_m[j]) * zk)
            if k < e:
                removed.append((e - k) * zk)
            if k > 0:
                total_kerb.append(k * float(sites.bay_length_m[j]) * zk)
    n_add = sum(added) if added else 0
    n_rem = sum(removed) if removed else 0
    if budget.max_added is not None and added:
        h.addConstr(n_add <= budget.max_added)
    if budget.max_removed is not None and removed:
        h.addConstr(n_rem <= budget.max_removed)
    if budget.max_changes is not None and (added or removed):
        h.addConstr(n_add + n_rem <= budget.max_changes)
    if budget.kerb_neutral:
        now = float((sites.existing * sites.bay_length_m).sum())
        h.addConstr(sum(total_kerb) <= now + 1e-6)
    w = costs.double_parking_weight
    h.maximize((1 + w) * sum(served) - costs.add_cost * n_add - costs.remove_cost * n_rem)
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal, h.modelStatusToString(
        h.getModelStatus()
    )
    return float(h.getInfo().objective_function_value) + objective_offset(problem)


def city(n_sites: int, n_demand: int, km2: float, seed: int, budget: Budget) -> PlacementProblem:
    """A generated city with some bays in place (some permanent) and some misuse."""
    return city_points(n_sites, n_demand, km2, seed, budget)[0]


def city_points(
    n_sites: int, n_demand: int, km2: float, seed: int, budget: Budget
) -> tuple[PlacementProblem, Demand]:
    """``city`` and its raw demand points."""
    sites, demand = generated_city(n_sites, n_demand, area_km2=km2, seed=seed)
    rng = np.random.default_rng(seed)
    existing = np.where(rng.random(len(sites)) < 0.25, sites.max_bays, 0)
    existing[:2] = sites.max_bays[:2]
    # Surveyed lengths are not round: 9.3-13.7 m a bay.
    length = np.round(rng.uniform(9.3, 13.7, size=len(sites)), 2)
    permanent = (existing > 0) & (rng.random(len(sites)) < 0.4)
    permanent[0] = True
    sites = replace(
        sites,
        existing=existing,
        bay_length_m=length,
        fixed=permanent,
        regime=tuple(
            "permanent" if p else ("periodic" if e else "new")
            for p, e in zip(permanent, existing, strict=True)
        ),
        misuse=np.where(existing > 0, rng.uniform(0, 0.3, size=len(sites)), 0.0),
    )
    return build_problem(sites, demand, TYPICAL_URBAN_PROFILE, 0.25, budget, Rules()), demand


def _value(problem: PlacementProblem, objective: float) -> float:
    return objective - objective_offset(problem)


@pytest.mark.parametrize(
    ("size", "seed", "budget"),
    [
        ((15, 150, 0.15), 1, Budget(max_changes=4)),
        ((15, 150, 0.15), 2, Budget(max_added=3, kerb_neutral=True)),
        ((45, 450, 0.45), 3, Budget(max_changes=8)),
        ((45, 450, 0.45), 4, Budget(max_added=6, max_removed=4, kerb_neutral=True)),
    ],
)
def test_solvers_agree_with_highs(size: tuple[int, int, float], seed: int, budget: Budget) -> None:
    problem, demand = city_points(*size, seed=seed, budget=budget)
    # The walking rule's partial shares are in play (not only 0/1 reach).
    shares = np.concatenate(problem.groups.share)
    assert ((shares > 0.05) & (shares < 0.95)).mean() > 0.3
    # HiGHS on the raw points, walking shares computed again in the test: the same model
    # as the project's aggregated groups, whose optimum HiGHS also finds.
    best = highs_optimum(problem, point_rows(problem, demand))
    scale = abs(_value(problem, best))
    assert highs_optimum(problem) == pytest.approx(best, abs=1e-6 * scale + 1e-6)
    sol = optimise(problem, SolveOptions(time_limit_s=20, seed=seed))
    # SCIP's layout reaches the proven optimum, and its bound does not cut it off.
    assert sol.objective == pytest.approx(best, abs=TOL * scale + 1e-6)
    assert sol.bound >= best - 1e-6 * scale
    # The standard relative gap, on the objective as reported.
    assert sol.gap == pytest.approx(
        abs(sol.bound - sol.objective) / abs(sol.objective), rel=1e-9, abs=1e-12
    )
    # CP-SAT: the layout is a real one (never above the optimum) and the bound it reports
    # is a bound of this model (never below the optimum).
    cp = solve(
        problem,
        SolveOptions(time_limit_s=3, solver="cp-sat", deterministic=True),
        hint=greedy_layout(problem),
    )
    assert cp.objective <= best + 1e-6 * scale
    assert cp.bound >= best - 1e-6 * scale
    assert cp.status == ("OPTIMAL" if cp.gap <= 1e-4 else "FEASIBLE")
    # No permanent bay is removed, by either solver.
    fixed = problem.sites.fixed
    assert fixed.any()
    for layout in (sol.bays, cp.bays):
        assert np.array_equal(layout[fixed], problem.sites.existing[fixed])


@pytest.mark.parametrize("solver", ["scip", "cp-sat"])
def test_kerb_neutral_admits_the_status_quo(solver: str) -> None:
    # Fractional surveyed lengths and fixed bays everywhere: the only feasible layout
    # that keeps every bay is the status quo, which the budget must admit (per-bay
    # rounding used to make it infeasible under CP-SAT).
    problem = city(25, 200, 0.25, seed=6, budget=Budget(kerb_neutral=True, max_added=0))
    opts = SolveOptions(time_limit_s=3, solver=solver, deterministic=True)
    now = solve(problem, opts, fix_bays=problem.sites.existing)
    assert np.array_equal(now.bays, problem.sites.existing)
    sol = solve(problem, opts, hint=problem.sites.existing)
    kerb = problem.sites.bay_length_m
    assert (sol.bays * kerb).sum() <= (problem.sites.existing * kerb).sum() + 1e-6
    assert sol.objective >= now.objective - 1e-6


def test_permanent_bays_change_only_with_the_planners_option() -> None:
    # Two bays, one permanent and one periodic, with no demand near either: without the
    # option only the periodic one may go; with it both may.
    import pandas as pd

    from optimiser.loaders import sites_from_zones

    zones = pd.DataFrame(
        {
            "curb_zone_id": ["perm", "peri"],
            "lon": [2.3600, 2.3700],
            "lat": [48.8630, 48.8630],
            "length_cm": [1000, 1000],
            "delivery_hours": ["24/7", "Mo-Sa 07:00-20:00; PH off"],
            "attributes": [{"regime": "ZL permanente"}, {"regime": "ZL périodique"}],
        }
    )
    from optimiser.distances import to_l93
    from optimiser.inputs import Demand

    pt = np.array([[2.3650, 48.8630]])
    demand = Demand(("d",), to_l93(pt), pt, np.array([1.0]), ("shop",), False)
    for allow, removable in ((False, {"peri"}), (True, {"perm", "peri"})):
        sites = sites_from_zones(zones, Rules(allow_permanent_changes=allow))
        got = {sites.ids[j] for j in np.flatnonzero(~sites.fixed)}
        assert got == removable
        problem = build_problem(
            sites, demand, TYPICAL_URBAN_PROFILE, 0.25, Budget(), Rules(walk_limit_m=500)
        )
        sol = optimise(problem, SolveOptions(time_limit_s=5))
        assert problem.costs.remove_cost > 0
        kept = {sites.ids[j] for j in np.flatnonzero(sol.bays > 0)}
        assert "perm" in kept or allow


@pytest.mark.parametrize(("seed", "max_added"), [(7, 6), (8, 12)])
def test_components_bracket_the_highs_optimum(seed: int, max_added: int) -> None:
    # A sparse city falls apart into many components; the component method prices the
    # bay budget (Lagrangian) and solves the areas apart. Its layout is a real one (its
    # stitched value is the exact value of the whole layout, never above the optimum),
    # within the budget, and its bound is never below HiGHS's proven optimum.
    from optimiser.areas import component_areas, solve_by_component
    from optimiser.placement import evaluate_layout

    problem = city(60, 500, 2.5, seed=seed, budget=Budget(max_added=max_added))
    areas = component_areas(problem, max_sites=12)
    assert len(np.unique(areas)) >= 4
    for r in problem.groups.reach:  # no demand group spans two areas
        assert len(np.unique(areas[r])) == 1
    best = highs_optimum(problem)
    scale = abs(_value(problem, best))
    sol = solve_by_component(problem, SolveOptions(time_limit_s=30), processes=1, max_sites=12)
    assert sol.objective <= best + 1e-6 * scale
    assert sol.bound >= best - 1e-6 * scale
    exact = evaluate_layout(problem, sol.bays)
    assert sol.objective == pytest.approx(exact.objective, abs=1e-4 * scale)
    assert int(np.maximum(sol.bays - problem.sites.existing, 0).sum()) <= max_added
    fixed = problem.sites.fixed
    assert np.array_equal(sol.bays[fixed], problem.sites.existing[fixed])
    assert sol.gap == pytest.approx(abs(sol.bound - sol.objective) / abs(sol.objective))
