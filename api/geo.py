"""Small geographic helpers: a local metric projection and great-circle distance.

A city is small enough that an equirectangular projection around its mean latitude
is accurate to well under a metre over 10 km, and projecting is one multiply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

EARTH_R_M = 6_371_008.8

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class LocalProjection:
    lat0: float

    @property
    def kx(self) -> float:
        return math.radians(1.0) * EARTH_R_M * math.cos(math.radians(self.lat0))

    @property
    def ky(self) -> float:
        return math.radians(1.0) * EARTH_R_M

    def xy(self, lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
        return lon * self.kx, lat * self.ky


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_R_M * math.asin(math.sqrt(a))


@dataclass(frozen=True, slots=True)
class BBox:
    min_lng: float
    min_lat: float
    max_lng: float
    max_lat: float

    def mask(self, lon: FloatArray, lat: FloatArray) -> npt.NDArray[np.bool_]:
        return (
            (lon >= self.min_lng)
            & (lon <= self.max_lng)
            & (lat >= self.min_lat)
            & (lat <= self.max_lat)
        )
