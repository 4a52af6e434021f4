"""A greedy layout that warm-starts CP-SAT (``AddHint``).

Start from the bays in place; repeatedly take the step with the best net gain,
where a step adds one bay at a site, or, when the bay or kerb budget is spent,
moves one (adds here, removes the existing bay whose loss is smallest). A site is
fed the free demand in its reach only up to its saturation load (where another
delivery would find the bays full more often than not): past that, the demand is
better left to a neighbouring bay, and feeding it all to the first bay makes the
greedy starve dense streets. Gains are re-evaluated lazily (a popped step is
recomputed and kept only if it still beats the next one). Quality only matters as
a starting point: CP-SAT proves the bound and improves the layout.
"""

from __future__ import annotations

import heapq

import numpy as np

from optimiser.erlang import served_per_day
from optimiser.inputs import IntArray
from optimiser.placement.model import PlacementProblem, total_kerb_limit


def saturation_load(k: int, profile: tuple[float, ...], dwell_h: float, theta: float) -> float:
    """Deliveries a day past which one more sent to ``k`` bays is served with
    probability below ``theta``."""
    if k == 0:
        return 0.0
    lo, step = 0.0, 0.25
    while lo < 1e5:
        gain = served_per_day(k, lo + step, profile, dwell_h) - served_per_day(
            k, lo, profile, dwell_h
        )
        if gain < theta * step:
            break
        lo += step
    return lo


def greedy_layout(
    problem: PlacementProblem, theta: float = 0.5, price: list[float] | None = None
) -> IntArray:
    """The greedy layout; ``price`` receives the net gain of the last bay added, an
    estimate of what one more bay of budget is worth (the budget's shadow price)."""
    sites, groups, budget, costs = problem.sites, problem.groups, problem.budget, problem.costs
    prof, dwell = problem.profile, problem.dwell_h
    value = 1.0 + costs.double_parking_weight
    n = len(sites)
    bays = sites.existing.copy()
    load = np.zeros(n)
    free = groups.daily.copy()  # group demand not yet sent to a site
    given: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    # Per site: (group, served share); t deliveries of g sent to j bring j a load f t.
    groups_of: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for g, r in enumerate(groups.reach):
        for j, f in zip(r, groups.share_of(g), strict=True):
            groups_of[int(j)].append((g, float(f)))
    for lst in groups_of:
        lst.sort(key=lambda gf: -gf[1])  # nearest first: most load per delivery sent
    k_top = int(sites.max_bays.max(initial=0))
    sat = [saturation_load(k, prof, dwell, theta) for k in range(k_top + 1)]

    avail = sites.availability()  # misuse leaves this share of what a bay serves

    def served(j: int, k: int, lo: float) -> float:
        return float(avail[j]) * served_per_day(k, lo, prof, dwell) if k > 0 else 0.0

    def take(j: int, k: int) -> list[tuple[int, float, float]]:
        """(group, deliveries sent, load brought) up to the saturation load of k bays."""
        room = sat[k] - load[j]
        out = []
        for g, f in groups_of[j]:
            if room <= 0:
                break
            t = min(free[g], room / f)
            if t > 0:
                out.append((g, t, f * t))
                room -= f * t
        return out

    def feed(j: int) -> None:
        for g, t, lo in take(j, int(bays[j])):
            free[g] -= t
            load[j] += lo
            given[j].append((g, t))

    for j in np.flatnonzero(bays > 0):
        feed(int(j))

    def add_gain(j: int) -> float:
        if bays[j] >= sites.max_bays[j]:
            return -np.inf
        k = int(bays[j])
        extra = sum(lo for _, _, lo in take(j, k + 1))
        return value * (served(j, k + 1, load[j] + extra) - served(j, k, load[j])) - costs.add_cost

    def remove_loss(j: int) -> float:
        k = int(bays[j])
        return value * (served(j, k, load[j]) - served(j, k - 1, load[j])) + costs.remove_cost

    added = removed = 0
    new_kerb = 0.0
    total_kerb = float((bays * sites.bay_length_m).sum())

    def can_add(j: int) -> bool:
        if budget.max_added is not None and added >= budget.max_added:
            return False
        if budget.max_changes is not None and added + removed >= budget.max_changes:
            return False
        return not (
            budget.max_new_kerb_m is not None
            and new_kerb + sites.bay_length_m[j] > budget.max_new_kerb_m
        )

    kerb_limit = total_kerb_limit(budget, sites)

    def kerb_ok(j: int) -> bool:
        return kerb_limit is None or total_kerb + sites.bay_length_m[j] <= kerb_limit + 1e-6

    removable = [j for j in range(n) if sites.existing[j] > 0 and not sites.fixed[j]]
    heap = [(-add_gain(j), j) for j in range(n) if sites.max_bays[j] > bays[j]]
    heapq.heapify(heap)
    while heap:
        _, j = heapq.heappop(heap)
        gain = add_gain(j)
        if gain <= 0 or not can_add(j):
            continue
        if heap and gain < -heap[0][0] - 1e-12:
            heapq.heappush(heap, (-gain, j))
            continue
        drop = None
        if not kerb_ok(j):
            # A move: free kerb by removing the cheapest existing bay elsewhere.
            if budget.max_removed is not None and removed >= budget.max_removed:
                continue
            if budget.max_changes is not None and added + removed + 2 > budget.max_changes:
                continue
            options = [i for i in removable if bays[i] > 0 and i != j]
            if not options:
                continue
            drop = min(options, key=remove_loss)
            if gain - remove_loss(drop) <= 0:
                continue
        bays[j] += 1
        if price is not None:
            price[:] = [gain - (remove_loss(drop) if drop is not None else 0.0)]
        feed(j)
        added += 1
        new_kerb += float(sites.bay_length_m[j])
        total_kerb += float(sites.bay_length_m[j])
        if drop is not None:
            bays[drop] -= 1
            removed += 1
            total_kerb -= float(sites.bay_length_m[drop])
            if bays[drop] == 0:
                for g, t in given[drop]:
                    free[g] += t
                given[drop] = []
                load[drop] = 0.0
        if bays[j] < sites.max_bays[j]:
            heapq.heappush(heap, (-add_gain(j), j))
    return bays
