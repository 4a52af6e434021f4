"""Bays as CDS Curbs objects (1.0 and 1.1): zones, areas, policies and, in 1.1, cameras.

Identifiers: CDS wants UUIDs for zones, areas, policies, objects and devices, stable
for as long as the thing is the same. A stored id that already is a UUID is used as
it is; any other (an area code "75101", a camera name "meva-g340") becomes a UUIDv5
of its kind and natural key (``cds_uuid``), so it is the same across re-imports,
restarts and servers. ``CdsIds`` holds both directions for the current bays.

Regulation (curbs/README.md "Policy", "Rule", "Time Span"): a bay's delivery regime
is its OSM ``delivery_hours`` (null or 24/7: always). Each bay gets

* priority 1, ``loading`` for delivery vehicles (one rule per allowed vehicle class,
  ``max_stay`` in minutes), during the regime's time spans;
* priority 2, ``no parking`` for everyone else during the same spans;
* for a periodic bay only, priority 3, ``parking`` for everyone at any time: outside
  the spans (Paris "ZL periodique") the bay is an ordinary parking space.

Time spans come from the opening_hours parser evaluated over a reference week, so
any OSM syntax the inventory stores is published exactly as the parser reads it.
Equal regulations share a policy whose id is derived from its content.
"""

from __future__ import annotations

import math
import uuid
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson
import shapely
from shapely import affinity
from shapely.geometry import shape

from api.live import Bay, BayState, LiveIndex, StateChange
from occupancy.domain.geojson import point, rfc7946, rfc7946_geometry
from occupancy.domain.records import stable_id

if TYPE_CHECKING:
    from api.state import ApiState

# CDS street_side values; other spellings (e.g. the Paris "Pair"/"Impair") are omitted.
_SIDES = {"N", "NE", "E", "SE", "S", "SW", "W", "NW"}
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A week without French public holidays: Monday 8 January 2024.
_REF_MONDAY = datetime(2024, 1, 8)

# Vehicle types (events) -> CDS user classes (rules). "freight" is a large delivery
# truck as a vehicle type but a purpose as a user class: as a vehicle it is a truck.
_VEHICLE_CLASS = {
    "van": "van",
    "truck": "truck",
    "freight": "truck",
    "cargo_bicycle": "cargo_bicycle",
    "car": "car",
    "bus": "bus",
    "motorcycle": "motorcycle",
    "bicycle": "bicycle",
    "moped": "moped",
    "scooter": "scooter",
}
# Stored user classes -> CDS purposes. "commercial" is what site files and older
# imports wrote for French delivery bays (Code de la route R417-10: loading goods).
_PURPOSE = {"commercial": "delivery", "delivery": "delivery", "freight": "freight"}
# CDS 1.0 user_classes enum (OpenAPI rules.yaml, v1.0): nothing else may appear in 1.0.
_USER_CLASSES_10 = frozenset(
    [
        "bicycle",
        "bus",
        "cargo_bicycle",
        "car",
        "moped",
        "motorcycle",
        "scooter",
        "truck",
        "van",
        "handicap-accessible",
        "human",
        "electric_assist",
        "electric",
        "combustion",
        "autonomous",
        "construction",
        "delivery",
        "emergency_use",
        "freight",
        "parking",
        "permit",
        "rideshare",
        "school",
        "service_vehicles",
        "special_events",
        "taxi",
        "utilities",
        "vending",
        "waste_management",
    ]
)
# CDS 1.0 vehicle_type values (events/README.md); 1.1 adds bus and others.
_VEHICLE_TYPES_10 = frozenset(
    [
        "bicycle",
        "cargo_bicycle",
        "car",
        "scooter",
        "moped",
        "motorcycle",
        "truck",
        "van",
        "freight",
        "other",
        "unspecified",
    ]
)


def cds_uuid(kind: str, raw: str) -> str:
    """``raw`` if it is a UUID (canonical form), else a UUIDv5 of ``kind`` and ``raw``."""
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return stable_id(f"cds-{kind}", raw)


def device_uuid(device: str) -> str:
    """A camera's CDS ``data_source_device_id`` (and Curb Object id) from its name."""
    return cds_uuid("device", device)


def vehicle_type_for(vehicle_type: str | None, version: str) -> str | None:
    """A stored vehicle type as the CDS version allows it (1.0 has no ``bus``: other)."""
    if vehicle_type is None:
        return None
    if version == "1.0" and vehicle_type not in _VEHICLE_TYPES_10:
        return "other"
    return vehicle_type


# -- ids --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CdsIds:
    """Stored ids <-> CDS UUIDs for the current zones, areas and cameras."""

    zone_out: dict[str, str]
    zone_in: dict[str, str]
    area_out: dict[str, str]
    area_in: dict[str, str]
    device_out: dict[str, str]
    device_in: dict[str, str]

    def zone(self, stored: str) -> str:
        """The CDS UUID of a stored curb zone id."""
        return self.zone_out.get(stored) or cds_uuid("zone", stored)

    def area(self, stored: str) -> str:
        """The CDS UUID of a stored area id."""
        return self.area_out.get(stored) or cds_uuid("area", stored)

    def device(self, stored: str) -> str:
        """The CDS UUID of a stored camera (device) name."""
        return self.device_out.get(stored) or device_uuid(stored)

    def find_zone(self, given: str) -> str | None:
        """The stored zone id for a CDS UUID (or a stored id), None if unknown."""
        return self.zone_in.get(given) or self.zone_in.get(given.lower())

    def find_area(self, given: str) -> str | None:
        """The stored area id a client's id (a CDS UUID, or the stored id) names; None if none."""
        return self.area_in.get(given) or self.area_in.get(given.lower())

    def find_device(self, given: str) -> str | None:
        """The stored camera name a client's id names; None if none."""
        return self.device_in.get(given) or self.device_in.get(given.lower())


def build_ids(bays: Iterable[Bay]) -> CdsIds:
    """The stored id ↔ CDS UUID maps of these bays, their areas and cameras."""
    zo: dict[str, str] = {}
    ao: dict[str, str] = {}
    do: dict[str, str] = {}
    for b in bays:
        zo[b.curb_zone_id] = cds_uuid("zone", b.curb_zone_id)
        if b.area_id:
            ao[b.area_id] = cds_uuid("area", b.area_id)
        if b.device_id:
            do[b.device_id] = device_uuid(b.device_id)

    def back(out: dict[str, str]) -> dict[str, str]:
        d = {v: k for k, v in out.items()}
        d.update({k: k for k in out})  # a stored id is accepted too
        return d

    return CdsIds(zo, back(zo), ao, back(ao), do, back(do))


_IDS: weakref.WeakKeyDictionary[LiveIndex, tuple[tuple[int, int], CdsIds]] = (
    weakref.WeakKeyDictionary()
)


def cds_ids(state: ApiState) -> CdsIds:
    """The id maps of the service's current bays, rebuilt only when the zones change."""
    live = state.live
    sig = live.zones_signature
    hit = _IDS.get(live)
    if hit is None or hit[0] != sig or len(hit[1].zone_out) != len(live.bays):
        hit = (sig, build_ids(live.bays))
        _IDS[live] = hit
    return hit[1]


# -- time spans and policies --------------------------------------------------------------


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@lru_cache(maxsize=512)
def time_spans(delivery_hours: str | None) -> tuple[tuple[tuple[str, ...], int, int], ...] | None:
    """The regime as (days, start minute, end minute) spans; None = at all times.

    Evaluated with the opening_hours parser over a reference week (Monday 8 January
    2024, no public holiday); days with equal hours share a span. An interval running
    past midnight is split at midnight. Raises ``ValueError`` for a value the parser
    refuses (imports check ``delivery_hours``, so stored values parse).
    """
    if delivery_hours is None or not delivery_hours.strip():
        return None
    import opening_hours

    oh = opening_hours.OpeningHours(delivery_hours)
    per_day: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    end_week = _REF_MONDAY + timedelta(days=7)
    for start, end, st, _comment in oh.intervals(_REF_MONDAY, end_week):
        if str(st).split(".")[-1].upper() != "OPEN" or end is None:
            continue
        t = max(start, _REF_MONDAY)
        stop = min(end, end_week)
        while t < stop:
            day = (t - _REF_MONDAY).days
            midnight = _REF_MONDAY + timedelta(days=day + 1)
            seg_end = min(stop, midnight)
            a = int((t - (_REF_MONDAY + timedelta(days=day))).total_seconds() // 60)
            b = int((seg_end - (_REF_MONDAY + timedelta(days=day))).total_seconds() // 60)
            if b > a:
                per_day[day].append((a, b))
            t = seg_end
    if all(d == [(0, 1440)] for d in per_day):
        return None
    groups: dict[tuple[tuple[int, int], ...], list[str]] = {}
    for i, day_ivs in enumerate(per_day):
        if day_ivs:
            groups.setdefault(tuple(day_ivs), []).append(_DAYS[i])
    spans = []
    for key, days in groups.items():
        for a, b in key:
            spans.append((tuple(days), a, b))
    return tuple(spans)


def _span_json(span: tuple[tuple[str, ...], int, int]) -> dict[str, Any]:
    days, a, b = span
    out: dict[str, Any] = {}
    if len(days) < 7:
        out["days_of_week"] = list(days)
    # CDS: an unspecified start is midnight, an unspecified end is the next midnight.
    if a > 0:
        out["time_of_day_start"] = _hhmm(a)
    if b < 1440:
        out["time_of_day_end"] = _hhmm(b)
    return out


@dataclass(frozen=True)
class Regime:
    """What a bay's policies are made of (hashable: equal regimes share policies)."""

    spans: tuple[tuple[tuple[str, ...], int, int], ...] | None
    max_stay_min: int | None
    vehicle_classes: tuple[str, ...]
    purposes: tuple[str, ...]
    other_classes: tuple[str, ...]


def regime_of(b: Bay) -> Regime:
    """A bay's regime from its delivery hours (OSM ``opening_hours``), maximum stay,
    vehicle types and user classes; hours that cannot be read give no time spans.
    """
    try:
        spans = time_spans(b.delivery_hours)
    except Exception:  # never stored (imports check it); publish no hours rather than fail
        spans = None
    classes = []
    for v in b.vehicle_types or ():
        c = _VEHICLE_CLASS.get(v)
        if c and c not in classes:
            classes.append(c)
    purposes, others = [], []
    for u in b.user_classes or ("commercial",):
        p = _PURPOSE.get(u)
        if p is not None:
            if p not in purposes:
                purposes.append(p)
        elif u not in others:
            others.append(u)
    return Regime(
        spans=spans,
        max_stay_min=None if b.max_stay_min is None else round(b.max_stay_min),
        vehicle_classes=tuple(classes),
        purposes=tuple(purposes or ["delivery"]),
        other_classes=tuple(others),
    )


def _policy_id(kind: str, r: Regime) -> str:
    if kind == "loading":
        return stable_id("cds-policy-v2", kind, repr(r))
    return stable_id("cds-policy-v2", kind, repr(r.spans))


def policy_ids(b: Bay) -> list[str]:
    """The CDS Curb Policy ids of a bay's regime (loading, no parking, and parking outside delivery hours)."""
    r = regime_of(b)
    ids = [_policy_id("loading", r), _policy_id("no parking", r)]
    if r.spans is not None:
        ids.append(_policy_id("parking", r))
    return ids


def _loading_rules(r: Regime, version: str) -> list[dict[str, Any]]:
    others = list(r.other_classes)
    if version == "1.0":
        others = [c for c in others if c in _USER_CLASSES_10]
    rules = []
    for vehicle in r.vehicle_classes or (None,):
        rule: dict[str, Any] = {"activity": "loading"}
        if version == "1.0":  # 1.0 has no purposes: they are user classes there
            classes = [*r.purposes, *others] + ([vehicle] if vehicle else [])
        else:
            classes = [*others] + ([vehicle] if vehicle else [])
            rule["purposes"] = list(r.purposes)
        if classes:
            rule["user_classes"] = classes
        if r.max_stay_min is not None:
            rule["max_stay"] = r.max_stay_min
            rule["max_stay_unit"] = "minute"
        rules.append(rule)
    return rules


def policies_of(b: Bay, version: str, published_ms: int) -> list[dict[str, Any]]:
    """The CDS Policy objects of a bay (see the module docstring)."""
    r = regime_of(b)
    spans = None if r.spans is None else [_span_json(s) for s in r.spans]

    def pol(kind: str, priority: int, rules: list[dict[str, Any]], timed: bool) -> dict[str, Any]:
        p: dict[str, Any] = {
            "curb_policy_id": _policy_id(kind, r),
            "published_date": published_ms,
            "priority": priority,
            "rules": rules,
        }
        if timed and spans is not None:
            p["time_spans"] = spans
        if version == "1.1":
            p["name"] = {
                "loading": "Delivery loading",
                "no parking": "No parking except delivery loading",
                "parking": "Parking outside delivery hours",
            }[kind]
        return p

    out = [
        pol("loading", 1, _loading_rules(r, version), True),
        pol("no parking", 2, [{"activity": "no parking"}], True),
    ]
    if r.spans is not None:
        out.append(pol("parking", 3, [{"activity": "parking"}], False))
    return out


def all_policies(bays: Iterable[Bay], version: str) -> dict[str, dict[str, Any]]:
    """Every policy of ``bays`` by id; ``published_date`` is the earliest bay's."""
    first: dict[str, int] = {}
    by_id: dict[str, Bay] = {}
    for b in bays:
        pub = b.published_ms if b.published_ms is not None else b.updated_ms
        for pid in policy_ids(b):
            if pid not in first or pub < first[pid]:
                first[pid] = pub
            by_id.setdefault(pid, b)
    out: dict[str, dict[str, Any]] = {}
    for pid, b in by_id.items():
        for p in policies_of(b, version, first[pid]):
            if p["curb_policy_id"] == pid:
                out[pid] = p
    return out


# -- zones ----------------------------------------------------------------------------------

_GEOMETRY: dict[tuple[str, bytes], dict[str, Any]] = {}


def _geometry_key(b: Bay) -> tuple[str, bytes]:
    # The footprint itself, not its update time: a re-import may change the geometry
    # and keep the time it was given.
    return (b.curb_zone_id, orjson.dumps(b.geometry))


def zone_geometry(b: Bay) -> dict[str, Any]:
    """The bay's footprint as RFC 7946 GeoJSON (cached per footprint)."""
    key = _geometry_key(b)
    g = _GEOMETRY.get(key)
    if g is None:
        if len(_GEOMETRY) > 200_000:
            _GEOMETRY.clear()
        g = rfc7946(b.geometry)
        _GEOMETRY[key] = g
    return g


_LINES: dict[tuple[str, bytes], dict[str, Any] | None] = {}
# How geometry_line is made: said in every zone that carries one (never surveyed here).
LINE_METHOD = "centre line of the zone polygon's long axis (along the kerb)"


def kerb_line(geometry: Mapping[str, Any]) -> shapely.LineString | None:
    """The line along the kerb of a zone polygon (WGS84 lon/lat), or None if degenerate.

    The polygon's minimum rotated rectangle, computed in local metres (longitudes
    scaled by cos(latitude): a bay is metres long, the distortion is negligible), has
    two short ends; the line joins their midpoints, so it runs the zone's length along
    the kerb, half its width off the kerb face (which side of the polygon touches the
    kerb is not stored).
    """
    poly = shape(geometry)
    if poly.is_empty or poly.area == 0:
        return None
    c = poly.centroid
    k = math.cos(math.radians(c.y))
    rect = affinity.scale(poly, xfact=k, yfact=1.0, origin=c).minimum_rotated_rectangle
    if rect.geom_type != "Polygon":
        return None
    p = list(rect.exterior.coords)[:4]
    side = [math.dist(p[i], p[(i + 1) % 4]) for i in range(4)]
    i = 0 if side[0] <= side[1] else 1  # the short ends: edges i and i + 2
    ends = [
        ((p[j][0] + p[(j + 1) % 4][0]) / 2, (p[j][1] + p[(j + 1) % 4][1]) / 2) for j in (i, i + 2)
    ]
    return affinity.scale(shapely.LineString(ends), xfact=1.0 / k, yfact=1.0, origin=c)


def zone_line(b: Bay) -> dict[str, Any] | None:
    """CDS 1.1 ``geometry_line`` of a bay (``kerb_line`` as RFC 7946 GeoJSON), cached."""
    key = _geometry_key(b)
    if key not in _LINES:
        if len(_LINES) > 200_000:
            _LINES.clear()
        line = kerb_line(b.geometry)
        _LINES[key] = None if line is None else rfc7946_geometry(line)
    return _LINES[key]


def derived_attributes(b: Bay) -> dict[str, str]:
    """CDS ``custom_attributes`` saying a footprint was derived, not surveyed."""
    if not b.geometry_derived:
        return {}
    return {"geometry_source": "derived", "geometry_method": b.geometry_derived}


def zone_object(
    b: Bay,
    state: StateChange | None,
    ids: CdsIds,
    *,
    version: str,
    include_geometry: bool = True,
    simulated: bool = False,
) -> dict[str, Any]:
    """A CDS Curbs API Curb Zone object of a bay in ``version``: geometry (unless not asked
    for), policies, sizes in cm, and, with its live ``state``, its availability
    (``available_space_lengths``); derived footprints and simulated state are marked.
    """
    published = b.published_ms if b.published_ms is not None else b.updated_ms
    z: dict[str, Any] = {
        "curb_zone_id": ids.zone(b.curb_zone_id),
        "curb_policy_ids": policy_ids(b),
        "published_date": published,
        "last_updated_date": b.updated_ms,
        "start_date": published,
    }
    attrs = derived_attributes(b)
    if include_geometry:
        z["geometry"] = zone_geometry(b)
        line = zone_line(b) if version == "1.1" else None
        if line is not None:
            # CDS 1.1 (OpenAPI CHANGELOG: "optional geometry_line (GeoJSON LineString)
            # alongside the existing polygon geometry"): derived here, and said so.
            z["geometry_line"] = line
            attrs["geometry_line_source"] = "derived"
            attrs["geometry_line_method"] = LINE_METHOD
    if b.name:
        z["name"] = b.name
    if b.street_name:
        z["street_name"] = b.street_name
    if b.length_cm is not None and b.length_cm > 0:
        z["length"] = b.length_cm
    if b.width_cm is not None and b.width_cm > 0:
        z["width"] = b.width_cm
    if b.num_spaces is not None:
        z["num_spaces"] = b.num_spaces
    if b.street_side in _SIDES:
        z["street_side"] = b.street_side
    if b.area_id:
        z["curb_area_ids"] = [ids.area(b.area_id)]
    if version == "1.1" and b.device_id:
        z["curb_object_ids"] = [ids.device(b.device_id)]
    if state is not None and state.state is not BayState.UNKNOWN and b.length_cm:
        # Camera-based availability is per bay: the whole length is free or it is not.
        z["available_space_lengths"] = [b.length_cm] if state.state is BayState.FREE else []
        if state.since_ms is not None:
            z["availability_time"] = state.since_ms
        if simulated:
            attrs["availability_source"] = "simulated"
    if attrs:
        z["custom_attributes"] = attrs
    return z


# -- areas -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Area:
    """A CDS Curb Area built from the bays of one stored ``area_id``: the convex hull of
    their footprints (WGS84), their ids, and the earliest publication and latest update
    of its bays (ms since the epoch).
    """

    curb_area_id: str  # as stored (e.g. "75101"); published as ``cds_uuid("area", ...)``
    name: str | None
    geometry: dict[str, Any]
    zone_ids: tuple[str, ...]  # stored zone ids
    published_ms: int
    last_updated_ms: int
    centroid: tuple[float, float]  # lon, lat
    shape: shapely.Geometry


def build_areas(bays: Iterable[Bay]) -> dict[str, Area]:
    """The Curb Areas of the bays that have an ``area_id``, by area id."""
    groups: dict[str, list[Bay]] = {}
    for b in bays:
        if b.area_id:
            groups.setdefault(b.area_id, []).append(b)
    out = {}
    for aid, members in sorted(groups.items()):
        hull = shapely.union_all([shape(b.geometry) for b in members]).convex_hull
        if hull.geom_type != "Polygon":  # one point or a line: give it some area
            hull = hull.buffer(1e-5)
        c = hull.centroid
        out[aid] = Area(
            curb_area_id=aid,
            name=next((b.area_name for b in members if b.area_name), None),
            geometry=rfc7946_geometry(hull),
            zone_ids=tuple(sorted(b.curb_zone_id for b in members)),
            published_ms=min(
                b.published_ms if b.published_ms is not None else b.updated_ms for b in members
            ),
            last_updated_ms=max(b.updated_ms for b in members),
            centroid=(c.x, c.y),
            shape=hull,
        )
    return out


def area_object(a: Area, ids: CdsIds) -> dict[str, Any]:
    """A CDS Curbs API Curb Area object, ids published as UUIDs."""
    d: dict[str, Any] = {
        "curb_area_id": ids.area(a.curb_area_id),
        "geometry": a.geometry,
        "published_date": a.published_ms,
        "last_updated_date": a.last_updated_ms,
        "curb_zone_ids": [ids.zone(z) for z in a.zone_ids],
    }
    if a.name:
        d["name"] = a.name
    return d


# -- curb objects (1.1): the cameras ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Camera:
    """A camera as a CDS Curb Object: the bays it watches, its position (mean of theirs,
    WGS84 degrees) and publication and update times (ms since the epoch).
    """

    device_id: str  # stored name, e.g. "meva-g340"
    zone_ids: tuple[str, ...]  # stored ids of the bays it watches
    lon: float
    lat: float
    published_ms: int
    last_updated_ms: int


def build_cameras(bays: Iterable[Bay]) -> dict[str, Camera]:
    """Cameras from the bays they watch; located at the centroid of those bays
    (where the camera stands is not recorded: the object's point is approximate, as
    CDS allows: "the approximate center of the object")."""
    groups: dict[str, list[Bay]] = {}
    for b in bays:
        if b.device_id:
            groups.setdefault(b.device_id, []).append(b)
    out = {}
    for dev, members in sorted(groups.items()):
        out[dev] = Camera(
            device_id=dev,
            zone_ids=tuple(sorted(b.curb_zone_id for b in members)),
            lon=sum(b.lon for b in members) / len(members),
            lat=sum(b.lat for b in members) / len(members),
            published_ms=min(
                b.published_ms if b.published_ms is not None else b.updated_ms for b in members
            ),
            last_updated_ms=max(b.updated_ms for b in members),
        )
    return out


def camera_object(c: Camera, ids: CdsIds) -> dict[str, Any]:
    """A camera as a CDS 1.1 Curb Object (``surveillance_camera``)."""
    return {
        "curb_object_id": ids.device(c.device_id),
        "geometry": point(c.lon, c.lat),
        "curb_zone_id": ids.zone(c.zone_ids[0]),
        "object_type": "surveillance_camera",
        "name": c.device_id,
        "description": (
            f"baywatch occupancy camera watching {len(c.zone_ids)} curb zone(s); "
            "position is the centroid of the watched zones"
        ),
        "published_date": c.published_ms,
        "last_updated_date": c.last_updated_ms,
        "custom_attributes": {
            "watched_curb_zone_ids": ",".join(ids.zone(z) for z in c.zone_ids),
        },
    }


def area_of_zone(bays: Iterable[Bay]) -> Mapping[str, str | None]:
    """Each bay's stored area id (None: in no area), by curb zone id."""
    return {b.curb_zone_id: b.area_id for b in bays}
