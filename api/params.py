"""Query parameters shared by several endpoints, validated into typed values.

CDS rules: a bounding box needs all four of ``min_lat``/``min_lng``/``max_lat``/
``max_lng``; a circle needs all three of ``lat``/``lng``/``radius`` (``radius`` in
centimetres in the CDS endpoints). A partial set is a 400 naming what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Query, Request

from api.geo import BBox


def bad_request(msg: str) -> HTTPException:
    """An HTTP 400 with ``msg`` as its one-line detail."""
    return HTTPException(status_code=400, detail=msg)


_KNOWN_BY_ROUTE: dict[int, frozenset[str]] = {}


def _query_names(dependant: Any) -> set[str]:
    """Query parameter names of a FastAPI dependant and of its dependencies, recursively."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def known_query_params(request: Request) -> None:
    """Refuse (400) a query parameter the route does not take, naming it and the ones it does.

    Why: a misspelt filter (``curb_zone_id`` for ``curb_place_id``) would otherwise be
    ignored and the answer would cover everything, a silent wrong answer. The accepted names
    are the route's declared query parameters, its dependencies' included.
    """
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not request.query_params:
        return
    known = _KNOWN_BY_ROUTE.get(id(route))
    if known is None:
        known = frozenset(_query_names(dependant))
        _KNOWN_BY_ROUTE[id(route)] = known
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        takes = ", ".join(sorted(known)) or "no query parameters"
        raise bad_request(f"unknown query parameter {unknown[0]!r}; this endpoint takes: {takes}")


def bbox_param(
    min_lat: float | None = Query(None, ge=-90, le=90, description="bounding box, degrees"),
    min_lng: float | None = Query(None, ge=-180, le=180),
    max_lat: float | None = Query(None, ge=-90, le=90),
    max_lng: float | None = Query(None, ge=-180, le=180),
) -> BBox | None:
    """The CDS bounding box query (all four of min/max lat/lng, degrees), or None; 400 otherwise."""
    vals = {"min_lat": min_lat, "min_lng": min_lng, "max_lat": max_lat, "max_lng": max_lng}
    given = [k for k, v in vals.items() if v is not None]
    if not given:
        return None
    if len(given) != 4:
        missing = ", ".join(k for k in vals if k not in given)
        raise bad_request(f"a bounding box needs all four bounds; missing: {missing}")
    assert min_lat is not None and min_lng is not None
    assert max_lat is not None and max_lng is not None
    if min_lat > max_lat or min_lng > max_lng:
        raise bad_request("bounding box: min_lat/min_lng must not exceed max_lat/max_lng")
    return BBox(min_lng=min_lng, min_lat=min_lat, max_lng=max_lng, max_lat=max_lat)


@dataclass(frozen=True, slots=True)
class Circle:
    """A CDS circle query: centre (degrees) and radius in metres (given in cm by CDS)."""

    lat: float
    lng: float
    radius_m: float


def circle_cm_param(
    lat: float | None = Query(None, ge=-90, le=90, description="circle centre latitude"),
    lng: float | None = Query(None, ge=-180, le=180, description="circle centre longitude"),
    radius: float | None = Query(
        None, gt=0, le=5_000_000, description="circle radius in centimetres (CDS)"
    ),
) -> Circle | None:
    """The CDS circle query (``lat``, ``lng``, ``radius`` in cm), or None; 400 when partial."""
    vals = {"lat": lat, "lng": lng, "radius": radius}
    given = [k for k, v in vals.items() if v is not None]
    if not given:
        return None
    if len(given) != 3:
        missing = ", ".join(k for k in vals if k not in given)
        raise bad_request(f"a lat/lng/radius query needs all three; missing: {missing}")
    assert lat is not None and lng is not None and radius is not None
    return Circle(lat=lat, lng=lng, radius_m=radius / 100.0)


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A time window ``[start_ms, end_ms)`` (ms since the epoch; None: open)."""

    start_ms: int | None
    end_ms: int | None


def window_param(
    start_time: int | None = Query(
        None, ge=0, le=10**14, description="inclusive start, ms since the epoch"
    ),
    end_time: int | None = Query(
        None, ge=0, le=10**14, description="exclusive end, ms since the epoch"
    ),
) -> TimeWindow:
    """The ``start_time``/``end_time`` query (ms since the epoch); 400 when end is not after start."""
    if start_time is not None and end_time is not None and end_time <= start_time:
        raise bad_request("end_time must be after start_time")
    return TimeWindow(start_time, end_time)
