"""Generated city instances for the benchmark and the tests.

Generator (stated so the benchmark can be reproduced): a square city whose side is
chosen for a target area; candidate kerb sites uniform at random, each able to hold
1 bay, or 2 with probability 0.2 (86 % of Paris 3e bays have one place); demand
points drawn 70 % around "shopping streets"
(Gaussian clusters, sigma 150 m, centres uniform, one centre per 40 candidates) and
30 % uniform; deliveries a day per point 0.2 m + Exponential(mean 0.8 m), m = 0.5 by
default (about one delivery every two working days per business). No bays exist
at the start: the budget says how many to place. Straight-line reach.
"""

from __future__ import annotations

import numpy as np

from optimiser.distances import to_wgs84
from optimiser.inputs import Demand, Sites

# Around Notre-Dame, so the synthetic city projects to sensible WGS84 on maps.
ORIGIN_L93 = (652_000.0, 6_860_000.0)


def generated_city(
    n_candidates: int,
    n_demand: int,
    area_km2: float,
    seed: int = 0,
    bay_length_m: float = 10.0,
    mean_daily: float = 0.5,
) -> tuple[Sites, Demand]:
    """A random test city (``seed``): ``n_candidates`` kerb sites and ``n_demand`` demand
    points uniform over a square of ``area_km2`` in Lambert-93, marked simulated.
    """
    rng = np.random.default_rng(seed)
    side = float(np.sqrt(area_km2) * 1000.0)
    origin = np.array(ORIGIN_L93)
    cand = origin + rng.uniform(0, side, size=(n_candidates, 2))
    n_centres = max(1, n_candidates // 40)
    centres = rng.uniform(0, side, size=(n_centres, 2))
    n_clustered = int(0.7 * n_demand)
    which = rng.integers(0, n_centres, size=n_clustered)
    clustered = centres[which] + rng.normal(0, 150.0, size=(n_clustered, 2))
    uniform = rng.uniform(0, side, size=(n_demand - n_clustered, 2))
    dem = origin + np.clip(np.vstack([clustered, uniform]), 0, side)
    daily = 0.2 * mean_daily + rng.exponential(0.8 * mean_daily, size=n_demand)
    max_bays = np.where(rng.random(n_candidates) < 0.2, 2, 1).astype(np.int64)
    sites = Sites(
        ids=tuple(f"c{j}" for j in range(n_candidates)),
        xy=cand,
        lonlat=to_wgs84(cand),
        existing=np.zeros(n_candidates, dtype=np.int64),
        max_bays=max_bays,
        bay_length_m=np.full(n_candidates, bay_length_m),
        fixed=np.zeros(n_candidates, dtype=bool),
        area=tuple("generated" for _ in range(n_candidates)),
        label=tuple("generated kerb site" for _ in range(n_candidates)),
    )
    demand = Demand(
        ids=tuple(f"d{i}" for i in range(n_demand)),
        xy=dem,
        lonlat=to_wgs84(dem),
        daily=daily,
        label=tuple("generated" for _ in range(n_demand)),
        simulated=True,
    )
    return sites, demand
