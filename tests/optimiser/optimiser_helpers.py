"""Helpers for the optimiser tests: tiny hand-made instances, the geodata path.

A plain module, not a conftest: the project has another conftest.py, and `from
conftest import` would pick whichever was imported first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optimiser.distances import to_wgs84
from optimiser.generate import ORIGIN_L93
from optimiser.inputs import Demand, Sites

ROOT = Path(__file__).resolve().parents[2]
GEODATA = (ROOT / ".." / "shared" / "geodata").resolve()

needs_geodata = pytest.mark.skipif(
    not (GEODATA / "paris_delivery_bays.csv").is_file(),
    reason=f"{GEODATA} (the shared real geodata) is not on this machine",
)


def make_sites(
    xy_m: list[tuple[float, float]],
    existing: list[int],
    max_bays: list[int],
    fixed: list[bool] | None = None,
    bay_length_m: float = 10.0,
) -> Sites:
    xy = np.asarray(xy_m, dtype=float) + np.asarray(ORIGIN_L93)
    n = len(xy_m)
    return Sites(
        ids=tuple(f"s{j}" for j in range(n)),
        xy=xy,
        lonlat=to_wgs84(xy),
        existing=np.asarray(existing, dtype=np.int64),
        max_bays=np.asarray(max_bays, dtype=np.int64),
        bay_length_m=np.full(n, bay_length_m),
        fixed=np.asarray(fixed or [False] * n, dtype=bool),
        area=tuple("a" for _ in range(n)),
        label=tuple("site" for _ in range(n)),
    )


def make_demand(xy_m: list[tuple[float, float]], daily: list[float]) -> Demand:
    xy = np.asarray(xy_m, dtype=float) + np.asarray(ORIGIN_L93)
    return Demand(
        ids=tuple(f"d{i}" for i in range(len(xy_m))),
        xy=xy,
        lonlat=to_wgs84(xy),
        daily=np.asarray(daily, dtype=float),
        label=tuple("shop" for _ in xy_m),
        simulated=True,
    )
