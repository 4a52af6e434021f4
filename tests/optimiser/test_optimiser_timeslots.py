from __future__ import annotations

import itertools

import numpy as np
import pytest

from optimiser.erlang import erlang_b
from optimiser.errors import OptimiserInputError
from optimiser.inputs import TYPICAL_URBAN_PROFILE
from optimiser.timeslots import HOURS, TimeslotProblem, hour_weights, solve_timeslots


def two_zone_problem(**kw: float) -> TimeslotProblem:
    daily = np.array([40.0, 6.0])
    return TimeslotProblem(
        bay_ids=("a1", "a2", "a3", "b1"),
        places=np.array([1, 1, 2, 1]),
        zone_of=np.array([0, 0, 0, 1]),
        zone_ids=("busy street", "quiet street"),
        arrivals=np.outer(daily, TYPICAL_URBAN_PROFILE),
        dwell_h=0.25,
        **kw,  # type: ignore[arg-type]
    )


def test_schedule_keeps_window_rules_and_blocking_cap() -> None:
    p = two_zone_problem(blocking_cap=0.15, min_window_h=3, max_windows=2)
    res = solve_timeslots(p, time_limit_s=5)
    assert res.status == "OPTIMAL"
    for wins in res.windows:
        assert 1 <= len(wins) <= 2
        assert all(e - s >= 3 for s, e in wins)
    for c in range(2):
        members = np.flatnonzero(p.zone_of == c)
        for h in range(HOURS):
            n = int(sum(p.places[b] for b in members if res.delivery[b, h]))
            a = p.arrivals[c, h] * p.dwell_h
            if (p.zone_ids[c], h) in res.unreachable_cap:
                assert n == int(p.places[members].sum())
            elif a > 0:
                assert erlang_b(n, a) <= 0.15 + 1e-12
    # Something is given back at night, when nothing arrives.
    assert res.place_hours_released > 0
    assert not res.delivery[:, 2].any()
    assert res.double_parking_after >= res.double_parking_before - 1e-9


def test_single_bay_matches_brute_force_over_all_windows() -> None:
    arrivals = np.outer([12.0], TYPICAL_URBAN_PROFILE)
    p = TimeslotProblem(
        bay_ids=("only",),
        places=np.array([2]),
        zone_of=np.array([0]),
        zone_ids=("z",),
        arrivals=arrivals,
        dwell_h=0.5,
        blocking_cap=0.5,
        min_window_h=2,
        max_windows=1,
        release_value=0.1,
        double_parking_weight=1.0,
        window_cost=0.05,
    )
    res = solve_timeslots(p, time_limit_s=5)
    hw = hour_weights(arrivals)
    assert hw[20] == 1.5 and min(hw) == pytest.approx(0.5)  # evening premium, peak discount
    best = -np.inf
    for s, e in itertools.combinations(range(HOURS + 1), 2):
        if e - s < 2:
            continue
        ok, dp = True, 0.0
        for h in range(HOURS):
            a = arrivals[0, h] * p.dwell_h
            n = 2 if s <= h < e else 0
            if a > 0 and erlang_b(n, a) > 0.5:
                ok = False
                break
            dp += round(1000 * arrivals[0, h] * erlang_b(n, a)) / 1000 if a > 0 else 0.0
        if ok:
            freed = [h for h in range(HOURS) if not s <= h < e]
            val = sum(2 * round(0.1 * hw[h] * 1000) / 1000 for h in freed) - dp - 0.05
            best = max(best, val)
    assert res.objective == pytest.approx(best, abs=1e-6)
    assert res.windows[0] and len(res.windows[0]) == 1


def test_unreachable_cap_is_reported_not_hidden() -> None:
    p = two_zone_problem(blocking_cap=0.01)
    res = solve_timeslots(p, time_limit_s=5)
    assert any(zone == "busy street" for zone, _ in res.unreachable_cap)
    # Where the cap cannot be met every place stays delivery-only.
    _, hour = res.unreachable_cap[0]
    assert res.delivery[np.flatnonzero(p.zone_of == 0), hour].all()


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("blocking_cap", 1.5, "blocking_cap"),
        ("min_window_h", 0, "min_window_h"),
        ("max_windows", 0, "max_windows"),
    ],
)
def test_bad_parameters_are_clear_errors(field: str, value: float, match: str) -> None:
    with pytest.raises(OptimiserInputError, match=match):
        two_zone_problem(**{field: value})


def test_deterministic_for_fixed_seed() -> None:
    p = two_zone_problem()
    a = solve_timeslots(p, time_limit_s=0.05, seed=4, deterministic=True)
    b = solve_timeslots(p, time_limit_s=0.05, seed=4, deterministic=True)
    assert np.array_equal(a.delivery, b.delivery)
    assert a.objective == b.objective
