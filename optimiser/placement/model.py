"""The placement model's data: problem, options, solution, Erlang-B secants, feasibility.

See ``optimiser.placement`` for the model. ``PlacementSolution.objective`` and ``bound``
include the constant -weight x all demand (so that they read as served - weight x
double parking - cost of changes); the relative gap is the standard
|bound - objective| / |objective| on that reported objective (issue 11: dividing by a
value that includes all demand hid a layout 63 % below its bound as "1.94 %"), with the
absolute gap in deliveries a day beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from optimiser.distances import Groups
from optimiser.erlang import ServedCurve, geometric_breakpoints, served_curve, served_per_day
from optimiser.errors import OptimiserInputError
from optimiser.inputs import Budget, Costs, FloatArray, IntArray, Rules, Sites

UNITS = 10  # loads in tenths of a delivery a day
SECANT_SCALE = 1000  # fixed-point scale of secant coefficients
OBJ_SCALE = 1000  # objective in thousandths of a delivery a day


@dataclass(frozen=True, eq=False)
class PlacementProblem:
    """One placement problem: sites, demand groups, the hourly profile and mean dwell
    (hours) of stops, the budget, rules and costs, and all demand (deliveries a day).
    """

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
    """Solver settings: time limit (s), workers, seed, gap, solver (scip or cp-sat)."""

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
    """A solved placement: bays per site, load and served deliveries a day per site (model
    and exact Erlang-B), the objective with its proven bound and gaps, and the status.
    """

    bays: IntArray  # bays per site after the changes
    load: FloatArray  # deliveries a day sent to each site
    served_model: FloatArray  # linearised served deliveries a day per site
    served_erlang: FloatArray  # Erlang-B served deliveries a day per site (exact)
    objective: float  # served - weight * double parking - cost of changes (deliveries a day)
    bound: float  # proven upper bound on that objective (of the linearised model)
    # |bound - objective| / |objective| on the reported objective; ``abs_gap`` in
    # deliveries a day.
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
        """Deliveries a day served (Erlang-B, exact)."""
        return float(self.served_erlang.sum())

    @property
    def double_parking(self) -> float:
        """Deliveries a day not served by a bay: all demand minus ``served``."""
        return self.total_daily - self.served


def relative_gap(value: float, bound: float) -> float:
    """The standard relative gap |bound - value| / |value| (inf for a value of 0 below
    its bound); callers pass the reported objective (constant included)."""
    diff = abs(bound - value)
    if diff <= 1e-9:
        return 0.0
    return diff / abs(value) if abs(value) > 1e-9 else math.inf


def _floor(v: float) -> int:
    return math.floor(v + 1e-9)


def site_reach_daily(problem: PlacementProblem) -> FloatArray:
    """The most load (deliveries a day) each site can get: the demand in its reach,
    each group's weighted by the site's served share of it."""
    out = np.zeros(len(problem.sites))
    groups = problem.groups
    for g, (d, r) in enumerate(zip(groups.daily, groups.reach, strict=True)):
        out[r] += d * groups.share_of(g)
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
    """Each group's demand in integer ``UNITS`` (tenths of a delivery a day)."""
    return [round(d * UNITS) for d in problem.groups.daily]


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
    avail = problem.sites.availability()
    served_model = avail * np.array(
        [crv[int(b)].value(lo) if b > 0 else 0.0 for b, lo in zip(bays, load, strict=True)]
    )
    served_erlang = avail * np.array(
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
        gap=relative_gap(objective + offset, bound + offset),
        abs_gap=bound - objective,
        status=status,
        wall_s=wall_s,
        total_daily=problem.total_daily,
        linearisation_error=max(c.max_error for c in crv),
        n_variables=n_vars,
        n_constraints=n_cons,
        solver=solver,
    )


def layout_feasible(problem: PlacementProblem, bays: IntArray) -> bool:
    """Whether a layout keeps every hard rule and the budget."""
    s, b = problem.sites, problem.budget
    if np.any(bays < 0) or np.any(bays > s.max_bays) or np.any(bays[s.fixed] < s.existing[s.fixed]):
        return False
    added = int(np.maximum(bays - s.existing, 0).sum())
    removed = int(np.maximum(s.existing - bays, 0).sum())
    new_kerb = float((np.maximum(bays - s.existing, 0) * s.bay_length_m).sum())
    total_kerb = float((bays * s.bay_length_m).sum())
    limit = total_kerb_limit(b, s)
    return (
        (b.max_added is None or added <= b.max_added)
        and (b.max_removed is None or removed <= b.max_removed)
        and (b.max_changes is None or added + removed <= b.max_changes)
        and (b.max_new_kerb_m is None or new_kerb <= b.max_new_kerb_m + 1e-9)
        and (limit is None or total_kerb <= limit + 1e-6)
    )


def total_kerb_limit(budget: Budget, sites: Sites) -> float | None:
    """Kerb metres all delivery bays may take after the changes: ``max_total_kerb_m``,
    and with ``kerb_neutral`` at most what the bays in place take now (the same sum the
    models use, so the status quo always fits); None for no limit."""
    limits = []
    if budget.max_total_kerb_m is not None:
        limits.append(float(budget.max_total_kerb_m))
    if budget.kerb_neutral:
        limits.append(float((sites.existing * sites.bay_length_m).sum()))
    return min(limits) if limits else None
