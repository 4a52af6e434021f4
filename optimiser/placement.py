"""The placement model: where bays should be, with Erlang-B loss, solved with OR-Tools.

Model (one day; deliveries a day is the unit of the objective):

- site j holds ``n_j`` in 0..max_bays_j bays, as a one-hot ``z[j, k]``;
- demand group g (points with the same reach set) sends ``x[g, j]`` of its
  deliveries to site j within walking reach, at most its demand in total;
- a site's load is split by its bay count (``A[j, k] <= reach_j * z[j, k]``), and
  what it serves is bounded by the secants of the Erlang-B served curve of ``k``
  bays (``S[j, k] <= c_l z[j, k] + m_l A[j, k]``): the perspective of a concave curve,
  i.e. the convex hull of each site's choice, the tightest per-site relaxation;
- demand goes only to open sites (``x[g, j] <= d_g (1 - z[j, 0])``);
- deliveries not served (blocked at a full site, or with no site in reach) double park.

Objective: served - weight * expected double parking - cost of changes. Solved
through OR-Tools' MIP interface (SCIP, with GLOP for the LP bound and for exact
layout evaluations; ``optimise`` is the full method) or with CP-SAT. CP-SAT works
in integers, so loads are counted in tenths of a delivery a day and coefficients
rounded down (never promising more than the curve). The bound CP-SAT proves is a
bound of this linearised integer model; the Erlang-B value of the chosen bays,
evaluated exactly afterwards, is reported beside it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

from optimiser.distances import Groups
from optimiser.erlang import ServedCurve, geometric_breakpoints, served_curve, served_per_day
from optimiser.errors import OptimiserInputError
from optimiser.inputs import Budget, Costs, FloatArray, IntArray, Rules, Sites

UNITS = 10  # loads in tenths of a delivery a day
SECANT_SCALE = 1000  # fixed-point scale of secant coefficients
OBJ_SCALE = 1000  # objective in thousandths of a delivery a day


@dataclass(frozen=True, eq=False)
class PlacementProblem:
    sites: Sites
    groups: Groups
    profile: tuple[float, ...]
    dwell_h: float
    budget: Budget
    rules: Rules
    costs: Costs
    total_daily: float  # all demand, including points with no site in reach
    # A price per delivery sent to a site, per group (Lagrangian multipliers on demand
    # shared with another area; used by the area bound only, MIP interface only).
    group_price: FloatArray | None = None

    def __post_init__(self) -> None:
        if len(self.groups.daily) == 0 or not np.any(self.sites.max_bays > 0):
            raise OptimiserInputError(
                "no candidate within reach of any demand point "
                f"(walk limit {self.rules.walk_limit_m:g} m): nothing to optimise"
            )


@dataclass(frozen=True)
class SolveOptions:
    time_limit_s: float = 10.0
    num_workers: int = 8  # below 8 CP-SAT lacks the LP/bound workers that close covering gaps
    seed: int = 0
    relative_gap: float = 0.0
    # "scip" (MIP interface, the default: measured far faster on this model, whose
    # assignment part is a large LP) or "cp-sat" (integer-scaled, deterministic mode).
    solver: str = "scip"
    # Stop on CP-SAT's deterministic clock (with interleaved search) instead of the
    # wall clock, so that a fixed seed and worker count gives the same answer.
    deterministic: bool = False
    log: bool = False
    # Extra SCIP settings, in SCIP's ".set" syntax (one "name = value" a line).
    scip_params: str = ""


@dataclass(frozen=True, eq=False)
class PlacementSolution:
    bays: IntArray  # bays per site after the changes
    load: FloatArray  # deliveries a day sent to each site
    served_model: FloatArray  # linearised served deliveries a day per site
    served_erlang: FloatArray  # Erlang-B served deliveries a day per site (exact)
    objective: float  # served - weight * double parking - cost of changes (deliveries a day)
    bound: float  # proven upper bound on that objective (of the linearised model)
    # Relative gap, measured on the objective before its constant -weight * all demand
    # (a constant shifts the objective, not the gap in deliveries: ``abs_gap``).
    gap: float
    abs_gap: float
    status: str
    wall_s: float
    total_daily: float
    linearisation_error: float  # largest shortfall of the secants vs Erlang-B, per site-day
    n_variables: int
    n_constraints: int
    solver: str

    @property
    def served(self) -> float:
        return float(self.served_erlang.sum())

    @property
    def double_parking(self) -> float:
        return self.total_daily - self.served


def _floor(v: float) -> int:
    return math.floor(v + 1e-9)


def site_reach_daily(problem: PlacementProblem) -> FloatArray:
    """Demand (deliveries a day) within reach of each site."""
    out = np.zeros(len(problem.sites))
    for d, r in zip(problem.groups.daily, problem.groups.reach, strict=True):
        out[r] += d
    return out


def curves(problem: PlacementProblem) -> tuple[tuple[float, ...], list[ServedCurve]]:
    """Served curves for 0..max bays on one shared breakpoint grid."""
    reach = site_reach_daily(problem)
    top = float(max(reach.max(initial=0.0), 1.0))
    bps = geometric_breakpoints(top)
    k_max = int(problem.sites.max_bays.max(initial=0))
    return bps, [served_curve(k, bps, problem.profile, problem.dwell_h) for k in range(k_max + 1)]


def integer_secants(curve: ServedCurve, cap_units: int) -> list[tuple[int, int]]:
    """The secants the integer model uses for a site whose load is at most ``cap_units``.

    Coefficients are rounded down, so the integer model never promises more than the
    curve; a secant whose segment starts beyond the cap is implied by the earlier
    ones on the reachable range and left out.
    """
    out: list[tuple[int, int]] = []
    for x0, sec in zip(curve.breakpoints, curve.secants, strict=False):
        if x0 * UNITS > cap_units and out:
            break
        if sec.slope <= 0 and sec.intercept <= 0:
            continue
        out.append((_floor(sec.intercept * UNITS * SECANT_SCALE), _floor(sec.slope * SECANT_SCALE)))
    return out


def served_units(curve: ServedCurve, load_units: int, cap_units: int) -> int:
    """What the integer model lets an open site serve for a load (tenths a day)."""
    secs = integer_secants(curve, cap_units)
    if not secs:
        return 0
    return max(0, min((c * 1 + m * load_units) // SECANT_SCALE for c, m in secs))


def objective_units(problem: PlacementProblem, served_u: int, added: int, removed: int) -> int:
    """The integer objective for a total served (tenths) and change counts (for brute force)."""
    c = problem.costs
    w = c.double_parking_weight
    return (
        _floor((1 + w) * OBJ_SCALE / UNITS) * served_u
        - round(c.add_cost * OBJ_SCALE) * added
        - round(c.remove_cost * OBJ_SCALE) * removed
    )


def objective_offset(problem: PlacementProblem) -> float:
    """-weight * all demand: the constant that turns served into served - w * double parking."""
    return -problem.costs.double_parking_weight * problem.total_daily


def group_units(problem: PlacementProblem) -> list[int]:
    return [round(d * UNITS) for d in problem.groups.daily]


def _solve_cpsat(
    problem: PlacementProblem,
    opts: SolveOptions,
    hint: IntArray | None,
    fix_bays: IntArray | None,
    progress: Callable[[str], None] | None,
) -> PlacementSolution:
    t0 = time.perf_counter()
    sites, groups, budget, costs = problem.sites, problem.groups, problem.budget, problem.costs
    _, crv = curves(problem)
    m = cp_model.CpModel()
    n_sites = len(sites)
    dem_u = group_units(problem)
    reach_u = np.zeros(n_sites, dtype=np.int64)
    for du, r in zip(dem_u, groups.reach, strict=True):
        reach_u[r] += du

    # Assignment of group demand to sites in reach.
    site_in: list[list[cp_model.IntVar]] = [[] for _ in range(n_sites)]
    x_of: dict[tuple[int, int], cp_model.IntVar] = {}
    for g, (du, r) in enumerate(zip(dem_u, groups.reach, strict=True)):
        if du <= 0:
            continue
        xs = []
        for j in r:
            if sites.max_bays[j] == 0:
                continue
            v = m.new_int_var(0, du, f"x{g}_{j}")
            x_of[(g, int(j))] = v
            site_in[int(j)].append(v)
            xs.append(v)
        if len(xs) > 1:
            m.add(sum(xs) <= du)

    served_terms: list[cp_model.IntVar] = []
    z_of: dict[tuple[int, int], cp_model.IntVar] = {}
    added_terms: list[cp_model.LinearExprT] = []
    removed_terms: list[cp_model.LinearExprT] = []
    new_kerb_terms: list[cp_model.LinearExprT] = []
    total_kerb_terms: list[cp_model.LinearExprT] = []
    kerb_dm = np.round(sites.bay_length_m * 10).astype(np.int64)  # decimetres
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
                m.add(SECANT_SCALE * s <= c_ * z + m_ * a)
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
        new_kerb_terms.append(sum(max(0, k - e) * int(kerb_dm[j]) * z for k, z in zs.items()))
        total_kerb_terms.append(sum(k * int(kerb_dm[j]) * z for k, z in zs.items()))
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
        m.add(sum(new_kerb_terms) <= _floor(budget.max_new_kerb_m * 10))
    if budget.max_total_kerb_m is not None:
        m.add(sum(total_kerb_terms) <= _floor(budget.max_total_kerb_m * 10))

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
    load = np.zeros(n_sites)
    for (_, j), v in x_of.items():
        load[j] += solver.value(v) / UNITS
    return _solution(
        problem,
        crv,
        bays,
        load,
        solver.objective_value / OBJ_SCALE,
        solver.best_objective_bound / OBJ_SCALE,
        "OPTIMAL" if status == cp_model.OPTIMAL else "FEASIBLE",
        time.perf_counter() - t0,
        n_vars,
        n_cons,
        "cp-sat",
    )


def _solution(
    problem: PlacementProblem,
    crv: list[ServedCurve],
    bays: IntArray,
    load: FloatArray,
    objective: float,
    bound: float,
    status: str,
    wall_s: float,
    n_vars: int,
    n_cons: int,
    solver: str,
) -> PlacementSolution:
    served_model = np.array(
        [crv[int(b)].value(lo) if b > 0 else 0.0 for b, lo in zip(bays, load, strict=True)]
    )
    served_erlang = np.array(
        [
            served_per_day(int(b), lo, problem.profile, problem.dwell_h) if b > 0 else 0.0
            for b, lo in zip(bays, load, strict=True)
        ]
    )
    offset = objective_offset(problem)
    bound = max(bound, objective)  # a solver may report a bound a rounding below its value
    return PlacementSolution(
        bays=bays,
        load=load,
        served_model=served_model,
        served_erlang=served_erlang,
        objective=objective + offset,
        bound=bound + offset,
        gap=(bound - objective) / max(1.0, abs(bound)),
        abs_gap=bound - objective,
        status=status,
        wall_s=wall_s,
        total_daily=problem.total_daily,
        linearisation_error=max(c.max_error for c in crv),
        n_variables=n_vars,
        n_constraints=n_cons,
        solver=solver,
    )


def solve(
    problem: PlacementProblem,
    options: SolveOptions | None = None,
    hint: IntArray | None = None,
    fix_bays: IntArray | None = None,
    progress: Callable[[str], None] | None = None,
    allowed: list[frozenset[int]] | None = None,
) -> PlacementSolution:
    """Build and solve the model; ``hint`` warm-starts bays, ``fix_bays`` evaluates a layout,
    ``allowed`` restricts each site's bay counts (MIP interface only)."""
    opts = options or SolveOptions()
    if opts.solver == "cp-sat":
        return _solve_cpsat(problem, opts, hint, fix_bays, progress)
    return _solve_mip(problem, opts, hint, fix_bays, progress, allowed=allowed)


def lp_relaxation(
    problem: PlacementProblem,
    duals: dict[str, float] | None = None,
    reduced: dict[tuple[int, int], tuple[float, float]] | None = None,
    group_duals: FloatArray | None = None,
) -> tuple[float, FloatArray]:
    """The LP bound (objective units, offset included) and the expected bays per site;
    ``reduced`` receives each ``z[j, k]``'s LP value and reduced cost."""
    frac = np.zeros(len(problem.sites))
    sol = _solve_mip(
        problem,
        SolveOptions(solver="glop"),
        None,
        None,
        None,
        fractional=frac,
        duals=duals,
        reduced=reduced,
        group_duals=group_duals,
    )
    return sol.bound, frac


def reduced_cost_fixing(
    problem: PlacementProblem,
    reduced: dict[tuple[int, int], tuple[float, float]],
    lp_bound: float,
    incumbent: float,
) -> list[frozenset[int]]:
    """The bay counts each site may still take in a layout better than ``incumbent``.

    A ``z[j, k]`` the LP leaves at a bound with reduced cost r: moving it off that bound
    costs the LP at least |r|, so if ``lp_bound - |r| < incumbent`` no better layout
    moves it. The full model's optimum is then either the incumbent or a layout of the
    restricted model, so a bound of the restricted model (or the incumbent, whichever is
    larger) is a bound of the full model.
    """
    s = problem.sites
    allowed = [
        set(range(int(s.existing[j]) if s.fixed[j] else 0, int(s.max_bays[j]) + 1))
        if s.max_bays[j] > 0
        else {0}
        for j in range(len(s))
    ]
    margin = lp_bound - incumbent + 1e-3 + 1e-6 * abs(lp_bound)  # GLOP's tolerances
    for (j, k), (val, rc) in reduced.items():
        if abs(rc) <= margin:
            continue
        if val <= 1e-9:
            allowed[j].discard(k)
        elif val >= 1 - 1e-9:
            allowed[j] = {k}
    # A site always keeps one choice (the LP's, which is never fixed away).
    return [frozenset(a) if a else frozenset({0}) for a in allowed]


def evaluate_layout(problem: PlacementProblem, bays: IntArray) -> PlacementSolution:
    """The exact value of a layout: with the bays fixed the model is a linear programme
    (the best assignment of demand to them), solved by GLOP."""
    return _solve_mip(problem, SolveOptions(solver="glop"), None, bays, None)


def layout_feasible(problem: PlacementProblem, bays: IntArray) -> bool:
    """Whether a layout keeps every hard rule and the budget."""
    s, b = problem.sites, problem.budget
    if np.any(bays < 0) or np.any(bays > s.max_bays) or np.any(bays[s.fixed] < s.existing[s.fixed]):
        return False
    added = int(np.maximum(bays - s.existing, 0).sum())
    removed = int(np.maximum(s.existing - bays, 0).sum())
    new_kerb = float((np.maximum(bays - s.existing, 0) * s.bay_length_m).sum())
    total_kerb = float((bays * s.bay_length_m).sum())
    return (
        (b.max_added is None or added <= b.max_added)
        and (b.max_removed is None or removed <= b.max_removed)
        and (b.max_changes is None or added + removed <= b.max_changes)
        and (b.max_new_kerb_m is None or new_kerb <= b.max_new_kerb_m + 1e-9)
        and (b.max_total_kerb_m is None or total_kerb <= b.max_total_kerb_m + 1e-9)
    )


def round_layout(problem: PlacementProblem, fractional: FloatArray) -> IntArray | None:
    """LP rounding: keep the whole bays the LP opens, then add bays where its fractions are
    largest while the budget allows. ``None`` when rounding down already breaks a rule."""
    bays = np.floor(fractional + 1e-6).astype(np.int64)
    bays = np.maximum(bays, np.where(problem.sites.fixed, problem.sites.existing, 0))
    if not layout_feasible(problem, bays):
        return None
    rest = fractional - bays
    for j in np.argsort(-rest):
        if rest[j] <= 1e-6:
            break
        bays[j] += 1
        if not layout_feasible(problem, bays):
            bays[j] -= 1
    return bays


def optimise(
    problem: PlacementProblem,
    options: SolveOptions | None = None,
    hint: IntArray | None = None,
    progress: Callable[[str], None] | None = None,
    group_duals: FloatArray | None = None,
) -> PlacementSolution:
    """The full method: LP bound, greedy and LP-rounded layouts, then the MIP (or CP-SAT)
    warm-started from the better of the two for the time left; best layout, tightest bound.

    Every layout is evaluated exactly (its optimal assignment, a linear programme), and
    the bound is the better of the LP relaxation and the solver's own, so the gap is honest.
    """
    opts = options or SolveOptions()
    t0 = time.perf_counter()
    say = progress or (lambda _: None)
    from optimiser.greedy import greedy_layout  # greedy imports this module

    layouts = [hint] if hint is not None else []
    # The greedy's saturation threshold matters (on the benchmark arrondissement the
    # layouts it gives differ by 30 deliveries a day): try a few, keep the best.
    layouts += [greedy_layout(problem, theta) for theta in (0.25, 0.4, 0.55)]
    say("LP relaxation (bound)")
    reduced: dict[tuple[int, int], tuple[float, float]] = {}
    lp_bound, frac = lp_relaxation(problem, reduced=reduced, group_duals=group_duals)
    rounded = round_layout(problem, frac)
    if rounded is not None:
        layouts.append(rounded)
    best = None
    for lay in layouts:
        if layout_feasible(problem, lay):
            sol = evaluate_layout(problem, lay)
            if best is None or sol.objective > best.objective:
                best = sol
    bound = lp_bound
    mip_interface = opts.solver != "cp-sat"

    def left() -> float:
        return opts.time_limit_s - (time.perf_counter() - t0)

    def open_gap() -> bool:
        return best is None or bound - best.objective > 1e-9

    if mip_interface and best is not None and left() > 1.0 and open_gap():
        # Relaxation-induced neighbourhood: the sites the LP or the incumbent uses are
        # free, the others keep the incumbent's bays. A small MIP that SCIP solves in a
        # few seconds, and whose optimum was near the full one on every instance tried
        # (on the benchmark arrondissement: 141 of 500 sites, 125.3 vs a greedy 80.4).
        free = (frac > 1e-6) | (best.bays > 0)
        base = reduced_cost_fixing(problem, reduced, lp_bound, -math.inf)
        hood = [a if free[j] else frozenset({int(best.bays[j])}) for j, a in enumerate(base)]
        say(f"{opts.solver} on the LP neighbourhood ({int(free.sum())} sites free)")
        try:
            sol = solve(
                problem,
                replace(opts, time_limit_s=0.5 * left()),
                hint=best.bays,
                allowed=hood,
            )
            if sol.objective > best.objective:
                best = sol
        except OptimiserInputError:
            pass
    allowed = None
    if mip_interface and best is not None:
        allowed = reduced_cost_fixing(problem, reduced, lp_bound, best.objective)
    if left() > 0.5 and open_gap():
        n_free = "all" if allowed is None else sum(len(a) > 1 for a in allowed)
        say(f"{opts.solver} from the best layout, {left():.0f} s left, {n_free} sites free")
        try:
            sol = solve(
                problem,
                replace(opts, time_limit_s=left()),
                hint=best.bays if best is not None else None,
                progress=progress,
                allowed=allowed,
            )
            # With reduced-cost fixing the solver's bound covers the layouts better than
            # the incumbent; the incumbent covers the rest.
            inc = best.objective if best is not None else -math.inf
            bound = min(bound, max(sol.bound, inc))
            if best is None or sol.objective > best.objective:
                best = sol
        except OptimiserInputError:
            if best is None:
                raise
    if best is None:
        raise OptimiserInputError("placement: no layout found; raise the time limit")
    offset = objective_offset(problem)
    obj, bnd = best.objective - offset, max(bound, best.objective) - offset
    gap = (bnd - obj) / max(1.0, abs(bnd))
    return replace(
        best,
        bound=bnd + offset,
        gap=gap,
        abs_gap=bnd - obj,
        status="OPTIMAL" if gap <= max(opts.relative_gap, 1e-4) else "FEASIBLE",
        wall_s=time.perf_counter() - t0,
        solver=f"lp+greedy+{opts.solver}",
    )


def _solve_mip(
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
    backend = {"scip": "SCIP", "highs": "HIGHS", "cbc": "CBC", "glop": "GLOP"}[opts.solver]
    relax = backend == "GLOP"
    mip = pywraplp.Solver.CreateSolver(backend)
    if mip is None:
        raise OptimiserInputError(f"solver: OR-Tools has no {backend} backend here")
    n_sites = len(sites)
    reach = site_reach_daily(problem)
    openable = sites.max_bays > 0
    if allowed is not None:
        openable &= np.array([max(a, default=0) > 0 for a in allowed])
    site_in: list[list[tuple[pywraplp.Variable, float]]] = [[] for _ in range(n_sites)]
    priced_terms = []
    # Each group's demand cap: a constraint, or the bound of its one variable.
    caps: list[tuple[pywraplp.Constraint | None, pywraplp.Variable | None]] = []
    for g, (d, r) in enumerate(zip(groups.daily, groups.reach, strict=True)):
        xs = []
        for j in r:
            if not openable[j]:
                continue
            v = mip.NumVar(0.0, float(d), f"x{g}_{j}")
            site_in[int(j)].append((v, float(d)))
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
                mip.Add(sv <= sec.intercept * z + sec.slope * a)
            served_terms.append(sv)
        xs = [v for v, _ in site_in[j]]
        if xs:
            mip.Add(mip.Sum(xs) == mip.Sum(parts) if parts else mip.Sum(xs) == 0)
        if 0 in zs:
            for v, d in site_in[j]:  # strong linking, as in the CP-SAT model
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
    if budget.max_total_kerb_m is not None:
        mip.Add(mip.Sum(total_kerb) <= budget.max_total_kerb_m)
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
        load[j] = sum(v.solution_value() for v, _ in site_in[j])
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
