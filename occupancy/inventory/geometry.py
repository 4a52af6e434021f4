"""Bay footprints: rectangles along the kerb, kerb direction from streets.

Lengths and distances are computed in the projected metric CRS that
``occupancy.domain.geo.metric_crs`` chooses (Lambert-93 in metropolitan France, else
UTM). Stored geometry is WGS84 GeoJSON (RFC 7946, longitude first).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from occupancy.domain.geo import WGS84, transformer

# A bay whose point lies farther than this from every street keeps the default direction.
MAX_STREET_DISTANCE_M = 25.0
# Without a street layer a bay is drawn east-west: an arbitrary but stated choice.
DEFAULT_BEARING_DEG = 90.0


@dataclass(frozen=True)
class KerbFrames:
    """Where each bay point stands against its nearest street (in the metric ``crs``).

    ``angle_rad``: direction of the street at the point (radians from east,
    counter-clockwise), the default east-west where no street is near; ``found``:
    a street within ``MAX_STREET_DISTANCE_M`` gave it; ``distance_m``: the point's
    distance from that street's centre line (NaN where none); ``normal_x``/``normal_y``:
    unit vector from the centre line towards the point, the kerb side of the street
    the bay is on (zero where none); ``side_known``: False where the point lies on
    the centre line (within ``ON_LINE_M``), whose side is then the right of the way's
    drawn direction. ``clearance_m``: the least distance, across the street, between
    the bay's centre line and the street's centre line at the bay's two ends and at
    the point (a curved or slanting way comes closer at one end than at the point).
    """

    angle_rad: np.ndarray
    found: np.ndarray
    distance_m: np.ndarray
    normal_x: np.ndarray
    normal_y: np.ndarray
    side_known: np.ndarray
    clearance_m: np.ndarray


# A point this close to a street's centre line does not tell which side its bay is on.
ON_LINE_M = 0.05


def kerb_frames(
    lon: np.ndarray,
    lat: np.ndarray,
    streets: gpd.GeoDataFrame | None,
    crs: CRS,
    length_m: np.ndarray | None = None,
) -> KerbFrames:
    """Direction, side and distance of the nearest street at each point, and the
    clearance over each bay's ``length_m`` (default: at the point only); see ``KerbFrames``."""
    n = len(lon)
    angle = np.full(n, np.deg2rad(90.0 - DEFAULT_BEARING_DEG))
    found = np.zeros(n, dtype=bool)
    dist = np.full(n, np.nan)
    nx, ny = np.zeros(n), np.zeros(n)
    known = np.zeros(n, dtype=bool)
    clear = np.full(n, np.nan)
    out = KerbFrames(angle, found, dist, nx, ny, known, clear)
    if streets is None or streets.empty or n == 0:
        return out
    to_m = transformer(WGS84, crs)
    x, y = to_m.transform(np.asarray(lon, float), np.asarray(lat, float))
    pts = gpd.GeoDataFrame(geometry=shapely.points(x, y), crs=crs)
    lines = streets.to_crs(crs)[["geometry"]].reset_index(drop=True)
    near = gpd.sjoin_nearest(pts, lines, how="left", max_distance=MAX_STREET_DISTANCE_M)
    near = near[~near.index.duplicated(keep="first")].dropna(subset=["index_right"])
    if near.empty:
        return out
    idx = near.index.to_numpy()
    geoms = lines.geometry.to_numpy()[near["index_right"].to_numpy(dtype=int)]
    at = pts.geometry.to_numpy()[idx]
    pos = shapely.line_locate_point(geoms, at)
    a = shapely.line_interpolate_point(geoms, np.maximum(pos - 1.0, 0.0))
    b = shapely.line_interpolate_point(geoms, pos + 1.0)
    foot = shapely.line_interpolate_point(geoms, pos)
    dx = shapely.get_x(b) - shapely.get_x(a)
    dy = shapely.get_y(b) - shapely.get_y(a)
    ok = np.hypot(dx, dy) > 1e-6
    angle[idx[ok]] = np.arctan2(dy[ok], dx[ok])
    found[idx[ok]] = True
    # Across the street: from the centre line to the point (its kerb side).
    ox = shapely.get_x(at) - shapely.get_x(foot)
    oy = shapely.get_y(at) - shapely.get_y(foot)
    d = np.hypot(ox, oy)
    off_line = d > ON_LINE_M
    ux, uy = np.cos(angle[idx]), np.sin(angle[idx])
    # On the line: the right of the way's drawn direction (traffic keeps right in France).
    sx = np.where(off_line, ox / np.where(off_line, d, 1.0), uy)
    sy = np.where(off_line, oy / np.where(off_line, d, 1.0), -ux)
    dist[idx[ok]] = d[ok]
    nx[idx[ok]], ny[idx[ok]] = sx[ok], sy[ok]
    known[idx[ok]] = off_line[ok]
    # Across-street distance of the way from the bay's centre line at its ends and
    # quarter points (a bend between the point and an end pokes in there).
    half = np.zeros(len(idx)) if length_m is None else np.asarray(length_m, float)[idx] / 2.0
    px, py = shapely.get_x(at), shapely.get_y(at)
    least = d.copy()
    for sign in (-1.0, -0.5, 0.5, 1.0):
        qx, qy = px + sign * half * ux, py + sign * half * uy
        # Where the way crosses the normal through the station: the nearest crossing.
        reach = MAX_STREET_DISTANCE_M + 10.0
        normal = shapely.linestrings(
            np.stack(
                [
                    np.column_stack([qx - reach * sx, qy - reach * sy]),
                    np.column_stack([qx + reach * sx, qy + reach * sy]),
                ],
                axis=1,
            )
        )
        xy, which = shapely.get_coordinates(shapely.intersection(normal, geoms), return_index=True)
        across = np.full(len(idx), np.inf)
        if len(which):
            v = (qx[which] - xy[:, 0]) * sx[which] + (qy[which] - xy[:, 1]) * sy[which]
            nearest = np.full(len(idx), np.inf)
            np.minimum.at(nearest, which, np.abs(v))
            pick = np.abs(v) == nearest[which]
            across[which[pick]] = v[pick]
        least = np.minimum(least, across)
    clear[idx[ok]] = least[ok]
    return out


def kerb_bearings(
    lon: np.ndarray, lat: np.ndarray, streets: gpd.GeoDataFrame | None, crs: CRS
) -> tuple[np.ndarray, np.ndarray]:
    """Bearing (degrees from east, counter-clockwise, in ``crs``) of the nearest street.

    Returns (angle_rad, found) where ``found`` says a street within
    ``MAX_STREET_DISTANCE_M`` gave the direction; elsewhere the default is used.
    """
    f = kerb_frames(lon, lat, streets, crs)
    return f.angle_rad, f.found


def kerb_side_shift(frames: KerbFrames, width_m: np.ndarray) -> np.ndarray:
    """How far (m) to move each rectangle away from its street so that it lies wholly on
    the kerb side of the centre line: ``width / 2 - clearance`` where the street comes
    closer to the bay's centre line than half the bay's width (at the point or at
    either end), else 0 (the point is kept as the bay's centre: inventories place it
    on the bay). Zero where no street was found.
    """
    need = np.asarray(width_m, float) / 2.0 - np.nan_to_num(frames.clearance_m, nan=np.inf)
    return np.where(frames.found, np.maximum(need, 0.0), 0.0)


def bay_rectangles(
    lon: np.ndarray,
    lat: np.ndarray,
    length_m: np.ndarray,
    width_m: np.ndarray,
    angle_rad: np.ndarray,
    crs: CRS,
    shift: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[dict[str, object]]:
    """GeoJSON polygons (WGS84) of length x width rectangles, the long side at
    ``angle_rad``, centred on each point moved by ``shift`` (metres east, north in
    ``crs``; none: centred on the point)."""
    n = len(lon)
    if n == 0:
        return []
    to_m = transformer(WGS84, crs)
    to_ll = transformer(crs, WGS84)
    x, y = to_m.transform(np.asarray(lon, float), np.asarray(lat, float))
    if shift is not None:
        x, y = x + shift[0], y + shift[1]
    ux, uy = np.cos(angle_rad), np.sin(angle_rad)  # along the kerb
    vx, vy = -uy, ux  # across
    hl, hw = np.asarray(length_m) / 2.0, np.asarray(width_m) / 2.0
    sl = np.array([-1, 1, 1, -1, -1])[None, :]
    sw = np.array([-1, -1, 1, 1, -1])[None, :]
    cx = x[:, None] + sl * (hl * ux)[:, None] + sw * (hw * vx)[:, None]
    cy = y[:, None] + sl * (hl * uy)[:, None] + sw * (hw * vy)[:, None]
    lo, la = to_ll.transform(cx.ravel(), cy.ravel())
    lo = np.round(np.asarray(lo).reshape(n, 5), 7)
    la = np.round(np.asarray(la).reshape(n, 5), 7)
    return [
        {"type": "Polygon", "coordinates": [np.stack([lo[i], la[i]], axis=1).tolist()]}
        for i in range(n)
    ]


def shapely_shape(geom: Any) -> shapely.Geometry:
    """A shapely geometry from a GeoJSON dict (or JSON text) or WKT text."""
    if isinstance(geom, dict):
        return shapely.from_geojson(json.dumps(geom))
    text = str(geom).strip()
    if text.startswith("{"):
        return shapely.from_geojson(text)
    return shapely.from_wkt(text)


def to_geojson(geom: shapely.Geometry) -> dict[str, Any]:
    """A shapely geometry as a GeoJSON dict (coordinates as given, lon/lat for WGS84)."""
    out: dict[str, Any] = json.loads(shapely.to_geojson(geom))
    return out


def load_streets(path: str | Path) -> gpd.GeoDataFrame:
    """Drivable street centre lines from an OSM PBF, GeoJSON or GeoPackage file."""
    p = Path(path)
    if p.suffix == ".pbf":
        g = gpd.read_file(p, layer="lines", where="highway IS NOT NULL")
        return g[g["highway"].notna()][["highway", "name", "geometry"]]
    return gpd.read_file(p)
