"""The store: idempotent batches, attempts replacing earlier outputs, bad URLs.

Tests taking ``store_url`` run on SQLite and on PostgreSQL+PostGIS (tests/conftest.py).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from occupancy.domain.records import (
    CurbEvent,
    EventType,
    OccupancySession,
    SessionKind,
    VehicleType,
)
from occupancy.storage.store import Store, StoreError


def session(sid: str, start: int) -> OccupancySession:
    return OccupancySession(
        sid,
        SessionKind.PARK,
        "cam",
        start,
        start + 60_000,
        VehicleType.VAN,
        curb_zone_id="z",
        max_stay_min=0.5,
        run_id="r",
    )


def event(eid: str, t: int) -> CurbEvent:
    return CurbEvent(
        eid, EventType.PARK_START, t, "cam", lon=2.35, lat=48.85, curb_zone_id="z", run_id="r"
    )


def test_batches_are_idempotent(store_url: str) -> None:
    store = Store(store_url)
    a = store.begin_run(
        "r", device_id="cam", source="x", live=False, footage_start_ms=0, settings={}
    )
    for _ in range(3):
        store.write_batch([event("e1", 0), event("e2", 1)], [session("s1", 0)], attempt=a)
    assert len(store.events_frame()) == 2
    sessions = store.sessions_frame()
    assert (
        len(sessions) == 1 and bool(sessions.overstay.iloc[0]) and sessions.dwell_s.iloc[0] == 60.0
    )


def test_completed_attempt_replaces_earlier_outputs(store_url: str) -> None:
    store = Store(store_url)
    a1 = store.begin_run(
        "r", device_id="cam", source="x", live=False, footage_start_ms=0, settings={}
    )
    store.write_batch([event("old", 0), event("kept", 5)], [session("s-old", 0)], attempt=a1)
    store.finish_run("r", a1, status="interrupted", footage_end_ms=5, frames_analysed=3)
    a2 = store.begin_run(
        "r", device_id="cam", source="x", live=False, footage_start_ms=0, settings={}
    )
    assert a2 == a1 + 1
    store.write_batch([event("kept", 5)], [session("s-new", 10)], attempt=a2)
    # Until the new attempt completes, nothing of the old one is lost.
    assert len(store.sessions_frame()) == 2
    store.finish_run("r", a2, status="complete", footage_end_ms=9, frames_analysed=9)
    assert list(store.sessions_frame().session_id) == ["s-new"]
    assert list(store.events_frame().event_id) == ["kept"]


def test_ingest_counts_only_new_events(store_url: str) -> None:
    from occupancy.storage.store import event_row

    store = Store(store_url)
    rows = [event_row(event(f"e{i}", i), 0, None) for i in range(5)]
    assert store.ingest_events(rows[:3]) == 3
    assert store.ingest_events(rows) == 2
    assert len(store.events_frame()) == 5


def test_bad_database_urls(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="invalid database URL"):
        Store("nonsense://x")
    with pytest.raises(StoreError, match="cannot open database"):
        Store(f"sqlite:///{tmp_path}/no/such/dir/x.db")


def test_duplicate_ids_in_one_batch_keep_the_last(store_url: str) -> None:
    """Two records with one id in a batch: PostgreSQL refused the upsert; now both keep the last."""
    store = Store(store_url)
    first = session("s1", 0)
    second = dataclasses.replace(first, end_ms=90_000)
    store.write_batch([event("e1", 0), event("e1", 0)], [first, second])
    stored = store.sessions_frame()
    assert len(stored) == 1 and int(stored.end_ms.iloc[0]) == 90_000
    assert len(store.events_frame()) == 1
