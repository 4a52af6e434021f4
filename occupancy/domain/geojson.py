"""RFC 7946 GeoJSON geometries: counter-clockwise exteriors, at most 7 decimals.

RFC 7946 section 3.1.6: exterior rings are counter-clockwise, holes clockwise;
section 11.2: 6-7 decimals of a degree (about 10 cm to 1 cm) are all that is
meaningful, and more only inflates answers. Built with shapely: ``orient`` fixes
the winding, a coordinate transform rounds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.polygon import orient

DECIMALS = 7  # about 1.1 cm of latitude


def _lists(v: Any) -> Any:
    if isinstance(v, tuple | list):
        return [_lists(x) for x in v]
    return float(v)


def rfc7946_geometry(geom: shapely.Geometry) -> dict[str, Any]:
    """A shapely geometry as an RFC 7946 dict: oriented rings, rounded coordinates.

    Raises ``ValueError`` for an empty geometry.
    """
    if geom.is_empty:
        raise ValueError("empty geometry")
    g = shapely.transform(geom, lambda xy: np.round(xy, DECIMALS))
    if g.geom_type == "Polygon":
        g = orient(g, sign=1.0)
    elif g.geom_type == "MultiPolygon":
        g = shapely.MultiPolygon([orient(p, sign=1.0) for p in g.geoms])
    out = dict(mapping(g))
    out["coordinates"] = _lists(out["coordinates"])
    return out


def rfc7946(geometry: Mapping[str, Any]) -> dict[str, Any]:
    """A GeoJSON geometry dict made RFC 7946 compliant (see ``rfc7946_geometry``)."""
    return rfc7946_geometry(shape(geometry))


def point(lon: float, lat: float) -> dict[str, Any]:
    """A GeoJSON Point, coordinates [lon, lat] rounded to ``DECIMALS``."""
    return {"type": "Point", "coordinates": [round(lon, DECIMALS), round(lat, DECIMALS)]}


def is_ccw(ring: list[list[float]]) -> bool:
    """Whether a closed ring (lon/lat pairs) winds counter-clockwise (positive area)."""
    return bool(shapely.LinearRing(ring).is_ccw)
