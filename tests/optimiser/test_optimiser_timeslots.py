from __future__ import annotations

import itertools

import numpy as np
import pytest

from optimiser.erlang import erlang_b
from optimiser.errors import OptimiserInputError
from optimiser.inputs import TYPICAL_URBAN_PROFILE
from optimiser.regimes import (
    ALWAYS,
    DAYS_PER_WEEK,
    PARIS_PERIODIC,
    PARIS_REGIMES,
    PERIODIC,
    PERMANENT,
    Regime,
    catalogue,
    hour_mask,
    regime_of_zone,
)
from optimiser.timeslots import (
    HOURS,
    MIN_CAP_ARRIVALS_H,
    SCALE,
    TimeslotProblem,
    hour_weights,
    solve_timeslots,
)

PERM, PER = PARIS_REGIMES
DAY = np.array([1.0, 0.55, 0.12])


def problem(daily: list[float], options: list[tuple[Regime, ...]], **kw: float) -> TimeslotProblem:
    n = len(daily)
    return TimeslotProblem(
        bay_ids=tuple(f"b{i}" for i in range(n)),
        places=np.ones(n, dtype=np.int64),
        zone_of=np.arange(n),
        zone_ids=tuple(f"z{i}" for i in range(n)),
        arrivals=np.stack([np.outer(DAY * d, TYPICAL_URBAN_PROFILE) for d in daily]),
        dwell_h=0.25,
        options=tuple(options),
        **kw,  # type: ignore[arg-type]
    )


def test_paris_regimes_are_the_city_rules() -> None:
    # Periodic: delivery-only Monday-Saturday 07:00-20:00; nights, Sundays open to all.
    m = hour_mask(PARIS_PERIODIC)
    assert m[0].tolist() == [7 <= h < 20 for h in range(24)]
    assert m[1].tolist() == m[0].tolist()
    assert not m[2].any()
    assert hour_mask(ALWAYS).all() and PERM.permanent and not PER.permanent
    assert regime_of_zone("24/7", {}) == PERMANENT
    assert regime_of_zone(PARIS_PERIODIC, {"regime": "ZL permanente"}) == PERMANENT
    assert regime_of_zone(None, {"regime": "ZL périodique"}) == PERIODIC
    assert regime_of_zone("Mo-Fr 08:00-12:00", None) == PERIODIC
    with pytest.raises(OptimiserInputError, match="regime hours"):
        catalogue(["Mo-Sa 25:00-26:00"])


def test_locked_permanent_bay_keeps_its_regime() -> None:
    # Almost no demand: a free bay would become periodic, a locked one stays 24/7.
    p = problem([0.5, 0.5], [(PERM,), (PERM, PER)])
    res = solve_timeslots(p, time_limit_s=5)
    assert res.status == "OPTIMAL"
    assert res.choice.tolist() == [0, 1]
    assert res.delivery[0].all()
    assert res.delivery[1].tolist() == hour_mask(PARIS_PERIODIC).tolist()
    assert res.place_hours_released > 0


def test_busy_periodic_bay_becomes_permanent_when_the_cap_needs_it() -> None:
    # 400 deliveries a working day: the evening hours after 20:00 still carry more than
    # MIN_CAP_ARRIVALS_H an hour, so the blocking cap needs the bay delivery-only then.
    p = problem([400.0], [(PER, PERM)], blocking_cap=0.9)
    assert p.arrivals[0, 0, 20] >= MIN_CAP_ARRIVALS_H
    res = solve_timeslots(p, time_limit_s=5)
    assert res.choice.tolist() == [1]
    assert res.place_hours_released < 0  # fewer hours open to all than now


def test_matches_enumeration_of_every_choice() -> None:
    options = [(PER, PERM), (PERM, PER), (PER, PERM)]
    p = TimeslotProblem(
        bay_ids=("a", "b", "c"),
        places=np.array([1, 2, 1]),
        zone_of=np.array([0, 0, 0]),
        zone_ids=("street",),
        arrivals=np.outer(DAY * 30.0, TYPICAL_URBAN_PROFILE)[None],
        dwell_h=0.4,
        options=tuple(options),
        blocking_cap=0.6,
    )
    res = solve_timeslots(p, time_limit_s=5)
    hw = hour_weights(p.arrivals)
    w = [d / sum(DAYS_PER_WEEK) for d in DAYS_PER_WEEK]
    best = -np.inf
    for pick in itertools.product(range(2), repeat=3):
        masks = [hour_mask(options[b][o].hours) for b, o in enumerate(pick)]
        ok, val = True, 0.0
        for t in range(3):
            for h in range(HOURS):
                lam = p.arrivals[0, t, h]
                n = sum(int(p.places[b]) * int(masks[b][t, h]) for b in range(3))
                if lam <= 0:
                    continue
                if lam >= MIN_CAP_ARRIVALS_H and erlang_b(n, lam * p.dwell_h) > 0.6:
                    ok = False
                val -= round(SCALE * w[t] * lam * erlang_b(n, lam * p.dwell_h)) / SCALE
        for b, o in enumerate(pick):
            free = ~masks[b]
            rel = sum(w[t] * 0.1 * hw[h] * free[t, h] for t in range(3) for h in range(HOURS))
            val += round(SCALE * (rel * int(p.places[b]) - (0.05 if o else 0.0))) / SCALE
        if ok:
            best = max(best, val)
    assert res.objective == pytest.approx(best, abs=1e-6)


def test_unreachable_cap_is_reported_not_hidden() -> None:
    p = problem([400.0], [(PER, PERM)], blocking_cap=0.01)
    res = solve_timeslots(p, time_limit_s=5)
    assert any(zone == "z0" for zone, _, _ in res.unreachable_cap)
    # Where the cap cannot be met the bay takes every delivery hour its options allow.
    assert res.choice.tolist() == [1]


def test_bad_parameters_are_clear_errors() -> None:
    with pytest.raises(OptimiserInputError, match="blocking_cap"):
        problem([1.0], [(PERM,)], blocking_cap=1.5)
    with pytest.raises(OptimiserInputError, match="regime option"):
        problem([1.0], [()])


def test_deterministic_for_fixed_seed() -> None:
    p = problem([40.0, 6.0, 0.5], [(PER, PERM), (PERM, PER), (PER, PERM)])
    a = solve_timeslots(p, time_limit_s=0.05, seed=4, deterministic=True)
    b = solve_timeslots(p, time_limit_s=0.05, seed=4, deterministic=True)
    assert np.array_equal(a.choice, b.choice)
    assert a.objective == b.objective
