"""Candidate kerb for new bays, cut from OpenStreetMap ways, one kerb side at a time.

Rules (OSM tags; Code de la route R417-10 and R417-11 forbid stopping on a bus lane
and within 5 m before a pedestrian crossing; Paris applies the same 5 m to junctions):

- drivable ways only (``KERB_HIGHWAYS``), inside the area;
- each way has two kerb sides, left and right of its drawn direction; a side with a
  bus (or PSV) lane is left out, the other side stays a candidate (``bus_lane_sides``,
  right-hand traffic):

  - ``busway:left|right|both=lane|opposite_lane|track``: that side;
  - ``busway=lane|track``: on a two-way street both sides; on a one-way street the
    side traffic keeps to, the right (the left for ``oneway=-1``, drawn against the
    traffic); ``busway=opposite_lane``: the contraflow lane, on the other side;
  - ``lanes:bus|psv:forward=N`` (N > 0): right; ``:backward``: left; a plain
    ``lanes:bus|psv=N`` on a one-way street: its traffic's side, on a two-way street
    both sides (which one is not said);
  - ``bus:lanes`` / ``psv:lanes`` (one value per lane, left to right in the direction
    the tag applies to: the way's, the traffic's on a ``oneway=-1`` street): a
    ``designated`` last lane of ``:forward`` is on the right kerb, of ``:backward`` on
    the left; without a suffix the first and last lanes are the two kerbs' lanes; a
    middle bus lane leaves both kerbs free;
- no kerb within ``CLEARANCE_M`` of a junction (a node shared by two or more ways
  with a ``highway`` tag) or of a crossing, traffic signal or bus stop node, measured
  along the centreline before the sides are drawn;
- pieces of about ``SEGMENT_M``, of which ``USABLE_SHARE`` counts as usable kerb
  (driveways, hydrants and street furniture take the rest, an assumption), drawn
  ``KERB_OFFSET_M`` from the centreline on their side (for the map and the walking
  distances; OSM ways carry no kerb line);
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
KERB_OFFSET_M = 3.0  # half a one-lane Paris street with parking on one side (assumption)
SIDES = ("left", "right")
_TAG = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')
_NO = frozenset({"", "no", "none"})
_BUS_LANE = frozenset({"lane", "opposite_lane", "track"})
_LANE_USE = frozenset({"designated"})  # "yes": buses may use it, like everyone


def parse_tags(other_tags: str | None) -> dict[str, str]:
    """GDAL's OSM ``other_tags`` hstore string as a dict (keys and values as written)."""
    return {k: v for k, v in _TAG.findall(other_tags or "")}


def _count(value: str | None) -> int:
    try:
        return int(str(value).split(";")[0]) if value is not None else 0
    except ValueError:
        return 0


def bus_lane_sides(tags: dict[str, str], oneway: str | None = None) -> frozenset[str]:
    """Kerb sides ("left", "right" of the way's drawn direction) with a bus or PSV lane,
    by the rules in the module docstring. ``oneway`` defaults to ``tags["oneway"]``."""
    ow = (oneway if oneway is not None else tags.get("oneway", "no")).strip().lower()
    one = ow in ("yes", "true", "1", "-1", "reverse")
    # The side traffic keeps to on a one-way street, and the other (contraflow) side.
    near, far = ("left", "right") if ow in ("-1", "reverse") else ("right", "left")
    out: set[str] = set()

    def add(where: str) -> None:
        out.update(SIDES if where == "both" else (where,))

    for side in ("left", "right", "both"):
        if tags.get(f"busway:{side}", "no") in _BUS_LANE:
            add(side)
    plain = tags.get("busway", "no")
    if plain == "opposite_lane":
        add(far if one else "both")
    elif plain in _BUS_LANE:
        add(near if one else "both")
    for mode in ("bus", "psv"):
        if _count(tags.get(f"lanes:{mode}:forward")) > 0:
            add("right")
        if _count(tags.get(f"lanes:{mode}:backward")) > 0:
            add("left")
        if _count(tags.get(f"lanes:{mode}")) > 0:
            add(near if one else "both")
        for suffix in (":forward", ":backward", ""):
            lanes = tags.get(f"{mode}:lanes{suffix}")
            if lanes is None:
                continue
            uses = [u.strip() for u in lanes.split("|")]
            first, last = uses[0] in _LANE_USE, uses[-1] in _LANE_USE
            if suffix == ":forward" and last:
                add("right")
            elif suffix == ":backward" and last:
                add("left")
            elif not suffix:
                # The whole carriageway, left to right (in the traffic's direction on a
                # one-way street): its first and last lanes run along the two kerbs.
                if last:
                    add(near)
                if first:
                    add(far)
    return frozenset(out)


def has_bus_lane(other_tags: str | None) -> bool:
    """Whether an ``other_tags`` hstore string (GDAL's OSM driver) tags a bus lane on
    either kerb side."""
    return bool(bus_lane_sides(parse_tags(other_tags)))


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
    """Candidate pieces, one per kerb side: ids (``osm-<way>-<l|r>-<n>``), WGS84 lines,
    usable metres, and counts of what was left out (``bus_lane_sides``,
    ``bus_lane_ways`` with at least one, ``near_existing_bay``).

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
    bus = [
        bus_lane_sides(parse_tags(t if isinstance(t, str) else None)) for t in kerb["other_tags"]
    ]
    skipped = {
        "bus_lane_sides": sum(len(b) for b in bus),
        "bus_lane_ways": sum(bool(b) for b in bus),
        "near_existing_bay": 0,
    }
    ids: list[str] = []
    out: list[list[tuple[float, float]]] = []
    usable: list[float] = []
    for osm_id, geom, busy in zip(kerb["osm_id"], kerb.geometry, bus, strict=True):
        sides = [s for s in SIDES if s not in busy]
        if not sides:
            continue
        inside = geom.intersection(boundary_l93).difference(keep_out)
        for part in getattr(inside, "geoms", [inside]):
            if part.is_empty or part.geom_type != "LineString" or part.length < MIN_PIECE_M:
                continue
            n = max(1, round(part.length / SEGMENT_M))
            for i in range(n):
                piece = substring(part, i / n, (i + 1) / n, normalized=True)
                for side in sides:
                    line = _kerb_line(piece, side)
                    mid = line.interpolate(0.5, normalized=True)
                    if len(near.query(mid, predicate="dwithin", distance=NEAR_EXISTING_M)):
                        skipped["near_existing_bay"] += 1
                        continue
                    ids.append(f"osm-{osm_id}-{side[0]}-{len(ids)}")
                    ll = gpd.GeoSeries([line], crs=2154).to_crs(4326).iloc[0]
                    out.append([(float(x), float(y)) for x, y in ll.coords])
                    usable.append(piece.length * USABLE_SHARE)
    return ids, out, usable, skipped


def _kerb_line(piece: shapely.LineString, side: str) -> shapely.LineString:
    """The piece drawn ``KERB_OFFSET_M`` to its ``side`` (shapely: + left, - right); the
    centreline itself where the offset degenerates (a tight bend)."""
    off = shapely.offset_curve(piece, KERB_OFFSET_M if side == "left" else -KERB_OFFSET_M)
    if off.is_empty or off.geom_type != "LineString":
        return piece
    return off
