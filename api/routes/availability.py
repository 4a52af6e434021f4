"""Operators' availability API: free bays near a point, and a push stream of changes.

Answers come from the in-memory ``LiveIndex`` (no database query per request), so a
driver's "where can I stop now" costs a vectorised distance over all bays.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel

from api.keys import Principal
from api.limits import EventStreamResponse, StreamRefused
from api.live import HEARTBEAT, BayState, StateChange
from api.profiles import weekday_hour
from api.security import current_principal, public
from api.state import ApiState, get_state
from occupancy.domain.records import VehicleType
from occupancy.storage.store import now_ms

router = APIRouter(prefix="/availability", tags=["Availability (operators)"])


Source = Literal["observed", "simulated"]


class FreeBay(BaseModel):
    """A free bay near the query point, its distance (m), since when it is free and its rules."""

    curb_zone_id: str
    name: str | None
    lon: float
    lat: float
    distance_m: float
    state: BayState
    # Where the free state comes from: a camera, or the simulator (demo data).
    state_source: Source
    free_since_ms: int | None
    max_stay_min: float | None
    vehicle_types: list[str] | None
    length_cm: int | None
    # OSM opening_hours of the delivery regime (null: always); the bay is offered only
    # while its regime applies at the arrival time.
    delivery_hours: str | None
    p_free_at_arrival: float | None
    # Where p_free_at_arrival comes from; null where there is no probability.
    p_free_source: Source | None


class FreeBays(BaseModel):
    """The answer of ``/availability/free``: the query and the free bays, nearest first."""

    lat: float
    lon: float
    radius_m: float
    arrival_ms: int
    bays: list[FreeBay]


@lru_cache(maxsize=1024)
def _hours(value: str) -> Any:
    import opening_hours

    return opening_hours.OpeningHours(value)


def _regime_applies(delivery_hours: str, local: datetime) -> bool:
    """Whether a bay's delivery regime applies at local naive time ``local``.

    A value the parser refuses (imports check it, so none is stored) counts as
    applying: the bay is shown rather than silently dropped.
    """
    try:
        return bool(_hours(delivery_hours).is_open(local))
    except Exception:
        return True


def free_bays_payload(
    state: ApiState,
    lat: float,
    lon: float,
    radius: float,
    arrival_ms: int | None,
    vehicle_type: VehicleType | None,
    limit: int,
) -> dict[str, Any]:
    """The answer of ``GET /availability/free`` (shared with the fast path in ``api.fastpath``)."""
    arrival = arrival_ms if arrival_ms is not None else now_ms()
    live, prof = state.live, state.profiles
    weekday, hour = weekday_hour(arrival, prof.tz)
    local = datetime.fromtimestamp(arrival / 1000, prof.tz).replace(tzinfo=None)
    want = None if vehicle_type is None else vehicle_type.value
    sources = prof.snapshot.source
    out: list[dict[str, Any]] = []
    for b, d, st in live.free_near(lat, lon, radius, limit=len(live.bays)):
        if want is not None and b.vehicle_types is not None and want not in b.vehicle_types:
            continue
        if b.delivery_hours and not _regime_applies(b.delivery_hours, local):
            continue  # e.g. a Mo-Sa 07-20 bay at 23:00 or on Sunday: not a delivery bay then
        p_free = prof.p_free_slot(b.curb_zone_id, weekday, hour)
        src = sources.get(b.curb_zone_id)
        out.append(
            {
                "curb_zone_id": b.curb_zone_id,
                "name": b.name,
                "lon": b.lon,
                "lat": b.lat,
                "distance_m": round(d, 1),
                "state": st.state.value,
                "state_source": "simulated" if live.simulated(b.curb_zone_id) else "observed",
                "free_since_ms": st.since_ms,
                "max_stay_min": b.max_stay_min,
                "vehicle_types": None if b.vehicle_types is None else list(b.vehicle_types),
                "length_cm": b.length_cm,
                "delivery_hours": b.delivery_hours,
                "p_free_at_arrival": p_free,
                "p_free_source": None
                if p_free is None or src is None
                else ("simulated" if src == "simulated" else "observed"),
            }
        )
        if len(out) >= limit:
            break
    return {"lat": lat, "lon": lon, "radius_m": radius, "arrival_ms": arrival, "bays": out}


@router.get(
    "/free",
    response_model=FreeBays,
    response_class=Response,
    dependencies=[Depends(public)],
)
async def free_bays(
    lat: float = Query(ge=-90, le=90),
    lon: float = Query(ge=-180, le=180),
    radius: float = Query(300.0, gt=0, le=5000, description="metres"),
    arrival_ms: int | None = Query(
        None, ge=0, le=10**14, description="expected arrival (ms); default now"
    ),
    vehicle_type: VehicleType | None = Query(None, description="only bays allowing this type"),
    limit: int = Query(20, ge=1, le=200),
    state: ApiState = Depends(get_state),
) -> Response:
    """Free bays within ``radius`` metres, nearest first, whose delivery regime applies
    at the arrival time (``delivery_hours``, OSM opening_hours, local time).

    ``p_free_at_arrival`` is the share of time the bay was observed free at that hour
    and weekday (local time), null where it was never observed then.
    ``state_source`` and ``p_free_source`` say ``simulated`` where the state or the
    probability comes from simulated data (the demo), ``observed`` where from cameras.
    """
    body = free_bays_payload(state, lat, lon, radius, arrival_ms, vehicle_type, limit)
    return Response(orjson.dumps(body), media_type="application/json")


def _sse(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _change(c: StateChange) -> dict[str, Any]:
    return {
        "curb_zone_id": c.curb_zone_id,
        "state": c.state.value,
        "since_ms": c.since_ms,
        "state_source": c.state_source,
    }


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "SSE stream"},
        429: {"description": "this client's stream cap or stream-opening rate reached"},
        503: {"description": "the service's stream cap reached"},
    },
)
async def stream(
    request: Request,
    max_events: int | None = Query(
        None, ge=1, le=1_000_000, description="close after this many change events"
    ),
    heartbeat_s: float = Query(15.0, ge=0.5, le=300),
    principal: Principal | None = Depends(current_principal),
    state: ApiState = Depends(get_state),
) -> Response:
    """Server-Sent Events: one ``state`` event per batch of bay state changes.

    The first event, ``hello``, carries the counts of bays by state, split by source
    (``{"observed": {"free": n, ...}, "simulated": {...}}``); every ``state`` item has
    ``state_source`` (``observed`` or ``simulated``); comments are sent
    every ``heartbeat_s`` so proxies keep the connection open. Streams are capped
    (settings ``api_max_streams*``: per API key, per anonymous address, in total) and
    each client may open ``api_stream_opens_per_s`` per second: past a cap the answer
    is 429 (this client) or 503 (the service) with ``Retry-After``. A client that reads
    nothing for ``api_stream_write_timeout_s`` is disconnected.
    """
    settings = state.settings
    address = request.client.host if request.client else "unknown"
    key_id = None if principal is None else principal.key_id
    wait = await state.stream_opens.acquire(f"key:{key_id}" if key_id else f"addr:{address}")
    if wait > 0:
        raise HTTPException(
            429,
            f"event streams may be opened {settings.api_stream_opens_per_s:g} per second per client",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    try:
        slot = state.streams.acquire(key_id, address)
    except StreamRefused as exc:
        raise HTTPException(exc.status, str(exc), headers={"Retry-After": "5"}) from None
    queue = state.broadcaster.subscribe(heartbeat_s)

    async def gen() -> AsyncIterator[bytes]:
        # A client that goes away is noticed by the response (it listens for the
        # disconnect and cancels this generator); a slow one by its write timeout.
        sent = 0
        try:
            yield _sse("hello", {"counts": state.live.counts(), "time_ms": now_ms()})
            while max_events is None or sent < max_events:
                changes = await queue.get()
                if changes is HEARTBEAT:
                    yield b": keep-alive\n\n"
                    continue
                yield _sse("state", [_change(c) for c in changes])
                sent += 1
        finally:
            state.broadcaster.unsubscribe(queue)
            state.streams.release(slot)

    return EventStreamResponse(
        gen(),
        settings.api_stream_write_timeout_s,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
