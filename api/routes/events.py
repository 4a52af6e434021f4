"""CDS 1.0 Events API: curb events by time window, and camera status (key, scope read)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response

from api.cds import CDS_JSON, accept_cds_json, cds_json, doc_responses
from api.keys import Scope
from api.params import bad_request
from api.queries import device_rows, event_rows
from api.security import require
from api.state import ApiState, get_state
from occupancy.storage.store import now_ms

router = APIRouter(
    prefix="/events",
    tags=["CDS Events"],
    dependencies=[Depends(require(Scope.READ)), Depends(accept_cds_json)],
)

_CDS = doc_responses(CDS_JSON, "CDS envelope")
_DAY_MS = 86_400_000
MAX_WINDOW_MS = 31 * _DAY_MS


def cds_event(r: dict[str, Any], area_of: dict[str, str | None]) -> dict[str, Any]:
    e: dict[str, Any] = {
        "event_id": r["event_id"],
        "event_type": r["event_type"],
        "event_time": int(r["event_time"]),
        "event_publication_time": int(r["event_publication_time"]),
        "data_source_device_id": r["data_source_device_id"],
        "data_source_type": r["data_source_type"],
        "vehicle_blocked_lane_types": r["vehicle_blocked_lane_types"] or [],
    }
    if r["lon"] is not None and r["lat"] is not None:
        e["event_location"] = {"type": "Point", "coordinates": [r["lon"], r["lat"]]}
    zid = r["curb_zone_id"]
    if zid is not None:
        e["curb_zone_id"] = zid
        area = area_of.get(zid)
        if area:
            e["curb_area_ids"] = [area]
    for k in ("event_session_id", "vehicle_type", "vehicle_length"):
        if r[k] is not None:
            e[k] = r[k]
    return e


@router.get("/events", responses=_CDS, response_class=Response)
def query_events(
    start_time: int | None = Query(
        None, ge=0, le=10**14, description="inclusive, ms; default end_time - 24 h"
    ),
    end_time: int | None = Query(None, ge=0, le=10**14, description="exclusive, ms; default now"),
    curb_zone_id: str | None = Query(None, max_length=64),
    curb_area_id: str | None = Query(None, max_length=100),
    limit: int = Query(10_000, ge=1, le=50_000),
    state: ApiState = Depends(get_state),
) -> Response:
    """Curb events in a time window (at most 31 days), most recent first."""
    end = end_time if end_time is not None else now_ms()
    start = start_time if start_time is not None else end - _DAY_MS
    if end <= start:
        raise bad_request("end_time must be after start_time")
    if end - start > MAX_WINDOW_MS:
        raise bad_request("the time window may span at most 31 days")
    zone_ids: list[str] | None = None
    if curb_area_id is not None:
        area = state.areas().get(curb_area_id)
        if area is None:
            raise HTTPException(404, f"no curb area with id {curb_area_id!r}")
        zone_ids = list(area.zone_ids)
    if curb_zone_id is not None:
        if curb_zone_id not in state.live.index:
            raise HTTPException(404, f"no curb zone with id {curb_zone_id!r}")
        zone_ids = [z for z in (zone_ids or [curb_zone_id]) if z == curb_zone_id]
    rows = event_rows(state.store, start_ms=start, end_ms=end, zone_ids=zone_ids, limit=limit)
    area_of = {b.curb_zone_id: b.area_id for b in state.live.bays}
    data = {"events": [cds_event(r, area_of) for r in rows]}
    return cds_json(data, **state.envelope_args())


@router.get("/status", responses=_CDS, response_class=Response)
def query_status(
    curb_zone_id: str | None = Query(None, max_length=64),
    curb_area_id: str | None = Query(None, max_length=100),
    state: ApiState = Depends(get_state),
) -> Response:
    """Status of each camera: commissioned, and online unless its last comms event was lost."""
    devices = device_rows(state.store)
    live = state.live
    wanted: set[str] | None = None
    if curb_zone_id is not None:
        i = live.index.get(curb_zone_id)
        if i is None:
            raise HTTPException(404, f"no curb zone with id {curb_zone_id!r}")
        wanted = {d for d in [live.bays[i].device_id] if d}
    if curb_area_id is not None:
        area = state.areas().get(curb_area_id)
        if area is None:
            raise HTTPException(404, f"no curb area with id {curb_area_id!r}")
        in_area = {dev for z in area.zone_ids if (dev := live.bays[live.index[z]].device_id)}
        wanted = in_area if wanted is None else wanted & in_area
    status = []
    for row in devices:
        device = row["data_source_device_id"]
        if wanted is not None and device not in wanted:
            continue
        status.append(
            {
                "data_source_device_id": device,
                "data_source_type": row["data_source_type"],
                "sensor_status_is_commissioned": True,
                "sensor_status_is_online": live.device_online(device),
                "last_event_time": int(row["last_event_time"]),
            }
        )
    return cds_json({"status": status}, **state.envelope_args())
