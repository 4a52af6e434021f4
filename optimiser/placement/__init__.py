"""The placement model: where bays should be, with Erlang-B loss, solved with OR-Tools.

Model (one day; deliveries a day is the unit of the objective):

- site j holds ``n_j`` in 0..max_bays_j bays, as a one-hot ``z[j, k]``;
- demand group g (points with the same sites in reach at the same served shares)
  sends ``x[g, j]`` of its deliveries to site j, at most its demand in total; a
  share ``f[g, j]`` of them use the bay (walking distance as a cost with a limit:
  ``optimiser.walking``, 1 up to ``walk_full_m``, linear to 0 at ``walk_limit_m``),
  the rest double park at the door: site j's load is ``sum_g f[g, j] x[g, j]``;
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
rounded down (never promising more than the curve): a restriction of this model, so
its layouts are re-evaluated exactly and the bound reported is this model's LP
relaxation (see ``cpsat``).

A bay's misuse share m (time taken by other vehicles or overstays) scales what it
serves: ``S[j, k] <= (1 - m_j) (c_l z[j, k] + m_l A[j, k])``. Permanent bays are fixed
(``Sites.fixed``) unless the planner's rules allow changing them.

Modules: ``model`` (data, secants, feasibility), ``mip`` (SCIP / GLOP), ``cpsat``,
``search`` (the full method ``optimise`` and its parts).
"""

from optimiser.placement.cpsat import solve_cpsat
from optimiser.placement.mip import solve_mip
from optimiser.placement.model import (
    OBJ_SCALE,
    SECANT_SCALE,
    UNITS,
    PlacementProblem,
    PlacementSolution,
    SolveOptions,
    curves,
    group_units,
    integer_secants,
    layout_feasible,
    objective_offset,
    objective_units,
    relative_gap,
    served_units,
    site_reach_daily,
    total_kerb_limit,
)
from optimiser.placement.search import (
    evaluate_layout,
    lp_relaxation,
    optimise,
    reduced_cost_fixing,
    round_layout,
    solve,
)

__all__ = [
    "OBJ_SCALE",
    "SECANT_SCALE",
    "UNITS",
    "PlacementProblem",
    "PlacementSolution",
    "SolveOptions",
    "curves",
    "evaluate_layout",
    "group_units",
    "integer_secants",
    "layout_feasible",
    "lp_relaxation",
    "objective_offset",
    "objective_units",
    "optimise",
    "reduced_cost_fixing",
    "relative_gap",
    "round_layout",
    "served_units",
    "site_reach_daily",
    "solve",
    "solve_cpsat",
    "solve_mip",
    "total_kerb_limit",
]
