"""The placement model through OR-Tools' MIP interface: SCIP for layouts, GLOP for the
LP relaxation (the bound) and for exact layout evaluations. Continuous loads, exact
secants, so its bounds are bounds of the described model."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np
from ortools.linear_solver import pywraplp

from optimiser.errors import OptimiserInputError
from optimiser.inputs import FloatArray, IntArray
from optimiser.placement.model import (
    PlacementProblem,
    PlacementSolution,
    SolveOptions,
    _solution,
    curves,
    site_reach_daily,
    total_kerb_limit,
)


def solve_mip(
    problem: PlacementProblem,
    opts: SolveOptions,
    hint: IntArray | None,
    fix_bays: IntArray | None,
    progress: Callable[[str], None] | None,
    fractional: FloatArray | None = None,
    duals: dict[str, float] | None = None,
    allowed: list[frozenset[int]] | None = None,
    reduced: dict[tuple[int, int], tuple[float, float]] | None = None,
    group_duals: FloatArray | None = None,
) -> PlacementSolution:
    """The same model through OR-Tools' MIP interface, continuous loads and exact secants.

    ``allowed`` restricts each site's bay counts (reduced-cost fixing, or a restricted
    neighbourhood); ``reduced`` receives each relaxed ``z[j, k]``'s value and reduced cost.

    With the ``glop`` backend the bay choices are relaxed to [0, 1]: the linear
    programme whose optimum bounds every layout (its expected bays per site are
    written into ``fractional``); with ``fix_bays`` it is the exact evaluation of a layout.
    """
    t0 = time.perf_counter()
    sites, groups, budget, costs = problem.sites, problem.groups, problem.budget, problem.costs
    _, crv = curves(problem)
    # No "highs": OR-Tools' HIGHS backend crashed the process (segmentation fault) on this
    # model (issue 11's measurements); the HiGHS cross-check uses highspy directly.
    backend = {"scip": "SCIP", "cbc": "CBC", "glop": "GLOP"}.get(opts.solver)
    if backend is None:
        raise OptimiserInputError(f"solver: {opts.solver!r} is not one of scip, cbc, glop")
    relax = backend == "GLOP"
    mip = pywraplp.Solver.CreateSolver(backend)
    if mip is None:
        raise OptimiserInputError(f"solver: OR-Tools has no {backend} backend here")
    n_sites = len(sites)
    reach = site_reach_daily(problem)
    avail = sites.availability()
    openable = sites.max_bays > 0
    if allowed is not None:
        openable &= np.array([max(a, default=0) > 0 for a in allowed])
    if fix_bays is not None:
        # An evaluation: a closed site takes no demand, so it needs no assignment
        # variables (the strong linking would force them to 0); a smaller, equal model.
        openable &= np.asarray(fix_bays) > 0
    # Per site: (x[g, j], d_g, share f[g, j]); the site's load is sum f[g, j] x[g, j].
    site_in: list[list[tuple[pywraplp.Variable, float, float]]] = [[] for _ in range(n_sites)]
    priced_terms = []
    # Each group's demand cap: a constraint, or the bound of its one variable.
    caps: list[tuple[pywraplp.Constraint | None, pywraplp.Variable | None]] = []
    for g, (d, r) in enumerate(zip(groups.daily, groups.reach, strict=True)):
        xs = []
        for j, f in zip(r, groups.share_of(g), strict=True):
            if not openable[j]:
                continue
            v = mip.NumVar(0.0, float(d), f"x{g}_{j}")
            site_in[int(j)].append((v, float(d), float(f)))
            xs.append(v)
        if len(xs) > 1:
            caps.append((mip.Add(mip.Sum(xs) <= float(d)), None))
        else:
            caps.append((None, xs[0] if xs else None))
        if problem.group_price is not None and problem.group_price[g] > 0:
            priced_terms.append(float(problem.group_price[g]) * mip.Sum(xs))
    served_terms = []
    added_terms, removed_terms, new_kerb, total_kerb = [], [], [], []
    z_of: dict[tuple[int, int], pywraplp.Variable] = {}
    for j in range(n_sites):
        k_max, e = int(sites.max_bays[j]), int(sites.existing[j])
        if k_max == 0 or (not openable[j] and e == 0):
            continue
        k_min = e if sites.fixed[j] else 0
        if fix_bays is not None:
            k_min = k_max = int(fix_bays[j])
        zs = {
            k: mip.NumVar(0.0, 1.0, f"z{j}_{k}") if relax else mip.BoolVar(f"z{j}_{k}")
            for k in range(k_min, k_max + 1)
            if allowed is None or k in allowed[j]
        }
        z_of.update({(j, k): z for k, z in zs.items()})
        mip.Add(mip.Sum(list(zs.values())) == 1)
        cap = float(reach[j])
        parts = []
        for k, z in zs.items():
            if k == 0:
                continue
            a = mip.NumVar(0.0, cap, f"a{j}_{k}")
            mip.Add(a <= cap * z)
            parts.append(a)
            sv = mip.NumVar(0.0, cap, f"s{j}_{k}")
            for x0, sec in zip(crv[k].breakpoints, crv[k].secants, strict=False):
                if x0 > cap and x0 > 0:
                    break
                mip.Add(sv <= float(avail[j]) * (sec.intercept * z + sec.slope * a))
            served_terms.append(sv)
        loads = [f * v for v, _, f in site_in[j]]
        if loads:
            mip.Add(mip.Sum(loads) == mip.Sum(parts) if parts else mip.Sum(loads) == 0)
        if 0 in zs:
            for v, d, _ in site_in[j]:  # strong linking, as in the CP-SAT model
                mip.Add(v <= d * (1 - zs[0]))
        added_terms += [max(0, k - e) * z for k, z in zs.items() if k > e]
        removed_terms += [max(0, e - k) * z for k, z in zs.items() if k < e]
        new_kerb += [
            max(0, k - e) * float(sites.bay_length_m[j]) * z for k, z in zs.items() if k > e
        ]
        total_kerb += [k * float(sites.bay_length_m[j]) * z for k, z in zs.items() if k > 0]
    added, removed = mip.Sum(added_terms), mip.Sum(removed_terms)
    added_con = None
    if budget.max_added is not None:
        added_con = mip.Add(added <= budget.max_added)
    if budget.max_removed is not None:
        mip.Add(removed <= budget.max_removed)
    if budget.max_changes is not None:
        mip.Add(added + removed <= budget.max_changes)
    if budget.max_new_kerb_m is not None:
        mip.Add(mip.Sum(new_kerb) <= budget.max_new_kerb_m)
    kerb_limit = total_kerb_limit(budget, sites)
    if kerb_limit is not None:
        # Tolerance of the solvers' feasibility checks: the status quo stays feasible.
        mip.Add(mip.Sum(total_kerb) <= kerb_limit + 1e-6)
    w = costs.double_parking_weight
    mip.Maximize(
        (1 + w) * mip.Sum(served_terms)
        - costs.add_cost * added
        - costs.remove_cost * removed
        - mip.Sum(priced_terms)
    )
    if hint is not None:
        hv = [z for (j, k), z in z_of.items()]
        mip.SetHint(hv, [1.0 if int(hint[j]) == k else 0.0 for (j, k) in z_of])
    n_vars, n_cons = mip.NumVariables(), mip.NumConstraints()
    if progress:
        progress(f"model: {n_vars:,} variables, {n_cons:,} constraints; solving ({backend})")
    mip.SetTimeLimit(max(1, int(opts.time_limit_s * 1000)))
    # SCIP with more than one thread runs concurrent solvers, which measured worse here
    # (a better layout found by one solver was lost at the time limit) and nondeterministic.
    threads = 1 if backend == "SCIP" else max(1, min(opts.num_workers, os.cpu_count() or 1))
    mip.SetNumThreads(threads)
    params = pywraplp.MPSolverParameters()
    params.SetDoubleParam(params.RELATIVE_MIP_GAP, max(opts.relative_gap, 1e-4))
    if opts.log:
        mip.EnableOutput()
    if backend == "SCIP":
        # The hint gives the bays only; SCIP completes the rest (loads, served) with a
        # sub-MIP, which it skips by default when over 85 % of the variables are unknown.
        mip.SetSolverSpecificParametersAsString(
            f"randomization/randomseedshift = {opts.seed}\n"
            "heuristics/completesol/maxunknownrate = 1.0\n" + opts.scip_params
        )
    status = mip.Solve(params)
    if status == pywraplp.Solver.INFEASIBLE:
        raise OptimiserInputError(
            "placement: the budget and rules admit no layout (e.g. fixed bays exceed the "
            "kerb-metre budget)"
        )
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        raise OptimiserInputError(
            f"placement: no solution within {opts.time_limit_s:g} s; raise the time limit"
        )
    bays = sites.existing.copy()
    for (j, k), z in z_of.items():
        if z.solution_value() > 0.5:
            bays[j] = k
        if fractional is not None:
            fractional[j] += k * z.solution_value()
    load = np.zeros(n_sites)
    for j in range(n_sites):
        load[j] = sum(f * v.solution_value() for v, _, f in site_in[j])
    if group_duals is not None and relax:
        # What one more delivery of the group's demand is worth to the LP.
        for g, (con, var) in enumerate(caps):
            if con is not None:
                group_duals[g] = abs(con.dual_value())
            elif var is not None:
                group_duals[g] = abs(var.reduced_cost())
    if reduced is not None and relax:
        for jk, z in z_of.items():
            reduced[jk] = (z.solution_value(), z.reduced_cost())
    obj = mip.Objective().Value()
    bound = obj if relax else mip.Objective().BestBound()
    if duals is not None and relax and added_con is not None:
        # The LP value is concave in the bay budget; this is its slope (a supergradient).
        duals["max_added"] = abs(added_con.dual_value())
    # OPTIMAL here means within the relative gap asked for; the gap itself is reported.
    return _solution(
        problem,
        crv,
        bays,
        load,
        obj,
        bound,
        "OPTIMAL" if status == pywraplp.Solver.OPTIMAL else "FEASIBLE",
        time.perf_counter() - t0,
        n_vars,
        n_cons,
        backend.lower(),
    )
