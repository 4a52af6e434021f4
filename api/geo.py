"""The CDS bounding-box query parameter (``min_lng``, ``min_lat``, ``max_lng``, ``max_lat``).

Distances and projections live in ``occupancy.domain.geo``; this module holds only
the API edge's box, in CDS 1.0 ``Curbs API`` names (query parameters of
``/curbs/zones``: WGS84 degrees, longitude first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class BBox:
    """A WGS84 box in degrees; edges are inclusive. Boxes across the antimeridian are not
    supported (``min_lng`` must not exceed ``max_lng``)."""

    min_lng: float
    min_lat: float
    max_lng: float
    max_lat: float

    def mask(self, lon: FloatArray, lat: FloatArray) -> npt.NDArray[np.bool_]:
        """Which points (two float64 arrays of one shape, degrees) lie in the box."""
        return (
            (lon >= self.min_lng)
            & (lon <= self.max_lng)
            & (lat >= self.min_lat)
            & (lat <= self.max_lat)
        )
