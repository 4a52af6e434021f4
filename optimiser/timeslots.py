"""The time-slot model: which of the city's delivery regimes each bay should have (CP-SAT).

A bay's regime (``optimiser.regimes``) says in which hours of each day type (working
day, Saturday, Sunday/holiday) it is delivery-only; outside them it is open to all.
Each bay chooses one regime among its options: the city's catalogue (for Paris,
permanent 24/7 or periodic Monday-Saturday 07:00-20:00) plus the regime it has now. A
bay whose regime is locked (a permanent bay, unless the planner allows changing it)
keeps it. There are no arbitrary windows: every proposal is a regime the city signs.

Bays of one zone (a street, an area) pool their demand. In each day type and hour the
zone's delivery places must keep the Erlang-B probability that a delivery finds no
free place under ``blocking_cap`` where the options can (elsewhere the zone takes all
the places its options allow, and the hour is reported), in every zone-hour with at
least ``MIN_CAP_ARRIVALS_H`` deliveries an hour; the expected double parking
of every place count is a table read by an element constraint.

Objective, per average day of the week (day types weighted 5, 1, 1 over 7):
``release_value`` x place-hours open to all (times ``hour_weights``) minus
``double_parking_weight`` x expected double parking, minus ``change_cost`` per bay
whose regime changes (new signs; the status quo is preferred on a tie).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

from optimiser.erlang import erlang_b, min_bays_for_blocking
from optimiser.errors import OptimiserInputError
from optimiser.regimes import DAY_TYPES, DAYS_PER_WEEK, Regime, hour_mask

SCALE = 1000
HOURS = 24
# The blocking cap binds only in zone-hours with at least this many deliveries an hour:
# below it "a delivery finds no place with probability p" concerns a fraction of a
# delivery (a Sunday night), which the double-parking cost already prices.
MIN_CAP_ARRIVALS_H = 0.5
N_TYPES = len(DAY_TYPES)


@dataclass(frozen=True, eq=False)
class TimeslotProblem:
    """One area's bays: ``arrivals`` is (zones, 3, 24) deliveries an hour per day type;
    ``options[b]`` the regimes bay b may take (its current one first)."""

    bay_ids: tuple[str, ...]
    places: np.ndarray  # places per bay (servers)
    zone_of: np.ndarray  # zone index per bay
    zone_ids: tuple[str, ...]
    arrivals: np.ndarray
    dwell_h: float
    options: tuple[tuple[Regime, ...], ...]
    blocking_cap: float = 0.2
    release_value: float = 0.1  # per place-hour open to all, in deliveries
    double_parking_weight: float = 1.0
    change_cost: float = 0.05
    hour_weight: tuple[float, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        if not self.bay_ids:
            raise OptimiserInputError("timeslots: no bays")
        if not 0 < self.blocking_cap < 1:
            raise OptimiserInputError(
                f"timeslots: blocking_cap must be in (0, 1), got {self.blocking_cap}"
            )
        if self.arrivals.shape != (len(self.zone_ids), N_TYPES, HOURS):
            raise OptimiserInputError("timeslots: arrivals must be (zones, 3, 24)")
        if np.any(~np.isfinite(self.arrivals)) or np.any(self.arrivals < 0):
            raise OptimiserInputError("timeslots: arrivals must be finite and >= 0")
        if not 0 < self.dwell_h <= 24:
            raise OptimiserInputError(f"timeslots: dwell_h must be in (0, 24], got {self.dwell_h}")
        if len(self.options) != len(self.bay_ids) or any(not o for o in self.options):
            raise OptimiserInputError("timeslots: every bay needs at least one regime option")


@dataclass(frozen=True, eq=False)
class TimeslotResult:
    """``choice[b]``: index in ``options[b]`` (0 = keep the current regime)."""

    choice: np.ndarray
    delivery: np.ndarray  # (bays, 3, 24) bool, delivery-only after the changes
    blocking_before: np.ndarray  # (zones, 3, 24)
    blocking_after: np.ndarray
    double_parking_before: float  # expected deliveries a day (weekly mean)
    double_parking_after: float
    place_hours_released: float  # a day (weekly mean), more than now
    unreachable_cap: tuple[tuple[str, str, int], ...]  # (zone, day type, hour)
    objective: float
    bound: float
    gap: float
    status: str
    wall_s: float

    def zone_double_parking(self, problem: TimeslotProblem) -> tuple[np.ndarray, np.ndarray]:
        """Expected double parking a day per zone, before and after (weekly mean)."""
        w = np.asarray(DAYS_PER_WEEK) / sum(DAYS_PER_WEEK)
        lam = problem.arrivals
        before = (lam * self.blocking_before * w[None, :, None]).sum(axis=(1, 2))
        after = (lam * self.blocking_after * w[None, :, None]).sum(axis=(1, 2))
        return before, after


def hour_weights(arrivals: np.ndarray) -> tuple[float, ...]:
    """How much an hour open to all is worth, relative to ``release_value``.

    Evenings and nights (19:00-08:00) count 1.5 (residents want the kerb then); daytime
    hours count less the busier deliveries are (down to 0.5 at the peak)."""
    load = arrivals.reshape(-1, HOURS).sum(axis=0)
    peak = float(load.max()) if load.max() > 0 else 1.0
    return tuple(
        1.5 if (h >= 19 or h < 8) else 1.0 - 0.5 * float(load[h]) / peak for h in range(HOURS)
    )


def solve_timeslots(
    problem: TimeslotProblem,
    time_limit_s: float = 10.0,
    num_workers: int = 8,
    seed: int = 0,
    deterministic: bool = False,
) -> TimeslotResult:
    """Solve zone by zone (zones share no bay and no demand, so the objective and the
    bound are sums); ``time_limit_s`` is shared out by places."""
    t0 = time.perf_counter()
    p = problem
    n_bays, n_zones = len(p.bay_ids), len(p.zone_ids)
    weights = p.hour_weight or hour_weights(p.arrivals)
    masks = [np.stack([hour_mask(r.hours) for r in opts]) for opts in p.options]
    choice = np.zeros(n_bays, dtype=np.int64)
    before = np.zeros((n_zones, N_TYPES, HOURS))
    after = np.zeros((n_zones, N_TYPES, HOURS))
    unreachable: list[tuple[str, str, int]] = []
    obj = bound = 0.0
    statuses = []
    total_places = float(p.places.sum())
    for c in range(n_zones):
        bays = np.flatnonzero(p.zone_of == c)
        if len(bays) == 0:
            continue
        limit = max(0.2, time_limit_s * float(p.places[bays].sum()) / total_places)
        zone = _solve_zone(p, c, bays, masks, weights, limit, num_workers, seed, deterministic)
        choice[bays] = zone.choice
        before[c], after[c] = zone.before, zone.after
        unreachable += [(p.zone_ids[c], DAY_TYPES[t], h) for t, h in zone.unreachable]
        obj += zone.objective
        bound += zone.bound
        statuses.append(zone.status)
    delivery = np.stack([masks[b][choice[b]] for b in range(n_bays)])
    now = np.stack([masks[b][0] for b in range(n_bays)])
    w = np.asarray(DAYS_PER_WEEK) / sum(DAYS_PER_WEEK)
    freed = ((now & ~delivery).astype(float) - (delivery & ~now).astype(float)).sum(axis=2)
    released = float((p.places[:, None] * freed * w[None, :]).sum())
    res = TimeslotResult(
        choice=choice,
        delivery=delivery,
        blocking_before=before,
        blocking_after=after,
        double_parking_before=0.0,
        double_parking_after=0.0,
        place_hours_released=released,
        unreachable_cap=tuple(unreachable),
        objective=obj,
        bound=bound,
        gap=abs(bound - obj) / abs(obj) if abs(obj) > 1e-9 else (0.0 if bound <= obj else np.inf),
        status="OPTIMAL" if all(s == "OPTIMAL" for s in statuses) else "FEASIBLE",
        wall_s=time.perf_counter() - t0,
    )
    dp_before, dp_after = res.zone_double_parking(p)
    return TimeslotResult(
        **{
            **res.__dict__,
            "double_parking_before": float(dp_before.sum()),
            "double_parking_after": float(dp_after.sum()),
        }
    )


@dataclass(frozen=True)
class _Zone:
    choice: np.ndarray
    before: np.ndarray
    after: np.ndarray
    unreachable: list[tuple[int, int]]
    objective: float
    bound: float
    status: str


def _solve_zone(
    p: TimeslotProblem,
    c: int,
    bays: np.ndarray,
    masks: list[np.ndarray],
    weights: tuple[float, ...],
    time_limit_s: float,
    num_workers: int,
    seed: int,
    deterministic: bool,
) -> _Zone:
    m = cp_model.CpModel()
    y = [[m.new_bool_var(f"y{b}_{o}") for o in range(len(p.options[b]))] for b in bays]
    for row in y:
        m.add_exactly_one(row)
    day_w = [d / sum(DAYS_PER_WEEK) for d in DAYS_PER_WEEK]
    w_dp = p.double_parking_weight
    terms: list[cp_model.LinearExprT] = []
    unreachable: list[tuple[int, int]] = []
    before = np.zeros((N_TYPES, HOURS))
    for t in range(N_TYPES):
        for h in range(HOURS):
            lam = float(p.arrivals[c, t, h])
            a = lam * p.dwell_h
            coef = [
                [int(p.places[b]) * int(masks[b][o, t, h]) for o in range(len(y[i]))]
                for i, b in enumerate(bays)
            ]
            n_now = sum(cf[0] for cf in coef)
            n_max = sum(max(cf) for cf in coef)
            before[t, h] = erlang_b(n_now, a) if a > 0 else 0.0
            n_th = sum(cf[o] * y[i][o] for i, cf in enumerate(coef) for o in range(len(cf)))
            if a > 0:
                need = 0
                if lam >= MIN_CAP_ARRIVALS_H:
                    need = min_bays_for_blocking(a, p.blocking_cap, n_max=10_000)
                if need > n_max:
                    unreachable.append((t, h))
                    need = n_max
                if need > 0:
                    m.add(n_th >= need)
                table = [
                    round(SCALE * day_w[t] * w_dp * lam * erlang_b(k, a)) for k in range(n_max + 1)
                ]
                idx = m.new_int_var(0, n_max, f"n{t}_{h}")
                m.add(idx == n_th)
                dp = m.new_int_var(0, max(table), f"dp{t}_{h}")
                m.add_element(idx, table, dp)
                terms.append(-dp)
    for i, b in enumerate(bays):
        for o in range(len(y[i])):
            open_all = (~masks[b][o]).astype(float)  # (3, 24) hours open to all
            value = sum(
                day_w[t] * p.release_value * weights[h] * open_all[t, h]
                for t in range(N_TYPES)
                for h in range(HOURS)
            ) * float(p.places[b])
            cost = p.change_cost if o > 0 else 0.0
            terms.append(round(SCALE * (value - cost)) * y[i][o])
            m.add_hint(y[i][o], o == 0)
    m.maximize(sum(terms))
    solver = cp_model.CpSolver()
    prm = solver.parameters
    prm.num_workers = num_workers
    prm.random_seed = seed
    if deterministic:
        prm.interleave_search = True
    status = cp_model.UNKNOWN
    for attempt in range(4):  # a too-short limit may stop before any solution: retry longer
        limit = time_limit_s * 4**attempt
        if deterministic:
            prm.max_deterministic_time = limit
        else:
            prm.max_time_in_seconds = limit
        status = solver.solve(m)
        if status != cp_model.UNKNOWN:
            break
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise OptimiserInputError(
            f"timeslots: zone {p.zone_ids[c]}: no regime choice meets the blocking cap"
            f" (status {solver.status_name(status)})"
        )
    choice = np.array([next(o for o, v in enumerate(row) if solver.boolean_value(v)) for row in y])
    after = np.zeros((N_TYPES, HOURS))
    for t in range(N_TYPES):
        for h in range(HOURS):
            a = float(p.arrivals[c, t, h]) * p.dwell_h
            n = sum(int(p.places[b]) * int(masks[b][choice[i], t, h]) for i, b in enumerate(bays))
            after[t, h] = erlang_b(n, a) if a > 0 else 0.0
    return _Zone(
        choice=choice,
        before=before,
        after=after,
        unreachable=unreachable,
        objective=solver.objective_value / SCALE,
        bound=solver.best_objective_bound / SCALE,
        status=solver.status_name(status),
    )
