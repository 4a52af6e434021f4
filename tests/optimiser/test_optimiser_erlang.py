from __future__ import annotations

import itertools
import math

import pytest

from optimiser.erlang import (
    erlang_b,
    erlang_b_textbook,
    geometric_breakpoints,
    min_bays_for_blocking,
    served_curve,
    served_per_day,
)
from optimiser.inputs import TYPICAL_URBAN_PROFILE


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 10, 20])
@pytest.mark.parametrize("a", [0.05, 0.5, 1.0, 3.7, 12.0])
def test_erlang_b_matches_textbook_formula(n: int, a: float) -> None:
    assert erlang_b(n, a) == pytest.approx(erlang_b_textbook(n, a), rel=1e-12)


def test_erlang_b_known_values() -> None:
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    assert erlang_b(2, 1.0) == pytest.approx(0.2)
    # Classic table value: 10 servers, 5 Erlang -> about 1.84 % blocking.
    assert erlang_b(10, 5.0) == pytest.approx(0.018385, abs=1e-6)
    assert erlang_b(0, 2.0) == 1.0
    assert erlang_b(3, 0.0) == 0.0


def test_erlang_b_rejects_negative_inputs() -> None:
    with pytest.raises(ValueError):
        erlang_b(-1, 1.0)
    with pytest.raises(ValueError):
        erlang_b(1, -0.1)


def test_min_bays_for_blocking_is_smallest_meeting_cap() -> None:
    for a in (0.3, 1.0, 4.0, 9.5):
        n = min_bays_for_blocking(a, 0.05)
        assert erlang_b(n, a) <= 0.05
        assert n == 0 or erlang_b(n - 1, a) > 0.05


def test_served_curve_secants_exact_at_breakpoints_and_never_above() -> None:
    prof, dwell = TYPICAL_URBAN_PROFILE, 0.5
    for n in (1, 2, 3):
        crv = served_curve(n, geometric_breakpoints(80.0), prof, dwell)
        for x, y in zip(crv.breakpoints, crv.values, strict=True):
            assert crv.value(x) == pytest.approx(y, abs=1e-9)
        for i in range(200):
            x = 80.0 * i / 199
            true = served_per_day(n, x, prof, dwell)
            assert crv.value(x) <= true + 1e-9
            assert true - crv.value(x) <= 1.01 * crv.max_error + 1e-6  # sampled maximum
        assert crv.max_error < 0.5


def test_served_is_concave_and_below_demand() -> None:
    prof, dwell = TYPICAL_URBAN_PROFILE, 0.25
    xs = [2.0 * i for i in range(40)]
    ys = [served_per_day(1, x, prof, dwell) for x in xs]
    slopes = [(b - a) / 2.0 for a, b in itertools.pairwise(ys)]
    assert all(s2 <= s1 + 1e-12 for s1, s2 in itertools.pairwise(slopes))
    assert all(y <= x + 1e-12 for x, y in zip(xs, ys, strict=True))
    # More bays serve more of the same load.
    assert served_per_day(2, 40.0, prof, dwell) > served_per_day(1, 40.0, prof, dwell)
    assert math.isclose(served_per_day(3, 0.0, prof, dwell), 0.0)
