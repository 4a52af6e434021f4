"""Benchmark of the placement optimiser on generated instances (see optimiser/generate.py).

    python -m bench.bench_optimiser            # both scale targets and the solver comparison
    python -m bench.bench_optimiser --quick    # small sizes, for a smoke run

Prints, per instance: sites, demand points, demand groups after the exact
aggregation, budget, method, wall and CPU time (this process and its area workers),
the machine's 1-minute load average before and after the run (``os.getloadavg()``),
the objective (served - weight x double parking - cost of changes, deliveries a day),
its proven bound and the standard relative gap |bound - objective| / |objective|, with
the absolute gap in deliveries a day beside it, and that absolute gap over the
objective without its constant -w x all demand (the layout's own value, (1 + w) x
served - costs): the standard gap depends on where that constant puts zero (the
cliff model's objective is near 0, the walking model's well below), this one does not.
Writes bench/results/optimiser.md (the optimiser README's benchmark block, copied by
``python bench/update_readme.py --readme optimiser/README.md``) and optimiser.json,
with the command, the machine and ``uptime`` before and after.

Methods: lp+scip (``placement.optimise``: LP bound, greedy and rounded layouts, SCIP
on the LP neighbourhood, SCIP after reduced-cost fixing), scip-only, cp-sat-only
(greedy hint), components (``areas.solve_by_component``: independent components, the
bay budget priced), areas (``areas.solve_by_area`` on a 2.3 km grid, border demand
priced). Models: walk (issue 11's walking cost with a limit) and cliff (the former
100 m cut-off), for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from optimiser.areas import component_areas, grid_areas, solve_by_area, solve_by_component
from optimiser.errors import OptimiserInputError
from optimiser.generate import generated_city
from optimiser.greedy import greedy_layout
from optimiser.inputs import TYPICAL_URBAN_PROFILE, Budget, Rules, Sites
from optimiser.placement import (
    PlacementProblem,
    PlacementSolution,
    SolveOptions,
    objective_offset,
    optimise,
    solve,
)
from optimiser.problem import build_problem

ROOT = Path(__file__).resolve().parents[1]


def _solve(
    problem: PlacementProblem, sites: Sites, method: str, limit_s: float, cell_m: float
) -> PlacementSolution:
    if method == "areas":
        return solve_by_area(problem, grid_areas(sites, cell_m), SolveOptions(time_limit_s=limit_s))
    if method == "components":
        return solve_by_component(problem, SolveOptions(time_limit_s=limit_s))
    if method == "component-areas":
        return solve_by_area(problem, component_areas(problem), SolveOptions(time_limit_s=limit_s))
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


RULES = {
    # The model of issue 11: walking share 1 up to 25 m, linear to 0 at 100 m, straight
    # line x 1.3 (optimiser.walking).
    "walk": Rules(),
    # The former model, for comparison: everything within 100 m straight line counts in full.
    "cliff": Rules(walk_full_m=100.0, walk_detour_factor=1.0),
}


def run(
    name: str,
    n_cand: int,
    n_dem: int,
    area_km2: float,
    budget: int,
    limit_s: float,
    method: str,
    cell_m: float = 2300.0,
    model: str = "walk",
) -> dict[str, Any]:
    """Build and solve one instance; print its row and return it as a dict."""
    t0 = time.perf_counter()
    sites, demand = generated_city(n_cand, n_dem, area_km2, seed=1)
    problem = build_problem(
        sites, demand, TYPICAL_URBAN_PROFILE, 0.25, Budget(max_added=budget), RULES[model]
    )
    prep = time.perf_counter() - t0
    row: dict[str, Any] = {
        "instance": name,
        "model": model,
        "sites": n_cand,
        "demand_points": n_dem,
        "groups": len(problem.groups.daily),
        "budget": budget,
        "method": method,
        "limit_s": limit_s,
        "prep_s": round(prep, 1),
    }
    head = (
        f"{name:<15} model={model:<5} sites={n_cand:>6} demand={n_dem:>7}"
        f" groups={len(problem.groups.daily):>6} budget={budget:>5} method={method:<15}"
        f" limit={limit_s:>3.0f}s"
    )
    load0 = os.getloadavg()[0]
    t1 = time.perf_counter()
    c1 = _cpu_s()
    try:
        sol = _solve(problem, sites, method, limit_s, cell_m)
    except OptimiserInputError as exc:
        wall = time.perf_counter() - t1
        print(f"{head} wall={wall:6.1f}s -> {exc}", flush=True)
        row.update(wall_s=round(wall, 1), cpu_s=round(_cpu_s() - c1, 1), error=str(exc))
        row.update(load_before=round(load0, 1), load_after=round(os.getloadavg()[0], 1))
        return row
    wall = time.perf_counter() - t1
    cpu = _cpu_s() - c1
    load = os.getloadavg()[0]
    # The objective includes the constant -w x all demand; the absolute gap is also given
    # against the layout's own value (objective minus that constant).
    value = sol.objective - objective_offset(problem)
    row.update(
        wall_s=round(wall, 1),
        cpu_s=round(cpu, 1),
        load_before=round(load0, 1),
        load_after=round(load, 1),
        objective=round(sol.objective, 2),
        bound=round(sol.bound, 2),
        gap=sol.gap,
        abs_gap=round(sol.abs_gap, 2),
        gap_vs_value=sol.abs_gap / abs(value) if value else None,
        status=sol.status,
        served=round(sol.served, 1),
        total_daily=round(problem.total_daily, 1),
        solver=sol.solver,
    )
    print(
        f"{head} wall={wall:6.1f}s cpu={cpu:6.1f}s load={load0:.1f}->{load:.1f}"
        f" (+{prep:.1f}s prep) objective={sol.objective:9.1f} bound={sol.bound:9.1f}"
        f" gap={sol.gap:6.2%} abs_gap={sol.abs_gap:6.1f}/day"
        f" ({row['gap_vs_value']:.2%} of the objective without its constant)"
        f" status={sol.status} served={sol.served:.0f}/{problem.total_daily:.0f} per day",
        flush=True,
    )
    return row


def _uptime() -> str:
    try:
        return subprocess.run(
            ["uptime"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        one, five, fifteen = os.getloadavg()
        return f"load average: {one:.2f}, {five:.2f}, {fifteen:.2f}"


def write_results(
    out: Path,
    command: str,
    rows: list[dict[str, Any]],
    up: tuple[str, ...],
    saved: dict[str, Any] | None = None,
) -> None:
    """bench/results/optimiser.md (the README block) and optimiser.json; ``saved``: the
    JSON of an earlier run, rendered again (its machine and date kept)."""
    out.mkdir(parents=True, exist_ok=True)
    machine = saved["machine"] if saved else f"{platform.machine()}, {os.cpu_count()} cores"
    when = saved["date"] if saved else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    (out / "optimiser.json").write_text(
        json.dumps(
            {"command": command, "machine": machine, "date": when, "uptime": up, "rows": rows},
            indent=1,
        )
    )
    lines = [
        f"`{command}` on {machine} ({when}); `uptime` before: `{up[0]}`; after: `{up[1]}`.",
        "",
        "| instance | walking model | sites | demand points | groups | budget | method | limit s"
        " | wall s | CPU s | load before → after | objective | bound | gap | abs gap /day"
        " | abs gap / (objective − constant) | status |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(
                f"| {r['instance']} | {r['model']} | {r['sites']} | {r['demand_points']}"
                f" | {r['groups']} | {r['budget']} | {r['method']} | {r['limit_s']:g}"
                f" | {r['wall_s']} | {r['cpu_s']} | {r['load_before']} → {r['load_after']}"
                f" | {r['error']} | | | | | |"
            )
            continue
        lines.append(
            f"| {r['instance']} | {r['model']} | {r['sites']} | {r['demand_points']}"
            f" | {r['groups']} | {r['budget']} | {r['method']} | {r['limit_s']:g}"
            f" | {r['wall_s']} | {r['cpu_s']} | {r['load_before']} → {r['load_after']}"
            f" | {r['objective']:.1f} | {r['bound']:.1f} | {r['gap']:.2%} | {r['abs_gap']:.1f}"
            f" | {r['gap_vs_value']:.2%} | {r['status']} |"
        )
    lines += [
        "",
        "CPU s: this process and its area workers. Objective: served − weight × double"
        " parking − cost of changes (deliveries a day, constant −w × all demand included);"
        " gap = |bound − objective| / |objective| (issue 11's definition); the last gap"
        " column divides the absolute gap by the objective without that constant"
        " ((1 + w) × served − costs), a scale the constant does not move.",
    ]
    (out / "optimiser.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=["arrondissement", "paris"], default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument(
        "--render", action="store_true", help="rewrite optimiser.md from optimiser.json (no run)"
    )
    args = ap.parse_args()
    if args.render:
        saved = json.loads((args.out / "optimiser.json").read_text())
        write_results(args.out, saved["command"], saved["rows"], tuple(saved["uptime"]), saved)
        return
    command = "python -m bench.bench_optimiser" + "".join(
        f" {a}" for a in sys.argv[1:] if a != "--no-write"
    )
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores", flush=True)
    up0 = _uptime()
    print(up0, flush=True)
    rows = []
    if args.quick:
        rows.append(run("small", 100, 1000, 1.0, 20, 5, "lp+scip"))
        rows.append(run("small-areas", 400, 4000, 4.0, 80, 10, "components"))
    else:
        if args.only in (None, "arrondissement"):
            for method in ("lp+scip", "scip-only", "cp-sat-only"):
                rows.append(run("arrondissement", 500, 5000, 5.3, 100, 10, method))
            rows.append(run("arrondissement", 500, 5000, 5.3, 100, 10, "lp+scip", model="cliff"))
        if args.only in (None, "paris"):
            rows.append(run("paris", 10_000, 100_000, 105.0, 2000, 60, "components"))
            rows.append(run("paris", 10_000, 100_000, 105.0, 2000, 60, "areas"))
    up1 = _uptime()
    print(up1, flush=True)
    if not args.no_write and not args.quick:
        write_results(args.out, command, rows, (up0, up1))


if __name__ == "__main__":
    main()
