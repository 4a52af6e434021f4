"""Database reads the API needs beyond ``Store``'s frames, with SQL filters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import func, select

from occupancy.domain.states import PARK_EVENTS
from occupancy.storage.schema import events, sessions
from occupancy.storage.store import Store


def event_rows(
    store: Store,
    *,
    start_ms: int,
    end_ms: int,
    zone_ids: Sequence[str] | None,
    limit: int,
    offset: int = 0,
    device_id: str | None = None,
) -> list[dict[str, Any]]:
    """Events in [start_ms, end_ms), most recent first (CDS "Event Times"), one page."""
    q = select(events).where(events.c.event_time >= start_ms, events.c.event_time < end_ms)
    if zone_ids is not None:
        q = q.where(events.c.curb_zone_id.in_(list(zone_ids)))
    if device_id is not None:
        q = q.where(events.c.data_source_device_id == device_id)
    q = q.order_by(events.c.event_time.desc(), events.c.event_id).limit(limit).offset(offset)
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def count_events(
    store: Store,
    *,
    start_ms: int,
    end_ms: int,
    zone_ids: Sequence[str] | None,
    device_id: str | None = None,
) -> int:
    """How many events ``event_rows`` pages through, counted in the database."""
    q = (
        select(func.count())
        .select_from(events)
        .where(events.c.event_time >= start_ms, events.c.event_time < end_ms)
    )
    if zone_ids is not None:
        q = q.where(events.c.curb_zone_id.in_(list(zone_ids)))
    if device_id is not None:
        q = q.where(events.c.data_source_device_id == device_id)
    with store.engine.connect() as conn:
        return int(conn.execute(q).scalar_one())


def device_rows(store: Store) -> list[dict[str, Any]]:
    """Every device that sent events: its source type and latest event time."""
    q = (
        select(
            events.c.data_source_device_id,
            func.max(events.c.data_source_type).label("data_source_type"),
            func.max(events.c.event_time).label("last_event_time"),
        )
        .group_by(events.c.data_source_device_id)
        .order_by(events.c.data_source_device_id)
    )
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def _session_filter(
    q: Any,
    start_ms: int | None,
    end_ms: int | None,
    zone_ids: Sequence[str] | None,
    sources: Sequence[str] | None,
    kind: str | None,
) -> Any:
    if start_ms is not None:
        q = q.where(sessions.c.end_ms > start_ms)
    if end_ms is not None:
        q = q.where(sessions.c.start_ms < end_ms)
    if zone_ids is not None:
        q = q.where(sessions.c.curb_zone_id.in_(list(zone_ids)))
    if sources is not None:
        q = q.where(sessions.c.data_source_type.in_(list(sources)))
    if kind is not None:
        q = q.where(sessions.c.kind == kind)
    return q


def count_sessions(
    store: Store,
    *,
    start_ms: int | None,
    end_ms: int | None,
    zone_ids: Sequence[str] | None,
    sources: Sequence[str] | None = None,
    kind: str | None = "park",
) -> int:
    """How many sessions ``session_rows`` would return, counted in the database."""
    q = _session_filter(
        select(func.count()).select_from(sessions), start_ms, end_ms, zone_ids, sources, kind
    )
    with store.engine.connect() as conn:
        return int(conn.execute(q).scalar_one())


def session_rows(
    store: Store,
    *,
    start_ms: int | None,
    end_ms: int | None,
    zone_ids: Sequence[str] | None,
    limit: int | None = None,
    newest_first: bool = False,
    sources: Sequence[str] | None = None,
    kind: str | None = None,
) -> list[dict[str, Any]]:
    """Sessions overlapping [start_ms, end_ms), of ``sources`` (data_source_type) and ``kind``."""
    q = _session_filter(select(sessions), start_ms, end_ms, zone_ids, sources, kind)
    order = sessions.c.start_ms.desc() if newest_first else sessions.c.start_ms
    q = q.order_by(order, sessions.c.session_id)
    if limit is not None:
        q = q.limit(limit)
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def session_event_ids(store: Store, session_ids: Sequence[str]) -> dict[tuple[str, str], str]:
    """(session id, event type) -> event id, for the CDS session CSV."""
    out: dict[tuple[str, str], str] = {}
    ids = list(session_ids)
    with store.engine.connect() as conn:
        for i in range(0, len(ids), 500):
            q = select(events.c.event_session_id, events.c.event_type, events.c.event_id).where(
                events.c.event_session_id.in_(ids[i : i + 500]),
                events.c.event_type.in_([str(e) for e in PARK_EVENTS]),
            )
            for sid, et, eid in conn.execute(q):
                out[(sid, et)] = eid
    return out


def sessions_frame(
    store: Store,
    *,
    start_ms: int,
    end_ms: int,
    zone_ids: Sequence[str] | None,
    sources: Sequence[str] | None,
) -> pd.DataFrame:
    """Sessions overlapping [start_ms, end_ms) of the given zones and sources, filtered in
    SQL (a city-wide week is hundreds of thousands of rows; one area is a few thousand)."""
    ids = None if zone_ids is None else list(zone_ids)
    parts = []
    for i in range(0, 1 if ids is None else max(len(ids), 1), 1_000):
        q = _session_filter(
            select(sessions),
            start_ms,
            end_ms,
            None if ids is None else ids[i : i + 1_000],
            sources,
            None,
        )
        with store.engine.connect() as conn:
            parts.append(pd.read_sql(q, conn))
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
