"""Assemble a placement problem: walking metres, served shares, exact aggregation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from optimiser.distances import StreetGraph, aggregate, reach_network_m, reach_straight_m
from optimiser.inputs import (
    Budget,
    Costs,
    Demand,
    FloatArray,
    IntArray,
    Rules,
    Sites,
    check_profile,
)
from optimiser.placement import PlacementProblem
from optimiser.walking import served_share

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
    """Walking metres by the street graph when given (else straight line x
    ``rules.walk_detour_factor``), each site's served share of each point's deliveries
    (``optimiser.walking.served_share``), then merge points with equal rows."""
    rules = rules or Rules()
    prof = check_profile(profile, dwell_h)
    limit = rules.walk_limit_m
    if graph is not None:
        reach, metres = reach_network_m(demand.xy, sites.xy, limit, graph)
        # A point on the site's own kerb reaches it even where the street graph's
        # snapping misses (a bay's own stops are recorded at the bay).
        near, near_m = reach_straight_m(demand.xy, sites.xy, min(SAME_KERB_M, limit))
        reach, metres = _union(reach, metres, near, near_m)
    else:
        detour = rules.walk_detour_factor
        reach, straight = reach_straight_m(demand.xy, sites.xy, limit / detour)
        metres = [m * detour for m in straight]
    share = [served_share(m, rules.walk_full_m, limit) for m in metres]
    groups = aggregate(demand.daily, reach, share)
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


def _union(
    a: list[IntArray], am: list[FloatArray], b: list[IntArray], bm: list[FloatArray]
) -> tuple[list[IntArray], list[FloatArray]]:
    """Per point, the sites of either list with the shorter of their distances."""
    sites, metres = [], []
    for ra, ma, rb, mb in zip(a, am, b, bm, strict=True):
        r = np.concatenate([ra, rb])
        m = np.concatenate([ma, mb])
        order = np.lexsort((m, r))
        r, m = r[order], m[order]
        first = np.ones(len(r), dtype=bool)
        first[1:] = r[1:] != r[:-1]
        sites.append(r[first].astype(np.int64))
        metres.append(m[first].astype(float))
    return sites, metres
