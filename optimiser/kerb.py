"""Candidate kerb for new bays, cut from OpenStreetMap ways.

Rules (OSM tags; Code de la route R417-10 and R417-11 forbid stopping on a bus lane
and within 5 m before a pedestrian crossing; Paris applies the same 5 m to junctions):

- drivable ways only (``KERB_HIGHWAYS``), inside the area;
- no way with a bus lane (``busway*``, ``bus:lanes*``, ``lanes:bus*``, ``psv`` lanes):
  a centreline piece does not know its side, so the whole way is left out;
- no kerb within ``CLEARANCE_M`` of a junction (a node shared by two or more ways
  with a ``highway`` tag) or of a crossing, traffic signal or bus stop node;
- pieces of about ``SEGMENT_M``, of which ``USABLE_SHARE`` counts as usable kerb
  (driveways, hydrants and street furniture take the rest, an assumption);
- no piece within ``NEAR_EXISTING_M`` of a bay in place (it is that bay).
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import shapely
from shapely.ops import substring

KERB_HIGHWAYS = frozenset(
    {
        "residential",
        "living_street",
        "primary",
        "secondary",
        "tertiary",
        "unclassified",
        "secondary_link",
        "primary_link",
        "tertiary_link",
    }
)
CLEARANCE_M = 5.0
STOP_NODES = frozenset({"crossing", "traffic_signals", "bus_stop"})
SEGMENT_M = 30.0
USABLE_SHARE = 0.5
NEAR_EXISTING_M = 15.0
MIN_PIECE_M = 5.0
_BUS_TAG = re.compile(r'"(busway[^"]*|bus:lanes[^"]*|lanes:bus[^"]*|lanes:psv[^"]*)"=>"([^"]*)"')


def has_bus_lane(other_tags: str | None) -> bool:
    """Whether an ``other_tags`` hstore string (GDAL's OSM driver) tags a bus lane."""
    for _key, value in _BUS_TAG.findall(other_tags or ""):
        if value not in ("no", "none", "") and not set(value.split("|")) <= {"no", "none", ""}:
            return True
    return False


def junction_points(lines_l93: gpd.GeoSeries) -> np.ndarray:
    """(n, 2) Lambert-93 points where two or more ways meet (shared vertices, or an end
    that touches another way)."""
    count: dict[tuple[float, float], int] = {}
    for geom in lines_l93:
        if geom is None or geom.is_empty:
            continue
        seen = {(round(x, 2), round(y, 2)) for x, y in geom.coords}
        for key in seen:
            count[key] = count.get(key, 0) + 1
    pts = [k for k, n in count.items() if n >= 2]
    return np.asarray(pts, dtype=float).reshape(-1, 2)


def kerb_candidates(
    lines: gpd.GeoDataFrame,
    points: gpd.GeoDataFrame | None,
    boundary_l93: shapely.Geometry,
    existing_xy: np.ndarray,
) -> tuple[list[str], list[list[tuple[float, float]]], list[float], dict[str, int]]:
    """Candidate pieces: ids, WGS84 lines, usable metres, and counts of what was left out.

    ``lines``: the OSM ``lines`` layer (WGS84, with ``highway`` and ``other_tags``);
    ``points``: the ``points`` layer (crossings, signals, bus stops), or None."""
    ways = lines[lines["highway"].notna()].to_crs(2154)
    stops = junction_points(ways.geometry)
    if points is not None and len(points):
        sel = points[points["highway"].isin(STOP_NODES)].to_crs(2154)
        stops = np.vstack([stops, np.column_stack([sel.geometry.x, sel.geometry.y])])
    keep_out = shapely.union_all(shapely.buffer(shapely.points(stops), CLEARANCE_M))
    near = shapely.STRtree(shapely.points(existing_xy))
    kerb = ways[ways["highway"].isin(KERB_HIGHWAYS)]
    bus = kerb["other_tags"].map(has_bus_lane).fillna(False).astype(bool)
    skipped = {"bus_lane_ways": int(bus.sum()), "near_existing_bay": 0}
    ids: list[str] = []
    out: list[list[tuple[float, float]]] = []
    usable: list[float] = []
    for osm_id, geom in zip(kerb["osm_id"][~bus], kerb.geometry[~bus], strict=True):
        inside = geom.intersection(boundary_l93).difference(keep_out)
        for part in getattr(inside, "geoms", [inside]):
            if part.is_empty or part.geom_type != "LineString" or part.length < MIN_PIECE_M:
                continue
            n = max(1, round(part.length / SEGMENT_M))
            for i in range(n):
                piece = substring(part, i / n, (i + 1) / n, normalized=True)
                mid = piece.interpolate(0.5, normalized=True)
                if len(near.query(mid, predicate="dwithin", distance=NEAR_EXISTING_M)):
                    skipped["near_existing_bay"] += 1
                    continue
                ids.append(f"osm-{osm_id}-{len(ids)}")
                ll = gpd.GeoSeries([piece], crs=2154).to_crs(4326).iloc[0]
                out.append([(float(x), float(y)) for x, y in ll.coords])
                usable.append(piece.length * USABLE_SHARE)
    return ids, out, usable, skipped
