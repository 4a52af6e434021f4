"""Edge -> server ingestion survives server crashes: every event stored exactly once.

A real uvicorn process serves the API; the PushClient sends 30 batches while the
server is SIGKILLed twice (once for several batches, once mid-stream) and
restarted; one batch is also sent twice. At the end the spool is empty and the
database holds each event and session once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from api.keys import KeyStore
from occupancy.domain.records import (
    CurbEvent,
    EventType,
    OccupancySession,
    SessionKind,
    VehicleType,
    stable_id,
)
from occupancy.runtime.push_client import PushClient
from occupancy.storage.store import Store
from tests.api.conftest import T0, zone_rows
from tests.api.server import free_port

ROOT = Path(__file__).resolve().parents[2]
PER_BATCH = 20
BATCHES = 30


def start_server(db: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "BAYWATCH_DB": db,
        "PYTHONPATH": str(ROOT),
        "BAYWATCH_API_JOB_WORKERS": "0",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.app:app_from_env",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(
        f"server did not start: {proc.stderr.read().decode() if proc.stderr else ''}"
    )


def batch(k: int, zone: str) -> tuple[list[CurbEvent], list[OccupancySession]]:
    evs = [
        CurbEvent(
            event_id=stable_id("push-test", k, i),
            event_type=EventType.PARK_START if i % 2 == 0 else EventType.PARK_END,
            event_time=T0 + (k * PER_BATCH + i) * 1000,
            data_source_device_id="cam-1",
            lon=2.3655,
            lat=48.8557,
            curb_zone_id=zone,
            vehicle_type=VehicleType.VAN,
            vehicle_length=540,
        )
        for i in range(PER_BATCH)
    ]
    ses = [
        OccupancySession(
            session_id=stable_id("push-test-session", k),
            kind=SessionKind.PARK,
            data_source_device_id="cam-1",
            start_ms=T0 + k * PER_BATCH * 1000,
            end_ms=T0 + (k * PER_BATCH + 1) * 1000,
            vehicle_type=VehicleType.VAN,
            curb_zone_id=zone,
        )
    ]
    return evs, ses


def test_kill_and_restart_mid_stream(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'server.db'}"
    store = Store(db)
    store.upsert_zones(zone_rows())
    zone = zone_rows()[0].curb_zone_id
    _, token = KeyStore(store).create("edge", ["ingest"])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(db, port)
    client = PushClient(
        url, token, tmp_path / "spool", backoff_initial_s=0.05, backoff_max_s=0.4, timeout_s=2
    )
    try:
        for k in range(BATCHES):
            client.send(*batch(k, zone))
            if k == 5:
                client.send(*batch(5, zone))  # a duplicate, as after a lost acknowledgement
            if k == 9:
                assert client.flush(20)
                server.send_signal(signal.SIGKILL)
                server.wait()
            if k == 17:
                assert client.pending(), "batches sent while the server was down must be spooled"
                server = start_server(db, port)
            if k == 23:
                server.send_signal(signal.SIGKILL)  # mid-stream, batches may be in flight
                server.wait()
                server = start_server(db, port)
            time.sleep(0.01)
        assert client.flush(30), f"undelivered: {client.pending()}"
    finally:
        client.close()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)

    events = store.events_frame()
    assert len(events) == BATCHES * PER_BATCH
    assert events["event_id"].is_unique
    assert set(events["event_id"]) == {
        stable_id("push-test", k, i) for k in range(BATCHES) for i in range(PER_BATCH)
    }
    sessions = store.sessions_frame()
    assert len(sessions) == BATCHES and sessions["session_id"].is_unique
    assert list((tmp_path / "spool").glob("*.json")) == []
    assert not (tmp_path / "spool" / "rejected").exists()
    store.close()


def test_rejected_batch_is_kept_not_retried(tmp_path: Path) -> None:
    """A batch the server refuses as invalid goes to rejected/ with the server's reason."""
    from api.app import create_app
    from occupancy.config.settings import Settings
    from tests.api.server import serve_in_thread

    db = f"sqlite:///{tmp_path / 'r.db'}"
    store = Store(db)
    _, token = KeyStore(store).create("edge", ["ingest"])
    app = create_app(Settings(db=db), store=store, background=False)
    bad = CurbEvent(
        event_id="e1",
        event_type=EventType.PARK_START,
        event_time=-5,  # invalid: before the epoch
        data_source_device_id="cam-1",
    )
    with serve_in_thread(app) as url:
        client = PushClient(url, token, tmp_path / "spool", backoff_initial_s=0.05)
        client.send([bad], [])
        assert client.flush(10)
        client.close()
    rejected = list((tmp_path / "spool" / "rejected").glob("*.json"))
    assert len(rejected) == 1
    reason = (tmp_path / "spool" / "rejected" / (rejected[0].name + ".error.txt")).read_text()
    assert reason.startswith("HTTP 400\n") and "event_time" in reason
    assert store.events_frame().empty
    store.close()
