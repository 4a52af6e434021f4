"""The site description: one camera, its calibration, the bays and lane zones it watches.

One YAML or JSON file per camera, validated by :class:`Site` (its JSON schema is
written by ``baywatch site-schema``; ``sample_videos/*.yaml`` are worked examples).
Every problem is reported as one line naming the file and the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from shapely.geometry import Polygon
from shapely.validation import explain_validity

from occupancy.config.documents import read_document, validate_document
from occupancy.domain.records import LaneType, VehicleType, stable_id

# NaN or infinity in a coordinate would pass every comparison and break the geometry later.
Coordinate = Annotated[float, Field(allow_inf_nan=False)]
# A pixel may lie a little outside the frame (a bay's corner hidden by the edge), not 1e308 off.
PixelCoordinate = Annotated[float, Field(allow_inf_nan=False, ge=-100_000, le=100_000)]
Pixel = tuple[PixelCoordinate, PixelCoordinate]

# Upper bounds of the site's numbers: far beyond any real camera, low enough that a typo
# (1e308 s) is refused by name instead of overflowing a millisecond clock later on.
MAX_DURATION_S = 86_400.0  # a day: no stop needs longer to count, no gap longer to bridge
MAX_DISTANCE_M = 100.0  # a calibration error or a jitter tolerance above this is no calibration
MAX_STAY_MIN = 1_440.0  # a day, in minutes (Paris delivery bays: 30)
MAX_FRAME_SIDE = 16_384  # pixels: wider than any camera sensor
LonLat = tuple[Coordinate, Coordinate]

DAYS = ("mo", "tu", "we", "th", "fr", "sa", "su")
_HHMM = re.compile(r"^([01]\d|2[0-4]):[0-5]\d$")

# COCO class name -> CDS vehicle type. Persons are detected only to be ignored and blurred.
DEFAULT_CLASS_MAP: dict[str, VehicleType] = {
    "car": VehicleType.CAR,
    "truck": VehicleType.TRUCK,
    "bus": VehicleType.BUS,
    "motorcycle": VehicleType.MOTORCYCLE,
    "bicycle": VehicleType.BICYCLE,
}


class SiteError(ValueError):
    """A site file is missing, unreadable or invalid; the message is one line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSpec(_Strict):
    """Where the footage comes from when the command line names no source."""

    uri: str | None = Field(
        None, description="video file, frame folder, rtsp/http URL or webcam index"
    )
    fps: float | None = Field(
        None, gt=0, le=240, allow_inf_nan=False, description="frame rate of a folder of frames"
    )
    start_time: AwareDatetime | None = Field(
        None,
        description="wall-clock time of the first frame of recorded footage (ISO 8601, with offset)",
    )


class ControlPoint(_Strict):
    """One calibration point: the same spot in the image (pixels, x right, y down, origin top
    left) and on the ground (WGS84 longitude, latitude in degrees).
    """

    pixel: Pixel = Field(description="image position [x, y] in pixels (origin top-left)")
    lonlat: LonLat = Field(
        description="ground position [longitude, latitude], WGS84 (GeoJSON order)"
    )

    @field_validator("lonlat")
    @classmethod
    def _lonlat_range(cls, v: LonLat) -> LonLat:
        lon, lat = v
        if not -180 <= lon <= 180:
            raise ValueError(f"longitude {lon} outside [-180, 180]")
        if not -90 <= lat <= 90:
            raise ValueError(f"latitude {lat} outside [-90, 90]: coordinates must be [lon, lat]")
        return v


class Calibration(_Strict):
    """Image ↔ ground correspondences; at least 4, no three on one line, giving a homography."""

    control_points: list[ControlPoint] = Field(min_length=4)
    max_error_m: float = Field(
        1.0,
        gt=0,
        le=MAX_DISTANCE_M,
        allow_inf_nan=False,
        description="largest accepted reprojection error of a control point, metres",
    )


class DetectorSpec(_Strict):
    """A camera's detector: weights (else ``BAYWATCH_MODEL``), minimum confidence in (0, 1),
    inference size in pixels, and which model classes count as which CDS vehicle type
    (persons are always detected too, to be blurred). ``vision.detector.Detector.for_site``
    builds the detector from it.
    """

    model: str | None = Field(
        None, description="weights for this camera; else BAYWATCH_MODEL, else yolo11n.pt"
    )
    confidence: float = Field(0.25, gt=0, lt=1, allow_inf_nan=False)
    imgsz: int = Field(
        640, ge=160, le=1920, description="inference size; exported models fix their own"
    )
    classes: dict[str, VehicleType] = Field(
        default_factory=lambda: dict(DEFAULT_CLASS_MAP),
        description="detector class name -> CDS vehicle type; decide per camera (an overhead view may "
        "need e.g. 'cell phone': car)",
    )


class OccupancySpec(_Strict):
    """How tracks become sessions."""

    min_stationary_s: float = Field(
        10.0,
        gt=0,
        le=MAX_DURATION_S,
        allow_inf_nan=False,
        description="stationary time before a stop counts",
    )
    grace_s: float = Field(
        5.0,
        ge=0,
        le=MAX_DURATION_S,
        allow_inf_nan=False,
        description="absence bridged (occlusions, missed detections) before a session ends",
    )
    stationary_tolerance_m: float = Field(
        1.0,
        gt=0,
        le=MAX_DISTANCE_M,
        allow_inf_nan=False,
        description="ground movement still counted as stationary",
    )


class TimeSpan(_Strict):
    """CDS Time Span: days and times of day when the bay is a delivery bay."""

    days_of_week: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default_factory=lambda: ["mon", "tue", "wed", "thu", "fri", "sat"]  # type: ignore[arg-type]
    )
    time_of_day_start: str = "00:00"
    time_of_day_end: str = "24:00"

    @field_validator("time_of_day_start", "time_of_day_end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not _HHMM.match(v) or (v.startswith("24") and v != "24:00"):
            raise ValueError(f"{v!r} is not a time of day HH:MM")
        return v

    def opening_hours(self) -> str:
        """The span in OSM opening_hours syntax (the form inventories use)."""
        days = ",".join(d[:2].capitalize() for d in self.days_of_week)
        return f"{days} {self.time_of_day_start}-{self.time_of_day_end}"


class _ZoneBase(_Strict):
    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    name: str | None = None
    pixels: list[Pixel] | None = Field(None, description="polygon in image pixels")
    geometry: dict[str, Any] | None = Field(
        None, description="GeoJSON Polygon, EPSG:4326 [lon, lat]"
    )
    min_stationary_s: float | None = Field(
        None,
        gt=0,
        le=MAX_DURATION_S,
        allow_inf_nan=False,
        description="overrides occupancy.min_stationary_s",
    )

    @model_validator(mode="after")
    def _one_shape(self) -> _ZoneBase:
        if (self.pixels is None) == (self.geometry is None):
            raise ValueError("give exactly one of 'pixels' or 'geometry'")
        if self.pixels is not None:
            _check_ring(self.pixels, "pixels")
        if self.geometry is not None:
            ring = _geojson_ring(self.geometry)
            for lon, lat in ring:
                if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                    raise ValueError(
                        f"geometry: position [{lon}, {lat}] is not [lon, lat] in WGS84"
                    )
            _check_ring(ring, "geometry")
        return self


class Bay(_ZoneBase):
    """A delivery bay: one CDS curb zone."""

    curb_zone_id: str | None = Field(
        None, description="CDS UUID; derived from camera and id if absent"
    )
    max_stay: float | None = Field(
        30, gt=0, le=MAX_STAY_MIN, allow_inf_nan=False, description="minutes (Paris: 30)"
    )
    vehicle_types: list[VehicleType] | None = Field(
        None, description="vehicle types allowed; absent = any"
    )
    user_classes: list[str] = Field(default_factory=lambda: ["commercial"])
    delivery_hours: list[TimeSpan] = Field(
        default_factory=lambda: [TimeSpan()], description="when the bay serves deliveries"
    )
    num_spaces: int = Field(1, ge=1, le=50)


class LaneZone(_ZoneBase):
    """Part of a traffic lane where a stopped vehicle blocks traffic (double parking)."""

    lane_type: LaneType = LaneType.TRAVEL_LANE
    beside_bay: str | None = Field(None, description="id of the bay this lane runs beside")


class Site(_Strict):
    """One camera and what it watches."""

    camera_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    description: str | None = None
    timezone: str = "Europe/Paris"
    source: SourceSpec = Field(default_factory=SourceSpec)
    frame_size: (
        tuple[
            Annotated[int, Field(ge=1, le=MAX_FRAME_SIDE)],
            Annotated[int, Field(ge=1, le=MAX_FRAME_SIDE)],
        ]
        | None
    ) = Field(
        None,
        description="[width, height] the pixel coordinates refer to; checked against the footage",
    )
    calibration: Calibration
    detector: DetectorSpec = Field(default_factory=DetectorSpec)
    occupancy: OccupancySpec = Field(default_factory=OccupancySpec)
    bays: list[Bay] = Field(min_length=1)
    lane_zones: list[LaneZone] = Field(default_factory=list)
    attribution: str | None = Field(None, description="credit for the footage, shown in reports")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {v!r}") from None
        return v

    @model_validator(mode="after")
    def _cross_checks(self) -> Site:
        ids = [b.id for b in self.bays] + [z.id for z in self.lane_zones]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"zone ids must be unique, repeated: {', '.join(dup)}")
        bay_ids = {b.id for b in self.bays}
        for i, lane in enumerate(self.lane_zones):
            if lane.beside_bay is not None and lane.beside_bay not in bay_ids:
                raise ValueError(f"lane_zones.{i}.beside_bay: no bay with id {lane.beside_bay!r}")
        if self.frame_size is not None:
            w, h = self.frame_size
            groups: tuple[tuple[str, Sequence[_ZoneBase]], ...] = (
                ("bays", self.bays),
                ("lane_zones", self.lane_zones),
            )
            for kind, zones in groups:
                for i, z in enumerate(zones):
                    for x, y in z.pixels or ():
                        if not (0 <= x <= w and 0 <= y <= h):
                            raise ValueError(
                                f"{kind}.{i}.pixels: point [{x}, {y}] is outside the {w}x{h} frame"
                            )
            for i, cp in enumerate(self.calibration.control_points):
                x, y = cp.pixel
                if not (0 <= x <= w and 0 <= y <= h):
                    raise ValueError(
                        f"calibration.control_points.{i}.pixel: [{x}, {y}] is outside the "
                        f"{w}x{h} frame"
                    )
        _check_lonlat_order(self)
        return self

    def curb_zone_id(self, bay: Bay) -> str:
        """The bay's CDS ``curb_zone_id``: the one the site file gives, else a UUID derived from
        the camera and the bay's local id (stable across runs).
        """
        return bay.curb_zone_id or stable_id("curb_zone", self.camera_id, bay.id)

    def lane_zone_id(self, zone: LaneZone) -> str:
        """A lane zone's id: a UUID derived from the camera and its local id."""
        return stable_id("lane_zone", self.camera_id, zone.id)


def _geojson_ring(geometry: dict[str, Any]) -> list[Pixel]:
    if geometry.get("type") != "Polygon":
        raise ValueError(f"geometry: type must be 'Polygon', got {geometry.get('type')!r}")
    coords = geometry.get("coordinates")
    if not isinstance(coords, list) or not coords or not isinstance(coords[0], list):
        raise ValueError("geometry: coordinates must be a list of linear rings")
    ring = coords[0]
    try:
        return [(float(p[0]), float(p[1])) for p in ring]
    except (TypeError, ValueError, IndexError):
        raise ValueError("geometry: each position must be [lon, lat]") from None


def _check_ring(points: list[Pixel], field: str) -> None:
    pts = list(points)
    if len(pts) >= 2 and pts[0] == pts[-1]:
        pts = pts[:-1]
    if len(pts) < 3:
        raise ValueError(f"{field}: a polygon needs at least 3 distinct points")
    poly = Polygon(pts)
    if not poly.is_valid:
        raise ValueError(f"{field}: invalid polygon ({explain_validity(poly)})")
    if poly.area <= 0:
        raise ValueError(f"{field}: polygon has no area")


# Rough continental boxes: enough to catch [lat, lon] written where [lon, lat] belongs.
_REGION_BOXES = {
    "Europe": (-32.0, 45.0, 27.0, 72.0),
    "America": (-170.0, -30.0, -56.0, 72.0),
    "Australia": (110.0, 180.0, -48.0, -9.0),
}


def _check_lonlat_order(site: Site) -> None:
    region = site.timezone.split("/", 1)[0]
    box = _REGION_BOXES.get(region)
    if box is None:
        return
    lo_lon, hi_lon, lo_lat, hi_lat = box

    def inside(lon: float, lat: float) -> bool:
        return lo_lon <= lon <= hi_lon and lo_lat <= lat <= hi_lat

    points: list[tuple[str, float, float]] = [
        (f"calibration.control_points.{i}.lonlat", *cp.lonlat)
        for i, cp in enumerate(site.calibration.control_points)
    ]
    groups: tuple[tuple[str, Sequence[_ZoneBase]], ...] = (
        ("bays", site.bays),
        ("lane_zones", site.lane_zones),
    )
    for kind, zones in groups:
        for i, z in enumerate(zones):
            if z.geometry is not None:
                lon, lat = _geojson_ring(z.geometry)[0]
                points.append((f"{kind}.{i}.geometry", lon, lat))
    for field, lon, lat in points:
        if not inside(lon, lat) and inside(lat, lon):
            raise ValueError(
                f"{field}: [{lon}, {lat}] looks like [lat, lon]; GeoJSON order is [lon, lat] "
                f"(time zone {site.timezone})"
            )


def parse_site(data: Any, path: Path) -> Site:
    """Validate an already parsed site document (``path`` names it in errors). Raises
    ``SiteError`` with one line naming the file and the field.
    """
    return validate_document(Site, data, path, SiteError)


def load_site(path: str | Path) -> Site:
    """Read and validate a site file (YAML or JSON)."""
    p = Path(path)
    text = read_document(p, "site file", SiteError)
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        if isinstance(exc, json.JSONDecodeError):
            line = exc.lineno - 1
        where = f" line {line + 1}" if line is not None else ""
        raise SiteError(
            f"{p}:{where} not valid {'JSON' if p.suffix == '.json' else 'YAML'}"
        ) from None
    return parse_site(data, p)


def site_json_schema() -> dict[str, Any]:
    """The JSON Schema of site files (printed by ``baywatch site-schema``)."""
    return Site.model_json_schema()
