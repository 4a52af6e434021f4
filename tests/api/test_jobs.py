"""Batch footage jobs: submit, progress, results in the database, survival of a restart."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from api.jobs import JobQueue, Progress
from occupancy.runtime.wire import EventIn
from occupancy.storage.store import Store
from tests.api.conftest import T0, Api, event, make_api

SITE: dict[str, Any] = {
    "camera_id": "cam-job",
    "calibration": {
        "control_points": [
            {"pixel": [0, 0], "lonlat": [2.3650, 48.8560]},
            {"pixel": [1000, 0], "lonlat": [2.3660, 48.8560]},
            {"pixel": [1000, 1000], "lonlat": [2.3660, 48.8550]},
            {"pixel": [0, 1000], "lonlat": [2.3650, 48.8550]},
        ]
    },
    "bays": [{"id": "b1", "pixels": [[100, 100], [300, 100], [300, 200], [100, 200]]}],
}


def stand_in(
    source: str, site: Mapping[str, Any], store: Store, progress: Progress
) -> Mapping[str, Any]:
    """Pretends to analyse: reports progress and writes two events, as analyse would."""
    progress(0.5)
    rows = [
        EventIn.model_validate(event("park_start", "b1", T0 + i, n=i)).row(T0) for i in range(2)
    ]
    store.ingest_events(rows)
    return {"events": 2, "source": Path(source).name, "camera": site["camera_id"]}


def failing(
    source: str, site: Mapping[str, Any], store: Store, progress: Progress
) -> Mapping[str, Any]:
    raise RuntimeError("decoder gave up at frame 12")


def test_submit_run_and_poll(tmp_path: Path) -> None:
    footage = tmp_path / "clip.mp4"
    footage.write_bytes(b"\x00")
    gen = make_api(tmp_path, runner=stand_in)
    api = next(gen)
    h = api.auth("jobs")
    r = api.client.post("/jobs", json={"source": str(footage), "site": SITE}, headers=h)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] == "queued" and job["progress"] == 0.0
    ran = api.state.jobs.run_one()
    assert ran is not None and ran.job_id == job["job_id"]
    r = api.client.get(f"/jobs/{job['job_id']}", headers=h)
    done = r.json()
    assert done["status"] == "done" and done["progress"] == 1.0
    assert done["result"] == {"events": 2, "source": "clip.mp4", "camera": "cam-job"}
    assert done["started_ms"] <= done["finished_ms"]
    assert len(api.store.events_frame()) == 2
    listed = api.client.get("/jobs", params={"status": "done"}, headers=h).json()
    assert [j["job_id"] for j in listed] == [job["job_id"]]
    gen.close()


def test_failed_job_reports_error(tmp_path: Path) -> None:
    footage = tmp_path / "clip.mp4"
    footage.write_bytes(b"\x00")
    gen = make_api(tmp_path, runner=failing)
    api = next(gen)
    h = api.auth("jobs")
    jid = api.client.post("/jobs", json={"source": str(footage), "site": SITE}, headers=h).json()[
        "job_id"
    ]
    api.state.jobs.run_one()
    j = api.client.get(f"/jobs/{jid}", headers=h).json()
    assert j["status"] == "failed"
    assert j["error"] == "RuntimeError: decoder gave up at frame 12"
    gen.close()


def test_submission_errors(api: Api) -> None:
    h = api.auth("jobs")
    c = api.client
    r = c.post("/jobs", json={"source": "/no/such/file.mp4", "site": SITE}, headers=h)
    assert r.status_code == 400
    assert (
        r.json()["error_description"]
        == "source: '/no/such/file.mp4' is not a file the server can read"
    )
    r = c.post("/jobs", json={"source": "ftp://x/y.mp4", "site": SITE}, headers=h)
    assert r.status_code == 400 and "unsupported URL scheme 'ftp'" in r.json()["error_description"]
    bad_site = {**SITE, "bays": []}
    r = c.post("/jobs", json={"source": "https://example.org/a.mp4", "site": bad_site}, headers=h)
    assert r.status_code == 400
    assert r.json()["error_description"].startswith("site: bays:")
    assert c.get("/jobs/unknown", headers=h).status_code == 404
    assert c.get("/jobs", params={"status": "weird"}, headers=h).status_code == 400


def test_jobs_survive_restart(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'jobs.db'}"
    store = Store(db)
    q = JobQueue(store, {"footage": stand_in})
    a = q.submit("https://example.org/a.mp4", SITE)
    b = q.submit("https://example.org/b.mp4", SITE)
    assert q.claim() is not None  # a starts, then the server dies
    store.close()

    store2 = Store(db)
    q2 = JobQueue(store2, {"footage": stand_in})
    assert q2.requeue_interrupted() == 1
    assert [j.status for j in q2.list()] == ["queued", "queued"]
    q2.start(workers=1)
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(j.status != "done" for j in q2.list()):
        time.sleep(0.05)
    q2.stop()
    assert {q2.get(a.job_id).status, q2.get(b.job_id).status} == {"done"}
    store2.close()


def test_optimiser_request_errors(api: Api) -> None:
    h = api.auth("jobs")
    r = api.client.post("/jobs/placement", json={"area": "a", "time_limit_s": -1}, headers=h)
    assert r.status_code == 400
    assert any(d.startswith("body.time_limit_s:") for d in r.json()["error_details"])
    r = api.client.post("/jobs/timeslots", json={"area": "a", "zone_by": "city"}, headers=h)
    assert r.status_code == 400
    assert api.client.post("/jobs/timeslots", json={}, headers=api.auth("read")).status_code == 403
