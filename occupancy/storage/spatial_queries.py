"""Spatial questions about bays: in a box, in an area, nearest (free) to a point.

On PostgreSQL they run in the database on the PostGIS ``geom`` column and its GiST
indexes (``occupancy.storage.store.POSTGIS_DDL``). On SQLite the same questions are answered
from the stored GeoJSON with NumPy and Shapely, giving the same ids in the same order
and the same distances (to the millimetre): a laptop and the server agree.

Which bays are occupied at an instant is plain SQL on ``sessions`` and ``events`` on
both databases.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from shapely import STRtree
from shapely.geometry import Point, box, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points
from sqlalchemy import Engine, text

# PostGIS' geography distance with use_spheroid=false uses this sphere (WGS84 mean radius).
EARTH_RADIUS_M = 6371008.7714


@dataclass(frozen=True, slots=True)
class NearbyZone:
    curb_zone_id: str
    distance_m: float  # 0 when the point lies in the bay


class SpatialQueryError(ValueError):
    """A bbox, point or area that cannot be queried; the message names the field."""


# Bays occupied at :t — a closed session covering t, or a park_start whose session has
# neither ended nor been closed yet (a live camera's vehicle still parked).
_OCCUPIED_SQL = """
SELECT s.curb_zone_id FROM sessions s
 WHERE s.kind = 'park' AND s.curb_zone_id IS NOT NULL AND s.start_ms <= :t AND s.end_ms > :t
UNION
SELECT e.curb_zone_id FROM events e
 WHERE e.event_type = 'park_start' AND e.lane_zone_id IS NULL AND e.curb_zone_id IS NOT NULL
   AND e.event_time <= :t
   AND NOT EXISTS (SELECT 1 FROM events x
                    WHERE x.event_session_id = e.event_session_id AND x.event_type = 'park_end')
   AND NOT EXISTS (SELECT 1 FROM sessions y WHERE y.session_id = e.event_session_id)
"""


def check_bbox(min_lon: float, min_lat: float, max_lon: float, max_lat: float) -> None:
    if not (-180 <= min_lon <= max_lon <= 180):
        raise SpatialQueryError(
            f"bbox: longitudes must satisfy -180 <= min_lon <= max_lon <= 180, got {min_lon}, {max_lon}"
        )
    if not (-90 <= min_lat <= max_lat <= 90):
        raise SpatialQueryError(
            f"bbox: latitudes must satisfy -90 <= min_lat <= max_lat <= 90, got {min_lat}, {max_lat}"
        )


def check_point(lon: float, lat: float) -> None:
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise SpatialQueryError(f"point: ({lon}, {lat}) is not a WGS84 longitude, latitude")


def area_geometry(area: Mapping[str, Any]) -> BaseGeometry:
    try:
        geom = shape(area)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SpatialQueryError(f"area: not a GeoJSON geometry ({exc})") from exc
    if geom.geom_type not in ("Polygon", "MultiPolygon") or not geom.is_valid:
        raise SpatialQueryError(
            f"area: expected a valid Polygon or MultiPolygon, got {geom.geom_type}"
        )
    return geom


def occupied_at(engine: Engine, t_ms: int) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text(_OCCUPIED_SQL), {"t": t_ms}).scalars())


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


# -- PostGIS ---------------------------------------------------------------------------

_PT = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)"


def postgis_bbox(engine: Engine, bbox: tuple[float, float, float, float]) -> list[str]:
    sql = text(
        "SELECT curb_zone_id FROM curb_zones "
        "WHERE geom && ST_MakeEnvelope(:a, :b, :c, :d, 4326) "
        "AND ST_Intersects(geom, ST_MakeEnvelope(:a, :b, :c, :d, 4326)) "
        "ORDER BY curb_zone_id"
    )
    a, b, c, d = bbox
    with engine.connect() as conn:
        return list(conn.execute(sql, {"a": a, "b": b, "c": c, "d": d}).scalars())


def postgis_area(engine: Engine, area: Mapping[str, Any]) -> list[str]:
    sql = text(
        "SELECT curb_zone_id FROM curb_zones "
        "WHERE ST_Intersects(geom, ST_SetSRID(ST_GeomFromGeoJSON(:g), 4326)) "
        "ORDER BY curb_zone_id"
    )
    with engine.connect() as conn:
        return list(conn.execute(sql, {"g": json.dumps(dict(area))}).scalars())


def postgis_nearest(
    engine: Engine, lon: float, lat: float, *, k: int, within_m: float, free_at_ms: int | None
) -> list[NearbyZone]:
    free = "" if free_at_ms is None else f"AND curb_zone_id NOT IN ({_OCCUPIED_SQL})"
    sql = text(
        f"SELECT curb_zone_id, ST_Distance(geom::geography, {_PT}::geography, false) AS d "
        f"FROM curb_zones WHERE ST_DWithin(geom::geography, {_PT}::geography, :within, false) "
        f"{free} ORDER BY d, curb_zone_id LIMIT :k"
    )
    params = {"lon": lon, "lat": lat, "within": within_m, "k": k, "t": free_at_ms}
    with engine.connect() as conn:
        return [NearbyZone(r[0], float(r[1])) for r in conn.execute(sql, params)]


# -- fallback (SQLite and any other database) ------------------------------------------


class ZoneIndex:
    """Bays' polygons from the GeoJSON column, with an STR-tree for the box/area tests."""

    def __init__(self, ids: list[str], geometries: list[Any]) -> None:
        self.ids = np.asarray(ids, dtype=object)
        self.polys = np.asarray(
            [shape(g if isinstance(g, Mapping) else json.loads(g)) for g in geometries],
            dtype=object,
        )
        self.tree = STRtree(self.polys)

    @classmethod
    def load(cls, engine: Engine) -> ZoneIndex:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT curb_zone_id, geometry FROM curb_zones")).all()
        return cls([r[0] for r in rows], [r[1] for r in rows])

    def intersecting(self, geom: BaseGeometry) -> list[str]:
        hits = self.tree.query(geom, predicate="intersects")
        return sorted(str(i) for i in self.ids[hits])

    def bbox(self, bbox: tuple[float, float, float, float]) -> list[str]:
        return self.intersecting(box(*bbox))

    def nearest(
        self, lon: float, lat: float, *, k: int, within_m: float, exclude: set[str]
    ) -> list[NearbyZone]:
        if len(self.ids) == 0:
            return []
        # Candidates: bays whose box lies within reach, in degrees (generous at any latitude).
        dlat = math.degrees(within_m / EARTH_RADIUS_M) * 1.01
        dlon = dlat / max(math.cos(math.radians(min(89.0, abs(lat) + dlat))), 1e-6)
        cand = self.tree.query(box(lon - dlon, lat - dlat, lon + dlon, lat + dlat))
        # Nearest point found in a local metric frame, its distance measured on the sphere
        # like PostGIS: the small frame distortion moves the point, not the distance.
        sx = math.cos(math.radians(lat))
        here = Point(0.0, 0.0)
        out = []
        for i in cand:
            zid = str(self.ids[i])
            if zid in exclude:
                continue
            poly = self.polys[i]
            local = _scale(poly, lon, lat, sx)
            if local.contains(here) or local.touches(here):
                d = 0.0
            else:
                p = nearest_points(local, here)[0]
                d = haversine_m(lon, lat, lon + p.x / sx, lat + p.y)
            if d <= within_m:
                out.append(NearbyZone(zid, d))
        out.sort(key=lambda z: (z.distance_m, z.curb_zone_id))
        return out[:k]


def _scale(poly: BaseGeometry, lon: float, lat: float, sx: float) -> BaseGeometry:
    from shapely import affinity

    return affinity.affine_transform(poly, [sx, 0.0, 0.0, 1.0, -lon * sx, -lat])
