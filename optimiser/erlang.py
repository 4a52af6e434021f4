"""Erlang-B loss values and the concave curves the placement model linearises.

A group of ``n`` bays fed by Poisson arrivals with offered load ``a`` Erlangs
(arrival rate x mean dwell) is an M/G/n/n loss system: an arriving van that finds
all ``n`` bays busy does not queue, it double parks. The share of arrivals lost is
Erlang's B formula, which depends on the dwell distribution only through its mean
(insensitivity), so observed mean dwell is all the model needs.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass


def erlang_b(n: int, a: float) -> float:
    """Blocking probability B(n, a) by the standard stable recursion.

    B(0, a) = 1; B(k, a) = a B(k-1, a) / (k + a B(k-1, a)). The recursion never
    forms a^n / n!, so it stays accurate for large n and a.
    """
    if n < 0:
        raise ValueError(f"number of bays must be >= 0, got {n}")
    if a < 0:
        raise ValueError(f"offered load must be >= 0, got {a}")
    if a == 0:
        return 0.0 if n > 0 else 1.0
    b = 1.0
    for k in range(1, n + 1):
        b = a * b / (k + a * b)
    return b


def erlang_b_textbook(n: int, a: float) -> float:
    """B(n, a) = (a^n / n!) / sum_{k<=n} a^k / k!, written as in the textbooks (for tests)."""
    terms = [a**k / math.factorial(k) for k in range(n + 1)]
    return terms[-1] / sum(terms)


def min_bays_for_blocking(a: float, cap: float, n_max: int = 200) -> int:
    """Smallest n with B(n, a) <= cap (0 when there is no load)."""
    if not 0 < cap <= 1:
        raise ValueError(f"blocking cap must be in (0, 1], got {cap}")
    for n in range(n_max + 1):
        if erlang_b(n, a) <= cap:
            return n
    raise ValueError(f"load {a:.2f} Erlang needs more than {n_max} bays for blocking <= {cap}")


def served_per_day(n: int, daily: float, profile: Sequence[float], dwell_h: float) -> float:
    """Deliveries a day that find a free bay among ``n`` bays.

    ``daily`` deliveries a day arrive with the hourly shares ``profile`` (sums to 1);
    in hour h the offered load is daily * profile[h] * dwell_h Erlangs and a share
    B(n, load) of that hour's arrivals is lost. The result is concave increasing in
    ``daily`` (a sum of concave carried-load curves), which is what lets the model
    linearise it with secants and keep an exact convex hull.
    """
    total = 0.0
    for share in profile:
        lam = daily * share
        if lam > 0:
            total += lam * (1.0 - erlang_b(n, lam * dwell_h))
    return total


@dataclass(frozen=True)
class Secant:
    """served <= intercept * open + slope * load: one piece of a concave curve's hypograph."""

    intercept: float
    slope: float


@dataclass(frozen=True)
class ServedCurve:
    """The served-deliveries curve of ``n`` bays, sampled at breakpoints and cut into secants.

    Secants through the samples of a concave curve lie under it, so the linearised
    model never promises more than Erlang-B gives; ``max_error`` is the largest shortfall
    measured between breakpoints (deliveries a day), reported with every solve.
    """

    n: int
    breakpoints: tuple[float, ...]
    values: tuple[float, ...]
    secants: tuple[Secant, ...]
    max_error: float

    def value(self, daily: float) -> float:
        """The linearised value at ``daily`` (min over the secants, capped at the last sample)."""
        d = min(daily, self.breakpoints[-1])
        return min(s.intercept + s.slope * d for s in self.secants)


def geometric_breakpoints(
    max_daily: float, first: float = 0.25, ratio: float = 1.3
) -> tuple[float, ...]:
    """0, then ``first`` growing by ``ratio`` until ``max_daily`` is covered.

    The curves bend most at low load relative to their value, so relative spacing
    keeps the linearisation error small everywhere with a few dozen points.
    """
    xs = [0.0]
    x = first
    while True:
        xs.append(x)
        if x >= max_daily:
            break
        x *= ratio
    return tuple(xs)


def served_curve(
    n: int, breakpoints: Sequence[float], profile: Sequence[float], dwell_h: float
) -> ServedCurve:
    """Precompute and linearise the served curve of ``n`` bays at ``breakpoints``.

    The first secant starts at the origin, so a closed site or an empty one serves
    nothing; the error between breakpoints is measured at five interior points each.
    """
    xs = [float(x) for x in breakpoints]
    if len(xs) < 2 or xs[0] != 0.0 or any(b <= a for a, b in itertools.pairwise(xs)):
        raise ValueError("breakpoints must start at 0 and increase")
    ys = [served_per_day(n, x, profile, dwell_h) for x in xs]
    secants = []
    err = 0.0
    for i in range(len(xs) - 1):
        x0, x1, y0, y1 = xs[i], xs[i + 1], ys[i], ys[i + 1]
        slope = (y1 - y0) / (x1 - x0)
        intercept = max(0.0, y0 - slope * x0)
        secants.append(Secant(intercept, slope))
        for t in (0.2, 0.35, 0.5, 0.65, 0.8):  # the shortfall peaks inside the segment
            x = x0 + t * (x1 - x0)
            err = max(err, served_per_day(n, x, profile, dwell_h) - (intercept + slope * x))
    return ServedCurve(n, tuple(xs), tuple(ys), tuple(secants), err)
