"""Assemble a placement problem: walking reach, exact aggregation, validation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from optimiser.distances import StreetGraph, aggregate, reach_network, reach_straight
from optimiser.inputs import Budget, Costs, Demand, Rules, Sites, check_profile
from optimiser.placement import PlacementProblem

SAME_KERB_M = 15.0


def build_problem(
    sites: Sites,
    demand: Demand,
    profile: Sequence[float],
    dwell_h: float,
    budget: Budget | None = None,
    rules: Rules | None = None,
    costs: Costs | None = None,
    graph: StreetGraph | None = None,
) -> PlacementProblem:
    """Reach by the street graph when given (else straight line), then merge equal reach sets."""
    rules = rules or Rules()
    prof = check_profile(profile, dwell_h)
    if graph is not None:
        reach = reach_network(demand.xy, sites.xy, rules.walk_limit_m, graph)
        # A point on the site's own kerb reaches it even where the street graph's
        # snapping misses (a bay's own stops are recorded at the bay).
        near = reach_straight(demand.xy, sites.xy, min(SAME_KERB_M, rules.walk_limit_m))
        reach = [np.union1d(a, b).astype(np.int64) for a, b in zip(reach, near, strict=True)]
    else:
        reach = reach_straight(demand.xy, sites.xy, rules.walk_limit_m)
    groups = aggregate(demand.daily, reach)
    return PlacementProblem(
        sites=sites,
        groups=groups,
        profile=prof,
        dwell_h=dwell_h,
        budget=budget or Budget(),
        rules=rules,
        costs=costs or Costs(),
        total_daily=float(demand.daily.sum()),
    )
