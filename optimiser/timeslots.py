"""The time-slot model: in which hours each bay serves deliveries only (CP-SAT).

For each bay and hour of the day, delivery-only (1) or given to another use (0).
Each bay's delivery hours form at least one and at most ``max_windows`` contiguous windows of at
least ``min_window_h`` hours (a day runs 00:00-24:00, windows do not wrap). Bays of
one zone (a street, an area) pool their demand: in each hour the zone's delivery
places must keep the Erlang-B probability that a delivery finds no free bay under
``blocking_cap``; the minimum number of places is precomputed per zone and hour
(that is the linearisation), and the expected double parking of every possible
place count is a table read by an element constraint.

Objective: place-hours given back (times ``release_value`` and ``hour_weights``), minus
``double_parking_weight`` times expected double parking, minus a small charge per
window (fewer, longer windows are easier to sign).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, replace

import numpy as np
from ortools.sat.python import cp_model

from optimiser.erlang import erlang_b, min_bays_for_blocking
from optimiser.errors import OptimiserInputError

SCALE = 1000
HOURS = 24


@dataclass(frozen=True, eq=False)
class TimeslotProblem:
    bay_ids: tuple[str, ...]
    places: np.ndarray  # places per bay (servers)
    zone_of: np.ndarray  # zone index per bay
    zone_ids: tuple[str, ...]
    arrivals: np.ndarray  # (zones, 24) deliveries an hour
    dwell_h: float
    blocking_cap: float = 0.2
    min_window_h: int = 2
    max_windows: int = 2
    release_value: float = 0.1  # per place-hour given back, in deliveries
    double_parking_weight: float = 1.0
    window_cost: float = 0.05
    # Relative value of giving back each hour; None: hour_weights() of the arrivals.
    hour_weight: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not self.bay_ids:
            raise OptimiserInputError("timeslots: no bays")
        if not 0 < self.blocking_cap < 1:
            raise OptimiserInputError(
                f"timeslots: blocking_cap must be in (0, 1), got {self.blocking_cap}"
            )
        if not 1 <= self.min_window_h <= HOURS:
            raise OptimiserInputError(
                f"timeslots: min_window_h must be in 1..24, got {self.min_window_h}"
            )
        if self.max_windows < 1:
            raise OptimiserInputError(
                f"timeslots: max_windows must be >= 1, got {self.max_windows}"
            )
        if self.arrivals.shape != (len(self.zone_ids), HOURS):
            raise OptimiserInputError("timeslots: arrivals must be (zones, 24)")
        if np.any(~np.isfinite(self.arrivals)) or np.any(self.arrivals < 0):
            raise OptimiserInputError("timeslots: arrivals must be finite and >= 0")
        if not 0 < self.dwell_h <= 24:
            raise OptimiserInputError(f"timeslots: dwell_h must be in (0, 24], got {self.dwell_h}")


@dataclass(frozen=True, eq=False)
class TimeslotResult:
    delivery: np.ndarray  # (bays, 24) bool
    windows: tuple[tuple[tuple[int, int], ...], ...]  # per bay, [start, end) hours
    blocking_before: np.ndarray  # (zones, 24), all places delivery-only all day
    blocking_after: np.ndarray
    double_parking_before: float  # expected deliveries a day
    double_parking_after: float
    place_hours_released: int
    unreachable_cap: tuple[tuple[str, int], ...]  # (zone, hour) where even all places miss the cap
    objective: float
    bound: float
    gap: float
    status: str
    wall_s: float


def solve_timeslots(
    problem: TimeslotProblem,
    time_limit_s: float = 10.0,
    num_workers: int = 8,
    seed: int = 0,
    deterministic: bool = False,
) -> TimeslotResult:
    """Solve zone by zone: zones share no bay and no demand, so the day's schedule
    splits exactly, the objective and the bound are sums, and many small CP-SAT
    models close far faster than one large one. ``time_limit_s`` is shared out.

    ``deterministic``: CP-SAT's interleaved search on its deterministic clock, so a
    fixed seed and worker count give the same schedule; on 2 cores it runs about 30
    times slower per unit of work than the default wall-clock search, so it is opt-in."""
    t0 = time.perf_counter()
    p = problem
    n_zones = len(p.zone_ids)
    parts = []
    weights = p.hour_weight or hour_weights(p.arrivals)
    for c in range(n_zones):
        bays = np.flatnonzero(p.zone_of == c)
        if len(bays) == 0:
            continue
        sub = replace(
            p,
            bay_ids=tuple(p.bay_ids[b] for b in bays),
            places=p.places[bays],
            zone_of=np.zeros(len(bays), dtype=np.int64),
            zone_ids=(p.zone_ids[c],),
            arrivals=p.arrivals[c : c + 1],
            hour_weight=weights,
        )
        # Big zones are the hard ones: share the time by places.
        limit = max(0.1, time_limit_s * float(p.places[bays].sum()) / float(p.places.sum()))
        parts.append((c, bays, _solve_one(sub, limit, num_workers, seed, deterministic)))
    n_bays = len(p.bay_ids)
    delivery = np.zeros((n_bays, HOURS), dtype=bool)
    windows: list[tuple[tuple[int, int], ...]] = [() for _ in range(n_bays)]
    before = np.zeros((n_zones, HOURS))
    after = np.zeros((n_zones, HOURS))
    for c, bays, r in parts:
        delivery[bays] = r.delivery
        for i, b in enumerate(bays):
            windows[b] = r.windows[i]
        before[c], after[c] = r.blocking_before[0], r.blocking_after[0]
    obj = sum(r.objective for _, _, r in parts)
    bound = sum(r.bound for _, _, r in parts)
    return TimeslotResult(
        delivery=delivery,
        windows=tuple(windows),
        blocking_before=before,
        blocking_after=after,
        double_parking_before=sum(r.double_parking_before for _, _, r in parts),
        double_parking_after=sum(r.double_parking_after for _, _, r in parts),
        place_hours_released=sum(r.place_hours_released for _, _, r in parts),
        unreachable_cap=tuple(u for _, _, r in parts for u in r.unreachable_cap),
        objective=obj,
        bound=bound,
        gap=max(0.0, bound - obj) / max(1.0, abs(bound)),
        status="OPTIMAL" if all(r.status == "OPTIMAL" for _, _, r in parts) else "FEASIBLE",
        wall_s=time.perf_counter() - t0,
    )


def _solve_one(
    problem: TimeslotProblem,
    time_limit_s: float,
    num_workers: int,
    seed: int,
    deterministic: bool,
) -> TimeslotResult:
    t0 = time.perf_counter()
    p = problem
    n_bays, n_zones = len(p.bay_ids), len(p.zone_ids)
    zone_places = np.zeros(n_zones, dtype=np.int64)
    for b in range(n_bays):
        zone_places[p.zone_of[b]] += int(p.places[b])
    m = cp_model.CpModel()
    y = [[m.new_bool_var(f"y{b}_{h}") for h in range(HOURS)] for b in range(n_bays)]
    starts = []
    for b in range(n_bays):
        st = [m.new_bool_var(f"st{b}_{h}") for h in range(HOURS)]
        starts.append(st)
        for h in range(HOURS):
            prev = y[b][h - 1] if h > 0 else None
            # st = y[h] and not y[h-1]
            if prev is None:
                m.add(st[h] == y[b][h])
            else:
                m.add_implication(st[h], y[b][h])
                m.add_implication(st[h], prev.Not())
                m.add_bool_or([st[h], y[b][h].Not(), prev])
            for t in range(1, p.min_window_h):
                if h + t < HOURS:
                    m.add_implication(st[h], y[b][h + t])
                else:
                    m.add(st[h] == 0)
        # At least one window: retiming never removes a bay (placement does that).
        m.add(sum(st) >= 1)
        m.add(sum(st) <= p.max_windows)
    # Bays of a zone with equal places are interchangeable: order them by delivery
    # hours to cut the symmetric copies of every schedule (a valid symmetry break).
    for c in range(n_zones):
        same = [b for b in range(n_bays) if p.zone_of[b] == c]
        for b1, b2 in itertools.pairwise(same):
            if p.places[b1] == p.places[b2]:
                m.add(sum(y[b1]) >= sum(y[b2]))
    unreachable = []
    dp_terms = []
    dp_table_before = 0.0
    blocking_before = np.zeros((n_zones, HOURS))
    members = [np.flatnonzero(p.zone_of == c) for c in range(n_zones)]
    for c in range(n_zones):
        total = int(zone_places[c])
        for h in range(HOURS):
            lam = float(p.arrivals[c, h])
            a = lam * p.dwell_h
            need = min_bays_for_blocking(a, p.blocking_cap, n_max=10_000) if a > 0 else 0
            if need > total:
                unreachable.append((p.zone_ids[c], h))
                need = total
            n_ch = sum(int(p.places[b]) * y[b][h] for b in members[c])
            if need > 0:
                m.add(n_ch >= need)
            blocking_before[c, h] = erlang_b(total, a) if a > 0 else 0.0
            dp_table_before += lam * blocking_before[c, h]
            if lam > 0:
                # Expected double parking of each place count, weighted, in 1/SCALE deliveries.
                w = p.double_parking_weight
                table = [round(SCALE * w * lam * erlang_b(k, a)) for k in range(total + 1)]
                idx = m.new_int_var(0, total, f"n{c}_{h}")
                m.add(idx == n_ch)
                dp = m.new_int_var(0, max(table), f"dp{c}_{h}")
                m.add_element(idx, table, dp)
                dp_terms.append(dp)
    hw = p.hour_weight or hour_weights(p.arrivals)
    release = sum(
        round(p.release_value * hw[h] * SCALE) * int(p.places[b]) * (1 - y[b][h])
        for b in range(n_bays)
        for h in range(HOURS)
    )
    n_windows = sum(sum(st) for st in starts)
    m.maximize(release - sum(dp_terms) - round(p.window_cost * SCALE) * n_windows)
    # Every bay delivery-only all day meets every rule: a complete, feasible hint.
    for b in range(n_bays):
        for h in range(HOURS):
            m.add_hint(y[b][h], True)
            m.add_hint(starts[b][h], h == 0)
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
            "timeslots: no schedule meets the window rules and blocking cap "
            f"(status {solver.status_name(status)})"
        )
    delivery = np.array([[solver.boolean_value(v) for v in row] for row in y], dtype=bool)
    windows = tuple(_windows(row) for row in delivery)
    blocking_after = np.zeros((n_zones, HOURS))
    dp_after = 0.0
    for c in range(n_zones):
        for h in range(HOURS):
            a = float(p.arrivals[c, h]) * p.dwell_h
            n = int(sum(int(p.places[b]) for b in members[c] if delivery[b, h]))
            blocking_after[c, h] = erlang_b(n, a) if a > 0 else 0.0
            dp_after += float(p.arrivals[c, h]) * blocking_after[c, h]
    obj, bound = solver.objective_value / SCALE, solver.best_objective_bound / SCALE
    return TimeslotResult(
        delivery=delivery,
        windows=windows,
        blocking_before=blocking_before,
        blocking_after=blocking_after,
        double_parking_before=dp_table_before,
        double_parking_after=dp_after,
        place_hours_released=int(
            sum(int(p.places[b]) * (~delivery[b]).sum() for b in range(n_bays))
        ),
        unreachable_cap=tuple(unreachable),
        objective=obj,
        bound=bound,
        gap=max(0.0, bound - obj) / max(1.0, abs(bound)),
        status=solver.status_name(status),
        wall_s=time.perf_counter() - t0,
    )


def hour_weights(arrivals: np.ndarray) -> tuple[float, ...]:
    """How much an hour given back is worth, relative to ``release_value``.

    Evenings and nights (19:00-08:00) count 1.5: residents want the kerb then, as the
    issue's "give this bay back to residents after 19:00". Daytime hours count less the
    busier deliveries are then (down to 0.5 at the peak), so a bay with no known demand
    keeps its one short window at the delivery peak rather than at 01:00.
    """
    load = arrivals.sum(axis=0)
    peak = float(load.max()) if load.max() > 0 else 1.0
    return tuple(
        1.5 if (h >= 19 or h < 8) else 1.0 - 0.5 * float(load[h]) / peak for h in range(HOURS)
    )


def _windows(row: np.ndarray) -> tuple[tuple[int, int], ...]:
    out = []
    h = 0
    while h < HOURS:
        if row[h]:
            s = h
            while h < HOURS and row[h]:
                h += 1
            out.append((s, h))
        else:
            h += 1
    return tuple(out)
