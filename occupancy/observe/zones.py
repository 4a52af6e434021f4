"""A site's bays and lane zones compiled into ground geometry (metres) and pixels."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import Point, Polygon

from occupancy.config.site import Site, SiteError, _ZoneBase
from occupancy.domain.curb_zone import CurbZoneRecord
from occupancy.domain.records import LaneType, SessionKind, VehicleType
from occupancy.observe.calibration import GroundProjection


@dataclass(frozen=True)
class Zone:
    """One watched zone: a bay (CDS curb zone) or a lane zone (double parking)."""

    key: str  # curb_zone_id or lane_zone_id
    local_id: str
    name: str
    kind: SessionKind  # PARK for bays, DOUBLE_PARK for lane zones
    ground: Polygon  # local metres
    pixels: np.ndarray  # (N, 2) polygon in image pixels
    lonlat: list[tuple[float, float]]  # closed ring, WGS84
    axis: tuple[float, float]  # unit vector of the zone's long side (vehicles park along it)
    min_stationary_ms: int
    max_stay_min: float | None = None
    allowed_types: frozenset[VehicleType] | None = None
    lane_types: tuple[LaneType, ...] = ()
    beside_curb_zone_id: str | None = None

    def contains(self, xy: tuple[float, float]) -> bool:
        """Whether a ground point (x, y in metres, camera frame) lies strictly inside the zone."""
        return self.ground.contains(Point(xy))

    @property
    def length_m(self) -> float:
        """Length in metres of the zone's long side (of its minimum rotated rectangle)."""
        return _sides(self.ground)[0]

    @property
    def width_m(self) -> float:
        """Width in metres: the short side of the zone's minimum rotated rectangle."""
        return _sides(self.ground)[1]


# Share of a vehicle's ground footprint that must lie in a bay for it to count as there
# when the single footprint point (bottom centre) misses every zone: on oblique views a
# car parked along diagonal painted lines has its box's bottom centre a few pixels
# outside its slot while most of its footprint is inside.
FOOTPRINT_MIN_SHARE = 0.4


def zone_index(
    zones: list[Zone],
    points: np.ndarray,
    footprints: list[np.ndarray | None] | None = None,
) -> list[int | None]:
    """For each ground point (N, 2), the index of the zone it belongs to, or None.

    A point inside a zone belongs to the first such zone (bays before lane zones, as
    ``compile_zones`` orders them). A point in no zone belongs to the zone holding the
    largest share (at least ``FOOTPRINT_MIN_SHARE``) of its footprint polygon (its (K, 2)
    ground ring), if one is given. Vectorised over points with shapely 2 predicates.
    """
    n = len(points)
    out: list[int | None] = [None] * n
    if n == 0 or not zones:
        return out
    pts = shapely.points(np.asarray(points, dtype=np.float64))
    for zi, z in enumerate(zones):
        inside = shapely.contains(z.ground, pts)
        for i in np.flatnonzero(inside):
            if out[i] is None:
                out[i] = zi
    if footprints is None:
        return out
    missing = [i for i in range(n) if out[i] is None and footprints[i] is not None]
    if not missing:
        return out
    polys = shapely.polygons([np.asarray(footprints[i], dtype=np.float64) for i in missing])
    polys = shapely.make_valid(polys)
    area = shapely.area(polys)
    best = np.zeros(len(missing))
    for zi, z in enumerate(zones):
        share = shapely.area(shapely.intersection(polys, z.ground)) / np.maximum(area, 1e-9)
        better = (share > best) & (share >= FOOTPRINT_MIN_SHARE)
        for j in np.flatnonzero(better):
            out[missing[j]] = zi
        best = np.where(better, share, best)
    return out


def _sides(poly: Polygon) -> tuple[float, float]:
    rect = poly.minimum_rotated_rectangle
    xs, ys = rect.exterior.coords.xy
    a = math.hypot(xs[1] - xs[0], ys[1] - ys[0])
    b = math.hypot(xs[2] - xs[1], ys[2] - ys[1])
    return max(a, b), min(a, b)


def _long_axis(poly: Polygon) -> tuple[float, float]:
    rect = poly.minimum_rotated_rectangle
    xs, ys = rect.exterior.coords.xy
    e1 = (xs[1] - xs[0], ys[1] - ys[0])
    e2 = (xs[2] - xs[1], ys[2] - ys[1])
    e = e1 if math.hypot(*e1) >= math.hypot(*e2) else e2
    n = math.hypot(*e) or 1.0
    return (e[0] / n, e[1] / n)


def _shape(
    site: Site, z: _ZoneBase, proj: GroundProjection, where: str
) -> tuple[np.ndarray, np.ndarray]:
    """(pixel ring, ground ring) of a zone given in either form."""
    if z.pixels is not None:
        px = np.asarray(z.pixels, dtype=np.float64)
        ground = proj.pixels_to_ground(px)
    else:
        assert z.geometry is not None
        ring = z.geometry["coordinates"][0]
        ground = proj.lonlat_to_ground([(p[0], p[1]) for p in ring])
        if not proj.in_front_of_camera(ground).all():
            raise SiteError(f"{where}.geometry: the zone lies behind the camera's horizon")
        px = proj.ground_to_pixels(ground)
    if site.frame_size is not None:
        w, h = site.frame_size
        tol = 2.0
        out = (px[:, 0] < -tol) | (px[:, 0] > w + tol) | (px[:, 1] < -tol) | (px[:, 1] > h + tol)
        if out.any():
            x, y = px[int(np.argmax(out))]
            raise SiteError(f"{where}: zone reaches [{x:.0f}, {y:.0f}], outside the {w}x{h} frame")
    gpoly = Polygon(ground)
    if not gpoly.is_valid or gpoly.area <= 0.5:
        raise SiteError(
            f"{where}: zone is degenerate on the ground ({gpoly.area:.2f} m²); check the calibration"
        )
    return px, ground


def _compile(
    site: Site, z: _ZoneBase, proj: GroundProjection, where: str, key: str, kind: SessionKind
) -> dict[str, object]:
    """The fields bays and lane zones share."""
    occ = site.occupancy
    px, ground = _shape(site, z, proj, where)
    g = Polygon(ground)
    ll = proj.ground_to_lonlat(np.vstack([ground, ground[:1]]))
    return {
        "key": key,
        "local_id": z.id,
        "name": z.name or z.id,
        "kind": kind,
        "ground": g,
        "pixels": px,
        "lonlat": [(float(a), float(b)) for a, b in ll],
        "axis": _long_axis(g),
        "min_stationary_ms": round(1000 * (z.min_stationary_s or occ.min_stationary_s)),
    }


def compile_zones(site: Site, proj: GroundProjection) -> list[Zone]:
    """Bays first, then lane zones: a footprint belongs to the first zone that holds it."""
    zones: list[Zone] = []
    for i, bay in enumerate(site.bays):
        common = _compile(site, bay, proj, f"bays.{i}", site.curb_zone_id(bay), SessionKind.PARK)
        allowed = None if bay.vehicle_types is None else frozenset(bay.vehicle_types)
        zones.append(Zone(**common, max_stay_min=bay.max_stay, allowed_types=allowed))  # type: ignore[arg-type]
    bay_keys = {b.id: site.curb_zone_id(b) for b in site.bays}
    for i, lane in enumerate(site.lane_zones):
        key = site.lane_zone_id(lane)
        common = _compile(site, lane, proj, f"lane_zones.{i}", key, SessionKind.DOUBLE_PARK)
        beside = bay_keys.get(lane.beside_bay) if lane.beside_bay else None
        zones.append(Zone(**common, lane_types=(lane.lane_type,), beside_curb_zone_id=beside))  # type: ignore[arg-type]
    return zones


def zone_rows(
    site: Site, zones: list[Zone]
) -> tuple[list[CurbZoneRecord], list[dict[str, object]]]:
    """The site's bays as ``curb_zones`` records and its lane zones as ``lane_zones`` rows.

    Geometry is the zone's ground polygon in WGS84 (lon, lat); lengths and widths are
    the polygon's, in centimetres; ``device_id`` is the site's camera.
    """
    bays = {site.curb_zone_id(b): b for b in site.bays}
    curb: list[CurbZoneRecord] = []
    lanes: list[dict[str, object]] = []
    for z in zones:
        c = z.ground.centroid
        lon, lat = _centroid_lonlat(z)
        geometry = {"type": "Polygon", "coordinates": [[list(p) for p in z.lonlat]]}
        if z.kind is SessionKind.PARK:
            bay = bays[z.key]
            curb.append(
                CurbZoneRecord(
                    curb_zone_id=z.key,
                    name=z.name,
                    device_id=site.camera_id,
                    source=f"site:{site.camera_id}",
                    geometry=geometry,
                    lon=lon,
                    lat=lat,
                    length_cm=round(z.length_m * 100),
                    width_cm=round(z.width_m * 100),
                    num_spaces=bay.num_spaces,
                    max_stay_min=bay.max_stay,
                    vehicle_types=None
                    if bay.vehicle_types is None
                    else tuple(str(v) for v in bay.vehicle_types),
                    user_classes=tuple(bay.user_classes),
                    delivery_hours="; ".join(s.opening_hours() for s in bay.delivery_hours),
                    attributes={"local_id": z.local_id, "centroid_m": [c.x, c.y]},
                )
            )
        else:
            lanes.append(
                {
                    "lane_zone_id": z.key,
                    "name": z.name,
                    "device_id": site.camera_id,
                    "geometry": geometry,
                    "lon": lon,
                    "lat": lat,
                    "lane_type": str(z.lane_types[0]),
                    "curb_zone_id": z.beside_curb_zone_id,
                }
            )
    return curb, lanes


def _centroid_lonlat(z: Zone) -> tuple[float, float]:
    ring = np.asarray(z.lonlat[:-1])
    return float(ring[:, 0].mean()), float(ring[:, 1].mean())
