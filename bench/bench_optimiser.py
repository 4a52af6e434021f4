"""Benchmark of the placement optimiser on generated instances (see optimiser/generate.py).

    python -m bench.bench_optimiser            # both scale targets and the solver comparison
    python -m bench.bench_optimiser --quick    # small sizes, for a smoke run

Prints, per instance: sites, demand points, demand groups after the exact
aggregation, budget, method, wall and CPU time (this process and its area workers),
the machine's 1-minute load average before and after the run (``os.getloadavg()``),
the objective (served - weight x double parking - cost of changes, deliveries a day),
its proven bound and the standard relative gap |bound - objective| / |objective|, with
the absolute gap in deliveries a day beside it.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from optimiser.areas import grid_areas, solve_by_area
from optimiser.errors import OptimiserInputError
from optimiser.generate import generated_city
from optimiser.greedy import greedy_layout
from optimiser.inputs import TYPICAL_URBAN_PROFILE, Budget, Sites
from optimiser.placement import (
    PlacementProblem,
    PlacementSolution,
    SolveOptions,
    optimise,
    solve,
)
from optimiser.problem import build_problem


def _solve(
    problem: PlacementProblem, sites: Sites, method: str, limit_s: float, cell_m: float
) -> PlacementSolution:
    if method == "areas":
        return solve_by_area(problem, grid_areas(sites, cell_m), SolveOptions(time_limit_s=limit_s))
    if method == "cp-sat-only":
        opts = SolveOptions(time_limit_s=limit_s, solver="cp-sat")
        return solve(problem, opts, hint=greedy_layout(problem))
    if method == "scip-only":
        return solve(problem, SolveOptions(time_limit_s=limit_s), hint=greedy_layout(problem))
    return optimise(problem, SolveOptions(time_limit_s=limit_s), hint=greedy_layout(problem))


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (the area workers): the
    machine is shared, so wall time alone says little."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def run(
    name: str,
    n_cand: int,
    n_dem: int,
    area_km2: float,
    budget: int,
    limit_s: float,
    method: str,
    cell_m: float = 2300.0,
) -> None:
    t0 = time.perf_counter()
    sites, demand = generated_city(n_cand, n_dem, area_km2, seed=1)
    problem = build_problem(sites, demand, TYPICAL_URBAN_PROFILE, 0.25, Budget(max_added=budget))
    prep = time.perf_counter() - t0
    head = (
        f"{name:<15} sites={n_cand:>6} demand={n_dem:>7} groups={len(problem.groups.daily):>6}"
        f" budget={budget:>5} method={method:<11} limit={limit_s:>3.0f}s"
    )
    load0 = os.getloadavg()[0]
    t1 = time.perf_counter()
    c1 = _cpu_s()
    try:
        sol = _solve(problem, sites, method, limit_s, cell_m)
    except OptimiserInputError as exc:
        print(f"{head} wall={time.perf_counter() - t1:6.1f}s -> {exc}", flush=True)
        return
    wall = time.perf_counter() - t1
    cpu = _cpu_s() - c1
    load = os.getloadavg()[0]
    print(
        f"{head} wall={wall:6.1f}s cpu={cpu:6.1f}s load={load0:.1f}->{load:.1f}"
        f" (+{prep:.1f}s prep) objective={sol.objective:9.1f} bound={sol.bound:9.1f}"
        f" gap={sol.gap:6.2%} abs_gap={sol.abs_gap:6.1f}/day"
        f" status={sol.status} served={sol.served:.0f}/{problem.total_daily:.0f} per day",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=["arrondissement", "paris"], default=None)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores", flush=True)
    if args.quick:
        run("small", 100, 1000, 1.0, 20, 5, "lp+scip")
        run("small-areas", 400, 4000, 4.0, 80, 10, "areas", cell_m=1000)
        return
    if args.only in (None, "arrondissement"):
        run("arrondissement", 500, 5000, 5.3, 100, 10, "lp+scip")
        run("arrondissement", 500, 5000, 5.3, 100, 10, "scip-only")
        run("arrondissement", 500, 5000, 5.3, 100, 10, "cp-sat-only")
    if args.only in (None, "paris"):
        run("paris", 10_000, 100_000, 105.0, 2000, 60, "areas")


if __name__ == "__main__":
    main()
