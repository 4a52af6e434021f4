"""Bays as CDS 1.0 Curbs objects: zones, areas (groups of zones) and policies.

baywatch stores a bay's regulation as columns (``max_stay_min``, ``user_classes``,
``vehicle_types``); each distinct combination becomes one CDS Policy whose id is
derived from its content, so equal regulations share a policy and the id never
changes meaning. An area is the set of zones sharing an ``area_id``; its geometry is
the convex hull of their polygons.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import mapping, shape

from api.live import Bay, BayState, StateChange
from occupancy.domain.records import stable_id

# CDS street_side values; other spellings (e.g. the Paris "Pair"/"Impair") are omitted.
_SIDES = {"N", "NE", "E", "SE", "S", "SW", "W", "NW"}


def policy_key(b: Bay) -> tuple[Any, ...]:
    return (b.max_stay_min, b.user_classes or ("delivery",), b.vehicle_types)


def policy_id(b: Bay) -> str:
    return stable_id("cds-policy", *policy_key(b))


def policy_object(b: Bay, published_ms: int) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "activity": "loading",
        "user_classes": list(b.user_classes or ("delivery",)),
    }
    if b.max_stay_min is not None:
        rule["max_stay"] = round(b.max_stay_min)
        rule["max_stay_unit"] = "minute"
    return {
        "curb_policy_id": policy_id(b),
        "published_date": published_ms,
        "priority": 1,
        "rules": [rule],
    }


def zone_object(
    b: Bay, state: StateChange | None, *, include_geometry: bool = True
) -> dict[str, Any]:
    published = b.published_ms if b.published_ms is not None else b.last_updated_ms
    z: dict[str, Any] = {
        "curb_zone_id": b.curb_zone_id,
        "curb_policy_ids": [policy_id(b)],
        "published_date": published,
        "last_updated_date": b.last_updated_ms,
        "start_date": published,
    }
    if include_geometry:
        z["geometry"] = b.geometry
    if b.name:
        z["name"] = b.name
    if b.street_name:
        z["street_name"] = b.street_name
    if b.length_cm is not None:
        z["length"] = b.length_cm
    if b.width_cm is not None:
        z["width"] = b.width_cm
    if b.num_spaces is not None:
        z["num_spaces"] = b.num_spaces
    if b.street_side in _SIDES:
        z["street_side"] = b.street_side
    if b.area_id:
        z["curb_area_ids"] = [b.area_id]
    if state is not None and state.state is not BayState.UNKNOWN and b.length_cm is not None:
        # Camera-based availability is per bay: the whole length is free or it is not.
        z["available_space_lengths"] = [b.length_cm] if state.state is BayState.FREE else []
        if state.since_ms is not None:
            z["availability_time"] = state.since_ms
    return z


@dataclass(frozen=True, slots=True)
class Area:
    curb_area_id: str
    name: str | None
    geometry: dict[str, Any]
    zone_ids: tuple[str, ...]
    published_ms: int
    last_updated_ms: int
    centroid: tuple[float, float]  # lon, lat
    shape: shapely.Geometry


def build_areas(bays: Iterable[Bay]) -> dict[str, Area]:
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
            geometry=dict(mapping(hull)),
            zone_ids=tuple(sorted(b.curb_zone_id for b in members)),
            published_ms=min(
                b.published_ms if b.published_ms is not None else b.last_updated_ms for b in members
            ),
            last_updated_ms=max(b.last_updated_ms for b in members),
            centroid=(c.x, c.y),
            shape=hull,
        )
    return out


def area_object(a: Area) -> dict[str, Any]:
    d: dict[str, Any] = {
        "curb_area_id": a.curb_area_id,
        "geometry": a.geometry,
        "published_date": a.published_ms,
        "last_updated_date": a.last_updated_ms,
        "curb_zone_ids": list(a.zone_ids),
    }
    if a.name:
        d["name"] = a.name
    return d
