"""The placement model on CP-SAT (integers): loads in tenths of a delivery a day,
secant coefficients and walking shares rounded against the model, so the integer
model never promises more than Erlang-B. That rounding makes it a *restriction* of the model described in
``optimiser.placement``: its own bound is not a bound of that model (measured: 132.996
"optimal" where 133.135 is), so it is not reported. The layout CP-SAT finds is
evaluated exactly (its optimal assignment, a linear programme) and the bound reported
is the LP relaxation of the described model (GLOP), which is valid; the status is
OPTIMAL only when the layout's exact value reaches that bound.

Kerb metres are counted in integer centimetres per bay, on both sides of the
kerb-neutral constraint, so the bays in place always satisfy it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
from ortools.sat.python import cp_model

from optimiser.errors import OptimiserInputError
from optimiser.inputs import IntArray
from optimiser.placement.model import (
    OBJ_SCALE,
    SECANT_SCALE,
    UNITS,
    PlacementProblem,
    PlacementSolution,
    SolveOptions,
    _floor,
    curves,
    group_units,
    integer_secants,
)

SHARE_SCALE = 1000  # fixed-point scale of a group's demand cap over sites it shares


def solve_cpsat(
    problem: PlacementProblem,
    opts: SolveOptions,
    hint: IntArray | None,
    fix_bays: IntArray | None,
    progress: Callable[[str], None] | None,
) -> PlacementSolution:
    """Solve the placement model with OR-Tools CP-SAT (loads scaled to integers, ``UNITS``
    per delivery), from an optional ``hint``; ``fix_bays`` (when given) fixes each site's bays.
    """
    t0 = time.perf_counter()
    sites, groups, budget, costs = problem.sites, problem.groups, problem.budget, problem.costs
    _, crv = curves(problem)
    m = cp_model.CpModel()
    n_sites = len(sites)
    dem_u = group_units(problem)
    # Each group's load at a site in whole units: floor(share x demand), and its demand
    # cap with per-site costs ceil(SHARE_SCALE / share); both round against the model,
    # so this integer model stays a restriction of the described one.
    load_u = [
        np.floor(groups.share_of(g) * du + 1e-9).astype(np.int64) for g, du in enumerate(dem_u)
    ]
    reach_u = np.zeros(n_sites, dtype=np.int64)
    for lu, r in zip(load_u, groups.reach, strict=True):
        reach_u[r] += lu

    # Assignment of group demand to sites in reach: y[g, j] is the load (units) g brings j.
    site_in: list[list[cp_model.IntVar]] = [[] for _ in range(n_sites)]
    x_of: dict[tuple[int, int], cp_model.IntVar] = {}
    for g, (du, r) in enumerate(zip(dem_u, groups.reach, strict=True)):
        if du <= 0:
            continue
        f = groups.share_of(g)
        xs, cost = [], []
        for i, j in enumerate(r):
            if sites.max_bays[j] == 0 or load_u[g][i] <= 0:
                continue
            v = m.new_int_var(0, int(load_u[g][i]), f"x{g}_{j}")
            x_of[(g, int(j))] = v
            site_in[int(j)].append(v)
            xs.append(v)
            cost.append(math.ceil(SHARE_SCALE / float(f[i]) - 1e-9))
        if len(xs) > 1 or (xs and cost[0] != SHARE_SCALE):
            m.add(sum(c * v for c, v in zip(cost, xs, strict=True)) <= SHARE_SCALE * du)

    served_terms: list[cp_model.IntVar] = []
    z_of: dict[tuple[int, int], cp_model.IntVar] = {}
    added_terms: list[cp_model.LinearExprT] = []
    removed_terms: list[cp_model.LinearExprT] = []
    new_kerb_terms: list[cp_model.LinearExprT] = []
    total_kerb_terms: list[cp_model.LinearExprT] = []
    kerb_cm = np.round(sites.bay_length_m * 100).astype(np.int64)  # centimetres a bay
    avail = np.floor(sites.availability() * SECANT_SCALE).astype(np.int64)
    for j in range(n_sites):
        k_max, e = int(sites.max_bays[j]), int(sites.existing[j])
        if k_max == 0:
            continue
        k_min = e if sites.fixed[j] else 0
        if fix_bays is not None:
            k_min = k_max = int(fix_bays[j])
        options_k = list(range(k_min, k_max + 1))
        zs = {k: m.new_bool_var(f"z{j}_{k}") for k in options_k}
        for k, z in zs.items():
            z_of[(j, k)] = z
        m.add_exactly_one(zs.values())
        load_in = site_in[j]
        a_parts = []
        cap = int(reach_u[j])
        for k, z in zs.items():
            if k == 0:
                continue
            a = m.new_int_var(0, cap, f"a{j}_{k}")
            m.add(a <= cap * z)
            a_parts.append(a)
            s = m.new_int_var(0, cap, f"s{j}_{k}")
            for c_, m_ in integer_secants(crv[k], cap):
                # Misuse leaves a share of the curve (rounded down, as the secants are).
                m.add(SECANT_SCALE * SECANT_SCALE * s <= int(avail[j]) * (c_ * z + m_ * a))
            served_terms.append(s)
        if load_in:
            m.add(sum(load_in) == sum(a_parts) if a_parts else sum(load_in) == 0)
        if 0 in zs:
            # Strong linking (as in facility location): a group sends demand only to an
            # open site. Implied by the aggregate cap in integers, but without it the LP
            # relaxation spreads fractional bays over every site and the bound is weak.
            for v in load_in:
                m.add(v <= v.proto.domain[1] * (1 - zs[0]))
        added_terms.append(sum(max(0, k - e) * z for k, z in zs.items()))
        removed_terms.append(sum(max(0, e - k) * z for k, z in zs.items()))
        new_kerb_terms.append(sum(max(0, k - e) * int(kerb_cm[j]) * z for k, z in zs.items()))
        total_kerb_terms.append(sum(k * int(kerb_cm[j]) * z for k, z in zs.items()))
        if hint is not None and int(hint[j]) in zs:
            for k, z in zs.items():
                m.add_hint(z, k == int(hint[j]))

    added = cp_model.LinearExpr.sum(added_terms)
    removed = cp_model.LinearExpr.sum(removed_terms)
    if budget.max_added is not None:
        m.add(added <= budget.max_added)
    if budget.max_removed is not None:
        m.add(removed <= budget.max_removed)
    if budget.max_changes is not None:
        m.add(added + removed <= budget.max_changes)
    if budget.max_new_kerb_m is not None:
        m.add(sum(new_kerb_terms) <= _floor(budget.max_new_kerb_m * 100))
    if budget.max_total_kerb_m is not None:
        m.add(sum(total_kerb_terms) <= _floor(budget.max_total_kerb_m * 100))
    if budget.kerb_neutral:
        # The same integers on both sides: the bays in place meet it exactly.
        now_cm = int((sites.existing * kerb_cm).sum())
        m.add(sum(total_kerb_terms) <= now_cm)

    w = costs.double_parking_weight
    m.maximize(
        _floor((1 + w) * OBJ_SCALE / UNITS) * cp_model.LinearExpr.sum(served_terms)
        - round(costs.add_cost * OBJ_SCALE) * added
        - round(costs.remove_cost * OBJ_SCALE) * removed
    )
    proto = m.proto
    n_vars, n_cons = len(proto.variables), len(proto.constraints)
    if progress:
        progress(f"model: {n_vars:,} variables, {n_cons:,} constraints; solving")

    solver = cp_model.CpSolver()
    p = solver.parameters
    p.num_workers = max(1, opts.num_workers)
    p.random_seed = opts.seed
    p.relative_gap_limit = opts.relative_gap
    p.log_search_progress = opts.log
    if opts.deterministic:
        p.interleave_search = True
        p.max_deterministic_time = opts.time_limit_s
    else:
        p.max_time_in_seconds = opts.time_limit_s
    status = solver.solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        if status == cp_model.INFEASIBLE:
            raise OptimiserInputError(
                "placement: the budget and rules admit no layout (e.g. fixed bays exceed the "
                "kerb-metre budget)"
            )
        raise OptimiserInputError(
            f"placement: no solution within {opts.time_limit_s:g} s (status "
            f"{solver.status_name(status)}); raise the time limit"
        )

    bays = sites.existing.copy()
    for (j, k), z in z_of.items():
        if solver.boolean_value(z):
            bays[j] = k
    return exact_with_lp_bound(
        problem, bays, opts, time.perf_counter() - t0, n_vars, n_cons, fix_bays is not None
    )


def exact_with_lp_bound(
    problem: PlacementProblem,
    bays: IntArray,
    opts: SolveOptions,
    wall_s: float,
    n_vars: int,
    n_cons: int,
    evaluation_only: bool,
) -> PlacementSolution:
    """A CP-SAT layout's exact value (GLOP on the model with its bays fixed) with the LP
    relaxation's bound of the described model (for an evaluation, its own value)."""
    from dataclasses import replace

    from optimiser.placement.mip import solve_mip
    from optimiser.placement.model import relative_gap

    lp_opts = replace(opts, solver="glop", time_limit_s=max(1.0, opts.time_limit_s))
    exact = solve_mip(problem, lp_opts, None, bays, None)
    if evaluation_only:
        bound = exact.objective
    else:
        relaxed = solve_mip(problem, lp_opts, None, None, None)
        bound = max(relaxed.bound, exact.objective)
    gap = relative_gap(exact.objective, bound)
    return replace(
        exact,
        bound=bound,
        gap=gap,
        abs_gap=bound - exact.objective,
        status="OPTIMAL" if gap <= max(opts.relative_gap, 1e-4) else "FEASIBLE",
        wall_s=wall_s + exact.wall_s,
        n_variables=n_vars,
        n_constraints=n_cons,
        solver="cp-sat",
    )
