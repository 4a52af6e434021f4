"""Walking distance as a cost with a limit (issue 11), not a cliff at 100 m.

The rule (``optimiser.walking``): a bay serves all of a point's deliveries up to
``walk_full_m`` walking metres, a share falling linearly to 0 at ``walk_limit_m``;
straight line x ``walk_detour_factor`` without a street graph; distances rounded up to
5 m bands. The placement model's load at a site is the shares x deliveries sent.
"""

from __future__ import annotations

import numpy as np
import pytest
from optimiser_helpers import make_demand, make_sites

from optimiser.erlang import served_per_day
from optimiser.errors import OptimiserInputError
from optimiser.greedy import greedy_layout
from optimiser.inputs import TYPICAL_URBAN_PROFILE, Budget, Rules
from optimiser.placement import SolveOptions, optimise, site_reach_daily, solve
from optimiser.problem import build_problem
from optimiser.walking import served_share


def test_served_share_falls_linearly_from_full_to_limit() -> None:
    d = np.array([0.0, 10.0, 25.0, 26.0, 50.0, 75.0, 99.0, 100.0, 140.0])
    got = served_share(d, full_m=25.0, limit_m=100.0)
    # 26 m is banded up to 30 m; 99 m to 100 m (nobody walks that far).
    want = [1.0, 1.0, 1.0, 70 / 75, 50 / 75, 25 / 75, 0.0, 0.0, 0.0]
    assert got == pytest.approx(want, abs=1e-12)
    # full >= limit is the old cliff: 1 up to the limit, 0 beyond.
    assert served_share(d, 100.0, 100.0) == pytest.approx([1] * 8 + [0], abs=0)


def _two_streets(rules: Rules) -> tuple[float, np.ndarray]:
    """One bay to place. Street A: 1.0 delivery a day 10 m from its kerb site. Street B
    (1 km away): 1.5 deliveries a day 60 m (78 m walked) from its kerb site."""
    sites = make_sites([(0.0, 0.0), (1000.0, 0.0)], existing=[0, 0], max_bays=[1, 1])
    demand = make_demand([(10.0, 0.0), (1060.0, 0.0)], [1.0, 1.5])
    problem = build_problem(sites, demand, TYPICAL_URBAN_PROFILE, 0.25, Budget(max_added=1), rules)
    sol = optimise(problem, SolveOptions(time_limit_s=5))
    assert sol.status == "OPTIMAL"
    return sol.objective, sol.bays


def test_far_demand_counts_less_than_near_demand() -> None:
    # Under a cliff at 100 m both points count in full and B's street wins; with the
    # walking cost B's 78 m (banded 80 m) keeps only 20/75 of its 1.5 a day (0.4), so
    # the bay goes to A's street.
    _, cliff = _two_streets(Rules(walk_full_m=100.0, walk_detour_factor=1.3))
    assert cliff.tolist() == [0, 1]
    _, decay = _two_streets(Rules())
    assert decay.tolist() == [1, 0]


def test_site_load_is_the_share_weighted_demand() -> None:
    sites = make_sites([(0.0, 0.0)], existing=[1], max_bays=[2])
    # Straight 0, 20, 40 and 70 m: walked x1.3 = 0, 26, 52, 91 m, banded 0, 30, 55, 95 m.
    demand = make_demand([(0.0, 0.0), (20.0, 0.0), (40.0, 0.0), (70.0, 0.0)], [1, 1, 1, 1])
    problem = build_problem(sites, demand, TYPICAL_URBAN_PROFILE, 0.25, Budget(), Rules())
    want = 1.0 + 70 / 75 + 45 / 75 + 5 / 75
    assert site_reach_daily(problem)[0] == pytest.approx(want, rel=1e-12)
    # The exact evaluation sends every delivery (the load is that weighted sum) and the
    # bay serves what Erlang-B gives one bay at that load.
    ev = solve(problem, SolveOptions(solver="glop"), fix_bays=np.array([1]))
    assert ev.load[0] == pytest.approx(want, rel=1e-6)
    assert ev.served == pytest.approx(
        served_per_day(1, want, problem.profile, problem.dwell_h), rel=1e-6
    )


def test_the_limit_is_a_parameter() -> None:
    sites = make_sites([(0.0, 0.0)], existing=[1], max_bays=[1])
    demand = make_demand([(50.0, 0.0)], [2.0])  # 65 m walked
    wide = build_problem(sites, demand, TYPICAL_URBAN_PROFILE, 0.25, None, Rules(walk_limit_m=150))
    assert wide.groups.share_of(0) == pytest.approx([(150.0 - 65.0) / 125.0])
    # At a 60 m limit nothing is in reach: one clear error, not an empty model.
    with pytest.raises(OptimiserInputError, match="no candidate within reach"):
        build_problem(sites, demand, TYPICAL_URBAN_PROFILE, 0.25, None, Rules(walk_limit_m=60))


def test_greedy_feeds_the_walking_load() -> None:
    # The greedy and the solver agree that the near street gets the bay.
    sites = make_sites([(0.0, 0.0), (1000.0, 0.0)], existing=[0, 0], max_bays=[1, 1])
    demand = make_demand([(10.0, 0.0), (1060.0, 0.0)], [1.0, 1.5])
    problem = build_problem(
        sites, demand, TYPICAL_URBAN_PROFILE, 0.25, Budget(max_added=1), Rules()
    )
    assert greedy_layout(problem).tolist() == [1, 0]
