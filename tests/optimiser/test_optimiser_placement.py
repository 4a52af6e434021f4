from __future__ import annotations

import itertools

import numpy as np
import pytest
from optimiser_helpers import make_demand, make_sites

from optimiser.distances import Groups, aggregate, reach_straight_m
from optimiser.errors import OptimiserInputError
from optimiser.generate import generated_city
from optimiser.greedy import greedy_layout
from optimiser.inputs import TYPICAL_URBAN_PROFILE, Budget, Costs, Rules
from optimiser.placement import (
    OBJ_SCALE,
    PlacementProblem,
    SolveOptions,
    curves,
    group_units,
    integer_secants,
    objective_offset,
    objective_units,
    served_units,
    solve,
)
from optimiser.problem import build_problem
from optimiser.walking import served_share

CPSAT = SolveOptions(time_limit_s=20, solver="cp-sat", deterministic=True)
SCIP = SolveOptions(time_limit_s=20, solver="scip")


def _load_splits(d: int, shares: np.ndarray) -> list[tuple[int, ...]]:
    """Every load (units) a group of ``d`` units can bring its open sites at ``shares``:
    at most floor(share x d) each, and sum ceil(1000 / share) x load <= 1000 d (the
    integer model's rounding, against the model)."""
    tops = [int(np.floor(f * d + 1e-9)) for f in shares]
    cost = [int(np.ceil(1000 / f - 1e-9)) for f in shares]
    return [
        c
        for c in itertools.product(*(range(t + 1) for t in tops))
        if sum(k * v for k, v in zip(cost, c, strict=True)) <= 1000 * d
    ]


def brute_force(problem: PlacementProblem) -> int:
    """Best integer objective by enumerating every layout and every assignment."""
    sites = problem.sites
    _, crv = curves(problem)
    dem = group_units(problem)
    share = [problem.groups.share_of(g) for g in range(len(dem))]
    cap = np.zeros(len(sites), dtype=np.int64)
    for d, r, f in zip(dem, problem.groups.reach, share, strict=True):
        cap[r] += np.floor(f * d + 1e-9).astype(np.int64)
    best = None
    for layout in feasible_layouts(problem):
        n = np.asarray(layout)
        added = int(np.maximum(n - sites.existing, 0).sum())
        removed = int(np.maximum(sites.existing - n, 0).sum())
        per_group = []
        for d, r, f in zip(dem, problem.groups.reach, share, strict=True):
            is_open = n[r] > 0
            open_r = [int(j) for j in r[is_open]]
            per_group.append(
                [dict(zip(open_r, c, strict=True)) for c in _load_splits(d, f[is_open])]
            )
        for combo in itertools.product(*per_group):
            load = np.zeros(len(sites), dtype=np.int64)
            for part in combo:
                for j, v in part.items():
                    load[j] += v
            served = 0
            for j in range(len(sites)):
                if n[j] > 0:
                    served += min(int(cap[j]), served_units(crv[n[j]], int(load[j]), int(cap[j])))
            val = objective_units(problem, served, added, removed)
            best = val if best is None else max(best, val)
    assert best is not None
    return best


def tiny_problem(seed: int, budget: Budget) -> PlacementProblem:
    rng = np.random.default_rng(seed)
    n_sites, n_dem = 4, 3
    existing = rng.integers(0, 2, size=n_sites).tolist()
    max_bays = [max(e, int(rng.integers(1, 3))) for e in existing]
    sites = make_sites(
        [tuple(p) for p in rng.uniform(0, 180, size=(n_sites, 2))],
        existing,
        max_bays,
        fixed=[bool(e) and j == 0 for j, e in enumerate(existing)],
    )
    demand = make_demand(
        [tuple(p) for p in rng.uniform(0, 180, size=(n_dem, 2))],
        rng.choice([0.2, 0.3, 0.4], size=n_dem).tolist(),
    )
    return build_problem(
        sites,
        demand,
        TYPICAL_URBAN_PROFILE,
        dwell_h=3.0,  # long dwells so that the Erlang loss bites at these small loads
        budget=budget,
        # Shares from 1 (up to 60 m walked) down to 0 at 200 m: partial shares in play.
        rules=Rules(walk_limit_m=200, walk_full_m=60),
        costs=Costs(add_cost=0.05, remove_cost=0.02),
    )


@pytest.mark.parametrize(
    ("seed", "budget"),
    [
        (1, Budget(max_changes=2)),
        (2, Budget(max_added=1)),
        (3, Budget(max_total_kerb_m=20.0)),
        (4, Budget()),
    ],
)
def test_solvers_match_brute_force(seed: int, budget: Budget) -> None:
    problem = tiny_problem(seed, budget)
    best_units = brute_force(problem)
    # Guard: the instance is not trivial (serving something beats serving nothing).
    assert best_units > objective_units(problem, 0, 0, 0)
    best = best_units / OBJ_SCALE + objective_offset(problem)
    # SCIP solves the model with exact (not rounded-down) coefficients and continuous
    # loads: brute force over every layout, each with its optimal assignment (a linear
    # programme once the layout is fixed).
    mip = solve(problem, SCIP)
    best_mip = max(
        solve(problem, SCIP, fix_bays=np.asarray(layout)).objective
        for layout in feasible_layouts(problem)
    )
    assert mip.status == "OPTIMAL"
    assert mip.objective == pytest.approx(best_mip, abs=1e-3)
    # CP-SAT optimises the rounded-down integer model: its layout is worth at least that
    # model's optimum (brute force) once evaluated exactly, and at most the true optimum;
    # the bound it reports is one of the described model (not of the rounded one).
    cp = solve(problem, CPSAT)
    assert best - 1e-6 <= cp.objective <= best_mip + 1e-6
    assert cp.bound >= best_mip - 1e-6
    assert cp.status == ("OPTIMAL" if cp.gap <= 1e-4 else "FEASIBLE")


def feasible_layouts(problem: PlacementProblem) -> list[tuple[int, ...]]:
    sites, budget = problem.sites, problem.budget
    ranges = [
        range(int(sites.existing[j]) if sites.fixed[j] else 0, int(sites.max_bays[j]) + 1)
        for j in range(len(sites))
    ]
    out = []
    for layout in itertools.product(*ranges):
        n = np.asarray(layout)
        added = int(np.maximum(n - sites.existing, 0).sum())
        removed = int(np.maximum(sites.existing - n, 0).sum())
        kerb = float((n * sites.bay_length_m).sum())
        if (
            (budget.max_added is None or added <= budget.max_added)
            and (budget.max_removed is None or removed <= budget.max_removed)
            and (budget.max_changes is None or added + removed <= budget.max_changes)
            and (budget.max_total_kerb_m is None or kerb <= budget.max_total_kerb_m + 1e-9)
        ):
            out.append(layout)
    return out


def test_integer_secants_never_exceed_curve() -> None:
    problem = tiny_problem(2, Budget())
    _, crv = curves(problem)
    from optimiser.erlang import served_per_day
    from optimiser.placement import UNITS

    for k in range(1, len(crv)):
        # The model never loads a site past the top breakpoint (its whole reach).
        top = int(crv[k].breakpoints[-1] * UNITS)
        assert integer_secants(crv[k], top)
        for load in range(0, top + 1):
            got = served_units(crv[k], load, top) / UNITS
            assert got <= served_per_day(k, load / UNITS, problem.profile, problem.dwell_h) + 1e-9


def test_aggregating_equal_reach_sets_keeps_the_optimum() -> None:
    sites, demand = generated_city(40, 400, area_km2=0.4, seed=3)
    problem = build_problem(sites, demand, TYPICAL_URBAN_PROFILE, 0.25, Budget(max_added=8))
    assert len(problem.groups.daily) < len(demand)
    # One group per point, with its own walking shares (straight line x detour factor).
    rules = problem.rules
    reach, straight = reach_straight_m(demand.xy, sites.xy, 100.0 / rules.walk_detour_factor)
    share = [
        served_share(m * rules.walk_detour_factor, rules.walk_full_m, rules.walk_limit_m)
        for m in straight
    ]
    keep = [i for i, f in enumerate(share) if (f > 0).any()]
    raw = Groups(
        daily=demand.daily[keep],
        reach=tuple(reach[i][share[i] > 0] for i in keep),
        of_point=np.arange(len(keep)),
        unreachable_daily=float(sum(demand.daily[i] for i in range(len(demand)) if i not in keep)),
        share=tuple(share[i][share[i] > 0] for i in keep),
    )
    unaggregated = PlacementProblem(
        sites=sites,
        groups=raw,
        profile=problem.profile,
        dwell_h=problem.dwell_h,
        budget=problem.budget,
        rules=problem.rules,
        costs=problem.costs,
        total_daily=problem.total_daily,
    )
    a = solve(problem, SCIP)
    b = solve(unaggregated, SCIP)
    assert a.status == b.status == "OPTIMAL"
    assert a.objective == pytest.approx(b.objective, abs=0.05)
    agg = aggregate(demand.daily, reach, share)
    assert agg.unreachable_daily == pytest.approx(raw.unreachable_daily)
    assert len(agg.daily) == len(problem.groups.daily) < len(raw.daily)


@pytest.mark.parametrize("solver", ["scip", "cp-sat"])
def test_proposals_keep_hard_rules(solver: str) -> None:
    sites, demand = generated_city(40, 500, area_km2=0.4, seed=5)
    rng = np.random.default_rng(0)
    existing = (rng.random(len(sites)) < 0.3).astype(np.int64)
    fixed = (existing > 0) & (rng.random(len(sites)) < 0.5)
    max_bays = np.maximum(sites.max_bays, existing)
    max_bays[:5] = 0  # kerb too short for a bay: the minimum-length rule
    existing[:5] = 0
    fixed[:5] = False
    from dataclasses import replace

    sites = replace(sites, existing=existing, max_bays=max_bays, fixed=fixed)
    budget = Budget(max_added=6, max_removed=3, max_changes=7, max_new_kerb_m=50.0)
    problem = build_problem(sites, demand, TYPICAL_URBAN_PROFILE, 0.25, budget)
    opts = SolveOptions(time_limit_s=0.2, solver=solver, deterministic=True)
    for layout in (solve(problem, opts, hint=greedy_layout(problem)).bays, greedy_layout(problem)):
        added = np.maximum(layout - existing, 0)
        removed = np.maximum(existing - layout, 0)
        assert np.all(layout[fixed] >= existing[fixed])
        assert np.all(layout[:5] == 0)
        assert np.all(layout <= max_bays)
        assert added.sum() <= 6 and removed.sum() <= 3 and added.sum() + removed.sum() <= 7
        assert float((added * sites.bay_length_m).sum()) <= 50.0 + 1e-9


def test_kerb_budget_below_fixed_bays_is_a_clear_error() -> None:
    sites = make_sites([(0, 0), (50, 0)], [1, 1], [1, 1], fixed=[True, True])
    demand = make_demand([(10, 0)], [1.0])
    problem = build_problem(
        sites, demand, TYPICAL_URBAN_PROFILE, 0.25, Budget(max_total_kerb_m=5.0)
    )
    for solver in ("scip", "cp-sat"):
        with pytest.raises(OptimiserInputError, match="budget and rules admit no layout"):
            solve(problem, SolveOptions(time_limit_s=5, solver=solver))


def test_no_candidate_within_reach_is_a_clear_error() -> None:
    sites = make_sites([(0, 0)], [0], [1])
    demand = make_demand([(5000, 5000)], [1.0])
    with pytest.raises(OptimiserInputError, match="no candidate within reach"):
        build_problem(sites, demand, TYPICAL_URBAN_PROFILE, 0.25)


def test_negative_budget_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_added must be >= 0"):
        Budget(max_added=-1)


def test_cpsat_is_deterministic_for_fixed_seed_and_workers() -> None:
    sites, demand = generated_city(50, 500, area_km2=0.5, seed=7)
    problem = build_problem(sites, demand, TYPICAL_URBAN_PROFILE, 0.25, Budget(max_added=8))
    # A deterministic-time limit short enough that the search stops before proving
    # optimality: determinism must hold for the incumbent, not only for the optimum.
    opts = SolveOptions(
        time_limit_s=0.1, num_workers=8, seed=11, solver="cp-sat", deterministic=True
    )
    hint = greedy_layout(problem)
    runs = [solve(problem, opts, hint=hint) for _ in range(2)]
    assert np.array_equal(runs[0].bays, runs[1].bays)
    assert runs[0].objective == runs[1].objective
    assert runs[0].bound == runs[1].bound


def test_scip_is_deterministic_for_fixed_seed() -> None:
    sites, demand = generated_city(100, 1000, area_km2=1.0, seed=8)
    problem = build_problem(sites, demand, TYPICAL_URBAN_PROFILE, 0.25, Budget(max_added=15))
    opts = SolveOptions(time_limit_s=30, seed=3, solver="scip")
    runs = [solve(problem, opts, hint=greedy_layout(problem)) for _ in range(2)]
    assert np.array_equal(runs[0].bays, runs[1].bays)
    assert runs[0].objective == pytest.approx(runs[1].objective, abs=1e-9)


def test_solution_reports_bound_gap_and_erlang_value() -> None:
    sites, demand = generated_city(80, 800, area_km2=0.8, seed=9)
    problem = build_problem(sites, demand, TYPICAL_URBAN_PROFILE, 0.25, Budget(max_added=10))
    sol = solve(problem, SCIP, hint=greedy_layout(problem))
    assert sol.bound >= sol.objective - 1e-9
    assert 0 <= sol.gap <= 1e-3
    # Secants lie under Erlang-B: the exact value is at least the linearised one.
    assert sol.served_erlang.sum() >= sol.served_model.sum() - 1e-9
    assert sol.double_parking == pytest.approx(sol.total_daily - sol.served)
    assert int(sol.bays.sum()) <= 10
