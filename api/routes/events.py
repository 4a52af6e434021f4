"""CDS Events API (1.0 and 1.1): curb events, sensor status and, in 1.1, pushed events.

``GET /events/events`` and ``/events/status`` need a key with scope ``read``;
``POST /events/events`` (CDS 1.1 "Push Event", also served at the OpenAPI's
``/events/event``) needs scope ``ingest`` and stores through the same idempotent
store code as ``POST /ingest/batch``.

Events are ordered newest first (CDS "Event Times") and, like the status list,
paginated with JSON:API ``links`` (general-information.md "Pagination"): ``first``,
``last``, ``prev`` and ``next`` (``next`` null on the last page); ``limit`` (at most
10,000, else a 400 naming it) and ``offset``; the total is counted in the database
and only the page is read. In 1.1 an event carries ``vehicle_type_confidence`` (1-100)
where its source measured one. Simulated events are published with
``data_source_type`` ``other``, ``data_source_operator_name`` "baywatch simulation"
and ``custom_attributes.simulated`` "true": never as camera observations.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.cds import (
    CDS_JSON,
    Page,
    cds_json,
    cds_json_version,
    doc_responses,
    page_links,
    page_param,
)
from api.curbs_model import Camera, CdsIds, build_cameras, cds_ids, cds_uuid, vehicle_type_for
from api.keys import Scope
from api.params import bad_request
from api.queries import count_events, device_rows, event_rows
from api.security import require
from api.state import ApiState, get_state
from occupancy.domain.geojson import point
from occupancy.domain.records import EventType, LaneType, VehicleType
from occupancy.storage.store import now_ms

router = APIRouter(prefix="/events", tags=["CDS Events"])
_read = [Depends(require(Scope.READ)), Depends(cds_json_version)]

_CDS = doc_responses(CDS_JSON, "CDS envelope")
_DAY_MS = 86_400_000
MAX_WINDOW_MS = 31 * _DAY_MS
SIMULATED_OPERATOR = "baywatch simulation"
# CDS data_source_type values (events/README.md "Source Type").
_SOURCE_TYPES = frozenset(
    {"data_feed", "camera", "above_ground", "in_ground", "meter", "payment", "in_person", "other"}
)


def source_fields(data_source_type: str, version: str) -> dict[str, Any]:
    """``data_source_type`` within the CDS enum, plus the marks of simulated data."""
    if data_source_type == "simulated":
        return {
            "data_source_type": "other",
            "data_source_operator_name": SIMULATED_OPERATOR,
            "custom_attributes": {"simulated": "true"},
        }
    return {"data_source_type": data_source_type if data_source_type in _SOURCE_TYPES else "other"}


def cds_event(
    r: dict[str, Any],
    ids: CdsIds,
    area_of: dict[str, str | None],
    version: str,
    cameras: dict[str, Camera] | None = None,
) -> dict[str, Any]:
    """A stored event row as a CDS Curb Event of ``version``."""
    device = str(r["data_source_device_id"])
    e: dict[str, Any] = {
        "event_id": cds_uuid("event", str(r["event_id"])),
        "event_type": r["event_type"],
        "event_time": int(r["event_time"]),
        "event_publication_time": int(r["event_publication_time"]),
        "data_source_device_id": ids.device(device),
        "vehicle_blocked_lane_types": list(r["vehicle_blocked_lane_types"] or []),
        **source_fields(str(r["data_source_type"]), version),
    }
    if device != e["data_source_device_id"]:
        e["data_source_device_name"] = device
    lon, lat = r["lon"], r["lat"]
    if (lon is None or lat is None) and cameras is not None and device in cameras:
        # A comms event has no vehicle position: it happened where the camera is.
        lon, lat = cameras[device].lon, cameras[device].lat
    if lon is not None and lat is not None:
        # general-information.md "Geographic Telemetry Data": a Feature with a timestamp.
        e["event_location"] = {
            "type": "Feature",
            "properties": {"timestamp": int(r["event_time"])},
            "geometry": point(float(lon), float(lat)),
        }
    zid = r["curb_zone_id"]
    if zid is not None:
        e["curb_zone_id"] = ids.zone(zid)
        area = area_of.get(zid)
        if area:
            e["curb_area_ids"] = [ids.area(area)]
    if version == "1.1" and device in ids.device_out:
        e["curb_object_id"] = ids.device(device)
    if r["event_session_id"] is not None:
        e["event_session_id"] = cds_uuid("session", str(r["event_session_id"]))
    vt = vehicle_type_for(r["vehicle_type"], version)
    if vt is not None:
        e["vehicle_type"] = vt
    if r["vehicle_length"] is not None and int(r["vehicle_length"]) > 0:
        e["vehicle_length"] = int(r["vehicle_length"])
    conf = r.get("vehicle_type_confidence")
    if version == "1.1" and vt is not None and conf is not None and 1 <= int(conf) <= 100:
        # CDS 1.1 only (curb_event.yaml: integer 1-100); 1.0 has no such field.
        e["vehicle_type_confidence"] = int(conf)
    return e


def _event_hour(value: str) -> tuple[int, int]:
    try:
        t = datetime.strptime(value, "%Y-%m-%dT%H").replace(tzinfo=UTC)
    except ValueError:
        raise bad_request(f"event_time {value!r}: expected a UTC hour as YYYY-MM-DDTHH") from None
    start = int(t.timestamp() * 1000)
    return start, start + 3_600_000


def _zone_filter(
    state: ApiState, ids: CdsIds, curb_zone_id: str | None, curb_area_id: str | None
) -> list[str] | None:
    zone_ids: list[str] | None = None
    if curb_area_id is not None:
        stored = ids.find_area(curb_area_id)
        area = None if stored is None else state.areas().get(stored)
        if area is None:
            raise HTTPException(404, f"no curb area with id {curb_area_id!r}")
        zone_ids = list(area.zone_ids)
    if curb_zone_id is not None:
        zone = ids.find_zone(curb_zone_id)
        if zone is None:
            raise HTTPException(404, f"no curb zone with id {curb_zone_id!r}")
        zone_ids = [z for z in (zone_ids or [zone]) if z == zone]
    return zone_ids


@router.get("/events", responses=_CDS, response_class=Response, dependencies=_read)
def query_events(
    request: Request,
    event_time: str | None = Query(
        None, max_length=13, description="CDS 1.1: the UTC hour YYYY-MM-DDTHH"
    ),
    start_time: int | None = Query(
        None, ge=0, le=10**14, description="inclusive, ms; default end_time - 24 h"
    ),
    end_time: int | None = Query(None, ge=0, le=10**14, description="exclusive, ms; default now"),
    curb_zone_id: str | None = Query(None, max_length=64),
    curb_area_id: str | None = Query(None, max_length=100),
    curb_space_id: str | None = Query(None, max_length=64),
    curb_object_id: str | None = Query(None, max_length=200),
    page: Page = Depends(page_param),
    version: str = Depends(cds_json_version),
    state: ApiState = Depends(get_state),
) -> Response:
    """Curb events in a window (at most 31 days), newest first, ``limit`` per page."""
    if event_time is not None:
        if start_time is not None or end_time is not None:
            raise bad_request("give either event_time or start_time/end_time, not both")
        start, end = _event_hour(event_time)
    else:
        end = end_time if end_time is not None else now_ms()
        start = start_time if start_time is not None else end - _DAY_MS
    if end <= start:
        raise bad_request("end_time must be after start_time")
    if end - start > MAX_WINDOW_MS:
        raise bad_request("the time window may span at most 31 days")
    if curb_space_id is not None:
        raise HTTPException(404, f"no curb space with id {curb_space_id!r} (spaces not offered)")
    ids = cds_ids(state)
    zone_ids = _zone_filter(state, ids, curb_zone_id, curb_area_id)
    device: str | None = None
    if curb_object_id is not None:
        device = ids.find_device(curb_object_id)
        if device is None:
            raise HTTPException(404, f"no curb object with id {curb_object_id!r}")
    total = count_events(
        state.store, start_ms=start, end_ms=end, zone_ids=zone_ids, device_id=device
    )
    rows = event_rows(
        state.store,
        start_ms=start,
        end_ms=end,
        zone_ids=zone_ids,
        device_id=device,
        limit=page.limit,
        offset=page.offset,
    )
    area_of = {b.curb_zone_id: b.area_id for b in state.live.bays}
    # Each link pins the resolved window: pages do not drift as time passes.
    pinned = {"start_time": str(start), "end_time": str(end)}
    links = page_links(request, page, total, pinned, drop=("event_time",))
    cams = build_cameras(state.live.bays)
    data = {"events": [cds_event(r, ids, area_of, version, cams) for r in rows]}
    return cds_json(data, version=version, links=links, **state.envelope_args())


@router.get("/status", responses=_CDS, response_class=Response, dependencies=_read)
def query_status(
    request: Request,
    curb_zone_id: str | None = Query(None, max_length=64),
    curb_area_id: str | None = Query(None, max_length=100),
    curb_object_id: str | None = Query(None, max_length=200),
    page: Page = Depends(page_param),
    version: str = Depends(cds_json_version),
    state: ApiState = Depends(get_state),
) -> Response:
    """Status of each camera: commissioned, and online unless its last comms event was lost."""
    devices = device_rows(state.store)
    live = state.live
    ids = cds_ids(state)
    wanted: set[str] | None = None
    zones = _zone_filter(state, ids, curb_zone_id, curb_area_id)
    if zones is not None:
        wanted = {d for z in zones if (d := live.bays[live.index[z]].device_id)}
    if curb_object_id is not None:
        dev = ids.find_device(curb_object_id)
        if dev is None:
            raise HTTPException(404, f"no curb object with id {curb_object_id!r}")
        wanted = {dev} if wanted is None else wanted & {dev}
    status = []
    for row in devices:
        device = row["data_source_device_id"]
        if wanted is not None and device not in wanted:
            continue
        src = source_fields(str(row["data_source_type"]), version)
        status.append(
            {
                "data_source_device_id": ids.device(device),
                "data_source_type": src["data_source_type"],
                "sensor_status_is_commissioned": True,
                "sensor_status_is_online": live.device_online(device),
            }
        )
    return cds_json(
        {"status": list(page.slice(status))},
        version=version,
        links=page_links(request, page, len(status)),
        **state.envelope_args(),
    )


# -- POST /events/events (CDS 1.1 "Push Event") --------------------------------------------

MAX_PUSH_BYTES = 4 * 1024 * 1024
MAX_PUSH_EVENTS = 5_000


class _Point(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    coordinates: tuple[float, float]


class _Feature(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    geometry: _Point


class PushedEvent(BaseModel):
    """A CDS 1.1 Curb Event as a third party pushes it (fields baywatch stores)."""

    model_config = ConfigDict(extra="ignore")
    event_id: uuid.UUID
    event_type: EventType
    event_time: int = Field(ge=0, le=10**14)
    data_source_type: str = Field(min_length=1, max_length=40)
    data_source_device_id: uuid.UUID
    data_source_device_name: str | None = Field(default=None, max_length=200)
    event_location: _Feature | _Point | None = None
    curb_zone_id: uuid.UUID | None = None
    event_session_id: uuid.UUID | None = None
    vehicle_type: VehicleType | None = None
    vehicle_length: int | None = Field(default=None, gt=0, le=10_000)
    vehicle_type_confidence: int | None = Field(default=None, ge=1, le=100)
    vehicle_blocked_lane_types: list[LaneType] = Field(default_factory=list, max_length=10)


def _push_error(status: int, error: str, description: str) -> Response:
    body = {"error": error, "error_description": description, "error_details": []}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _row(e: PushedEvent, ids: CdsIds, published: int) -> dict[str, Any]:
    if e.data_source_type not in _SOURCE_TYPES:
        raise ValueError(f"data_source_type {e.data_source_type!r} is not a CDS source type")
    if e.vehicle_type is not None and e.vehicle_type.value not in {v.value for v in VehicleType}:
        raise ValueError(f"vehicle_type {e.vehicle_type!r} unknown")
    zone: str | None = None
    if e.curb_zone_id is not None:
        zone = ids.find_zone(str(e.curb_zone_id))
        if zone is None:
            raise LookupError(f"no curb zone with id {e.curb_zone_id}")
    device = ids.find_device(str(e.data_source_device_id)) or str(e.data_source_device_id)
    loc = e.event_location
    pt = loc.geometry if isinstance(loc, _Feature) else loc
    if pt is not None:
        lon, lat = pt.coordinates
        if pt.type != "Point" or not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError("event_location must be a Point [lon, lat] within WGS84 bounds")
    return {
        "event_id": str(e.event_id),
        "event_type": e.event_type.value,
        "event_time": e.event_time,
        "event_publication_time": published,
        "data_source_device_id": device,
        "data_source_type": e.data_source_type,
        "curb_zone_id": zone,
        "lane_zone_id": None,
        "event_session_id": None if e.event_session_id is None else str(e.event_session_id),
        "lon": None if pt is None else pt.coordinates[0],
        "lat": None if pt is None else pt.coordinates[1],
        "vehicle_type": None if e.vehicle_type is None else e.vehicle_type.value,
        "vehicle_length": e.vehicle_length,
        "vehicle_type_confidence": e.vehicle_type_confidence,
        "vehicle_blocked_lane_types": [t.value for t in e.vehicle_blocked_lane_types],
        "run_id": None,
        "attempt": None,
    }


def _failure(item: Any, error: str, description: str) -> dict[str, Any]:
    return {
        "item": item if isinstance(item, dict) else {"value": item},
        "error": error,
        "error_description": description,
        "error_details": [],
    }


async def push_events(
    request: Request,
    state: ApiState = Depends(get_state),
) -> Response:
    """Store an array of CDS Curb Events; answers CDS ``event_bulk_response``.

    Idempotent by ``event_id`` (an id already stored counts as success and changes
    nothing). A body over 4 MiB is 413; more than 5,000 events or not a JSON array
    is 400. Each event that fails is listed in ``failures`` with the reason; the
    others are stored.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_PUSH_BYTES:
        return _push_error(413, "payload_too_large", f"body over {MAX_PUSH_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_PUSH_BYTES:
            return _push_error(413, "payload_too_large", f"body over {MAX_PUSH_BYTES} bytes")
    try:
        items = orjson.loads(bytes(body))
    except orjson.JSONDecodeError as exc:
        return _push_error(400, "bad_param", f"body is not JSON: {exc}")
    if not isinstance(items, list):
        return _push_error(400, "bad_param", "body must be a JSON array of CDS Curb Events")
    if len(items) > MAX_PUSH_EVENTS:
        return _push_error(
            400, "bad_param", f"{len(items)} events: at most {MAX_PUSH_EVENTS} per request"
        )
    ids = cds_ids(state)
    published = now_ms()
    rows, failures = [], []
    for item in items:
        try:
            rows.append(_row(PushedEvent.model_validate(item), ids, published))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            failures.append(_failure(item, "bad_param", f"{where}: {first.get('msg')}"))
        except LookupError as exc:
            failures.append(_failure(item, "not_found", str(exc)))
        except ValueError as exc:
            failures.append(_failure(item, "bad_param", str(exc)))
    new = state.store.ingest_events(rows) if rows else 0
    if new:
        state.live.apply(rows)
    out = {"success": len(rows), "total": len(items), "failures": failures}
    return Response(
        orjson.dumps(out), status_code=201 if new else 200, media_type="application/json"
    )


for _path in ("/events", "/event"):
    router.add_api_route(
        _path,
        push_events,
        methods=["POST"],
        dependencies=[Depends(require(Scope.INGEST))],
        response_class=Response,
        responses={
            200: {"description": "CDS event_bulk_response"},
            413: {"description": "too big"},
        },
        include_in_schema=_path == "/events",
        summary="Push CDS events (CDS 1.1)",
    )
