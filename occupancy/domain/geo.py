"""The one place for geodesy: coordinate systems, great-circle distance, metric projections.

Conventions, everywhere in baywatch: geographic coordinates are WGS84 (EPSG:4326)
degrees in **longitude, latitude** order (RFC 7946 GeoJSON order, pyproj's
``always_xy=True``); projected coordinates are metres, x east and y north.

Projection policy (pyproj does the maths; nothing here hand-rolls a projection):

* ``metric_crs`` / ``MetricProjection``: one projected CRS for a *set* of places (a
  city's bays, an inventory, a statistics grid): Lambert-93 (EPSG:2154, the French
  official projection, RGF93) when every point lies in metropolitan France, else the
  UTM zone of the points' median. Used for distances, areas, footprints, the API's
  nearest-bay search and the optimiser's walking distances.
* ``camera_crs``: a *camera's* ground plane, an azimuthal equidistant projection centred
  on its calibration points (distances from the centre are exact, and a camera sees a
  few hundred metres at most), where the homography maps pixels to metres.
* ``great_circle_m``: distance on the sphere of radius ``EARTH_RADIUS_M`` when no
  projection is at hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, overload

import numpy as np
import numpy.typing as npt
from pyproj import CRS, Transformer

FloatArray = npt.NDArray[np.float64]

WGS84 = "EPSG:4326"
LAMBERT93 = "EPSG:2154"
# Metropolitan France and Corsica with a margin: the area of use of Lambert-93 (EPSG:2154
# in the EPSG registry gives -9.86, 41.15, 10.38, 51.56 as west, south, east, north).
FRANCE_BOUNDS = (-9.86, 41.15, 10.38, 51.56)

# Mean radius R1 = (2a + b) / 3 of the GRS 80 / WGS 84 ellipsoid (Moritz, "Geodetic
# Reference System 1980", Bulletin Géodésique 54, 1980; IUGG). A sphere of this radius
# gives great-circle distances within 0.5 % of the ellipsoidal ones.
EARTH_RADIUS_M = 6_371_008.8


@overload
def great_circle_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float: ...
@overload
def great_circle_m(
    lon1: FloatArray | float, lat1: FloatArray | float, lon2: FloatArray, lat2: FloatArray
) -> FloatArray: ...
@overload
def great_circle_m(
    lon1: FloatArray, lat1: FloatArray, lon2: FloatArray | float, lat2: FloatArray | float
) -> FloatArray: ...


def great_circle_m(lon1: Any, lat1: Any, lon2: Any, lat2: Any) -> Any:
    """Great-circle (haversine) distance in metres between WGS84 points, lon/lat order.

    Arguments are degrees, ``(lon1, lat1)`` to ``(lon2, lat2)``: floats, or numpy
    arrays that broadcast together (then the result is an array of that shape). The
    earth is a sphere of radius ``EARTH_RADIUS_M``.
    """
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.subtract(lon2, lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    d = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return float(d) if np.ndim(d) == 0 else d


def metric_crs(lon: npt.ArrayLike, lat: npt.ArrayLike) -> CRS:
    """The projected CRS for a set of WGS84 points (degrees, any equal-length shape).

    Lambert-93 (EPSG:2154) when every point lies within ``FRANCE_BOUNDS`` (and for no
    points at all), else the WGS84 UTM zone (EPSG:326xx north, 327xx south) of the
    points' median longitude and latitude.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    if lon.size == 0:
        return CRS.from_user_input(LAMBERT93)
    w, s, e, n = FRANCE_BOUNDS
    if np.all((lon >= w) & (lon <= e) & (lat >= s) & (lat <= n)):
        return CRS.from_user_input(LAMBERT93)
    clon, clat = float(np.median(lon)), float(np.median(lat))
    zone = min(int((clon + 180) // 6) + 1, 60)
    return CRS.from_epsg((32600 if clat >= 0 else 32700) + zone)


def camera_crs(lon0: float, lat0: float) -> CRS:
    """A camera's ground plane: azimuthal equidistant (metres) centred on (lon0, lat0)."""
    return CRS.from_proj4(f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m +no_defs")


@lru_cache(maxsize=64)
def transformer(source: CRS | str, target: CRS | str) -> Transformer:
    """A cached pyproj transformer in x/y (lon/lat) order (``always_xy=True``)."""
    return Transformer.from_crs(source, target, always_xy=True)


@dataclass(frozen=True, eq=False)
class MetricProjection:
    """WGS84 lon/lat degrees ↔ metres (x east, y north) in one projected CRS."""

    crs: CRS

    @classmethod
    def for_points(cls, lon: npt.ArrayLike, lat: npt.ArrayLike) -> MetricProjection:
        """The projection ``metric_crs`` chooses for these points."""
        return cls(metric_crs(lon, lat))

    def to_xy(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Project degrees to metres; arrays of one shape in, two float64 arrays out."""
        x, y = transformer(WGS84, self.crs).transform(
            np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        )
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def to_lonlat(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Inverse of ``to_xy``: metres to (lon, lat) degrees."""
        lon, lat = transformer(self.crs, WGS84).transform(
            np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        )
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
