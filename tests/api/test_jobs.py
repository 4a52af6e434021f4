"""Batch footage jobs: submit, progress, results in the database, survival of a restart."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from api.jobs import JobQueue, Progress
from api.keys import KeyStore
from occupancy.runtime.wire import EventIn
from occupancy.storage.store import Store
from tests.api.conftest import T0, Api, event, make_api
from tests.api.server import free_port

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


def media_api(tmp_path: Path, runner: Any = stand_in, **settings: Any) -> Iterator[Api]:
    """The service with ``tmp_path/media`` as its one media root and ``tmp_path/data``."""
    (tmp_path / "media").mkdir(exist_ok=True)
    return make_api(
        tmp_path,
        runner=runner,
        api_media_roots=[str(tmp_path / "media")],
        data_dir=str(tmp_path / "data"),
        **settings,
    )


def test_submit_run_and_poll(tmp_path: Path) -> None:
    gen = media_api(tmp_path)
    api = next(gen)
    footage = tmp_path / "media" / "clip.mp4"
    footage.write_bytes(b"\x00")
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
    assert footage.exists()  # footage under a media root belongs to the city, not the job
    gen.close()


def test_failed_job_reports_error(tmp_path: Path) -> None:
    gen = media_api(tmp_path, runner=failing)
    api = next(gen)
    footage = tmp_path / "media" / "clip.mp4"
    footage.write_bytes(b"\x00")
    h = api.auth("jobs")
    jid = api.client.post("/jobs", json={"source": str(footage), "site": SITE}, headers=h).json()[
        "job_id"
    ]
    api.state.jobs.run_one()
    j = api.client.get(f"/jobs/{jid}", headers=h).json()
    assert j["status"] == "failed"
    assert j["error"] == "RuntimeError: decoder gave up at frame 12"
    gen.close()


def test_upload_then_job_then_footage_deleted(tmp_path: Path) -> None:
    seen: dict[str, bytes] = {}

    def reads(
        source: str, site: Mapping[str, Any], store: Store, progress: Progress
    ) -> Mapping[str, Any]:
        seen["bytes"] = Path(source).read_bytes()
        return {"ok": True}

    gen = media_api(tmp_path, runner=reads)
    api = next(gen)
    h = api.auth("jobs")
    video = bytes(range(256)) * 400  # 100 kB
    r = api.client.put("/jobs/uploads", content=video, headers=h)
    assert r.status_code == 201, r.text
    up = r.json()
    assert up["bytes"] == len(video) and up["source"] == f"upload:{up['upload_id']}"
    stored = tmp_path / "data" / "uploads" / f"{up['upload_id']}.video"
    assert stored.read_bytes() == video
    r = api.client.post("/jobs", json={"source": up["source"], "site": SITE}, headers=h)
    assert r.status_code == 202, r.text
    assert api.state.jobs.run_one().status == "done"  # type: ignore[union-attr]
    assert seen["bytes"] == video
    assert not stored.exists()  # no footage kept once analysed (CNIL)
    # an upload id names nothing else: made-up and path-like ids are refused
    for bad in ("upload:" + "0" * 32, "upload:../../etc/passwd"):
        r = api.client.post("/jobs", json={"source": bad, "site": SITE}, headers=h)
        assert r.status_code == 400 and "no upload with id" in r.json()["error_description"]
    gen.close()


def test_upload_size_limit_before_and_while_reading(tmp_path: Path) -> None:
    gen = media_api(tmp_path, api_max_upload_bytes=4096)
    api = next(gen)
    h = api.auth("jobs")
    r = api.client.put("/jobs/uploads", content=b"x" * 5000, headers=h)
    assert r.status_code == 413
    assert r.json()["error_description"] == (
        "request body of 5000 bytes exceeds the limit of 4096 bytes"
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it arrives
        for _ in range(10):
            yield b"y" * 1000

    r = api.client.put("/jobs/uploads", content=chunks(), headers=h)
    assert r.status_code == 413
    assert r.json()["error_description"] == "request body exceeds the limit of 4096 bytes"
    assert list((tmp_path / "data" / "uploads").iterdir()) == []  # nothing half-written kept
    assert api.client.put("/jobs/uploads", content=b"z" * 4096, headers=h).status_code == 201
    gen.close()


def test_submission_errors(tmp_path: Path) -> None:
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(b"\x00")
    gen = media_api(tmp_path, api_source_urls=["https://media.paris.example/cams/"])
    api = next(gen)
    (tmp_path / "media" / "link.mp4").symlink_to(outside)
    h = api.auth("jobs")
    c = api.client

    def refused(source: str) -> str:
        r = c.post("/jobs", json={"source": source, "site": SITE}, headers=h)
        assert r.status_code == 400, (source, r.text)
        return str(r.json()["error_description"])

    not_under = "source: path is not under a configured media root"
    # An existing file and a missing one outside the roots get the same answer: no oracle.
    assert refused(str(outside)) == not_under
    assert refused("/no/such/file.mp4") == not_under
    assert refused("/etc/passwd") == not_under
    assert refused(str(tmp_path / "media" / ".." / "outside.mp4")) == not_under
    assert refused(str(tmp_path / "media" / "link.mp4")) == not_under  # symlinks followed
    assert refused("file://" + str(outside)) == not_under
    assert refused("media/clip.mp4") == "source: a path must be absolute and lie under a media root"
    assert refused(str(tmp_path / "media" / "none.mp4")).startswith("source: no footage file")
    assert "scheme 'ftp' is not accepted" in refused("ftp://x/y.mp4")
    rule = "is not under an allowed URL prefix (setting BAYWATCH_API_SOURCE_URLS)"
    for url in (
        "http://169.254.169.254/latest/meta-data",
        "https://media.paris.example.evil.org/cams/a.mp4",
        "https://media.paris.example/other/a.mp4",
        "https://media.paris.example/cams/../admin",
        "https://media.paris.example:8443/cams/a.mp4",
        "http://media.paris.example/cams/a.mp4",
    ):
        assert refused(url).endswith(rule), url
    # A misspelt top-level field was accepted (202) and ignored (newcomer).
    r = c.post(
        "/jobs",
        json={"source": "https://media.paris.example/cams/a.mp4", "site": SITE, "bogus": 1},
        headers=h,
    )
    assert r.status_code == 400 and "bogus" in r.json()["error_description"], r.text
    bad_site = {**SITE, "bays": []}
    r = c.post(
        "/jobs",
        json={"source": "https://media.paris.example/cams/a.mp4", "site": bad_site},
        headers=h,
    )
    assert r.status_code == 400
    assert r.json()["error_description"].startswith("site: bays:")
    assert c.get("/jobs/unknown", headers=h).status_code == 404
    assert c.get("/jobs", params={"status": "weird"}, headers=h).status_code == 400
    gen.close()
    # With no media root configured, no path at all is accepted.
    (tmp_path / "bare").mkdir()
    gen = make_api(tmp_path / "bare", data_dir=str(tmp_path / "bare-data"))
    api = next(gen)
    r = api.client.post(
        "/jobs", json={"source": str(outside), "site": SITE}, headers=api.auth("jobs")
    )
    assert r.status_code == 400
    assert r.json()["error_description"].startswith("source: file paths are not accepted")
    gen.close()


class _Footage(BaseHTTPRequestHandler):
    """/cams/clip.mp4: footage; /cams/hop: redirect to /cams/clip.mp4; /cams/away: to another port."""

    other_port = 0

    def do_GET(self) -> None:
        if self.path == "/cams/clip.mp4":
            self.send_response(200)
            self.send_header("Content-Length", "6")
            self.end_headers()
            self.wfile.write(b"VIDEO!")
        elif self.path in ("/cams/hop", "/cams/away"):
            self.send_response(302)
            where = (
                "/cams/clip.mp4"
                if self.path == "/cams/hop"
                else f"http://127.0.0.1:{self.other_port}/secret"
            )
            self.send_header("Location", where)
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *_a: Any) -> None:
        pass


def test_url_sources_follow_only_allowed_redirects(tmp_path: Path) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Footage)
    _Footage.other_port = httpd.server_address[1] + 1
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    seen: list[bytes] = []

    def reads(
        source: str, site: Mapping[str, Any], store: Store, progress: Progress
    ) -> Mapping[str, Any]:
        seen.append(Path(source).read_bytes())
        return {"ok": True}

    gen = media_api(tmp_path, runner=reads, api_source_urls=[f"{base}/cams/"])
    api = next(gen)
    h = api.auth("jobs")
    for path in ("/cams/clip.mp4", "/cams/hop", "/cams/away"):
        r = api.client.post("/jobs", json={"source": base + path, "site": SITE}, headers=h)
        assert r.status_code == 202, r.text
    results = [api.state.jobs.run_one() for _ in range(3)]
    httpd.shutdown()
    assert [j.status for j in results if j] == ["done", "done", "failed"]
    assert seen == [b"VIDEO!", b"VIDEO!"]
    assert "127.0.0.1:" in (results[2].error or "") and "not under an allowed URL prefix" in (
        results[2].error or ""
    )  # type: ignore[union-attr]
    assert list((tmp_path / "data" / "downloads").iterdir()) == []  # downloads not kept
    gen.close()


def test_expired_lease_is_taken_over_and_a_live_one_is_not(store_url: str) -> None:
    store, store2 = Store(store_url), Store(store_url)  # two processes' worth of queues
    q = JobQueue(store, {"footage": stand_in}, lease_s=3.0)
    q2 = JobQueue(store2, {"footage": stand_in}, lease_s=3.0)
    a = q.submit("https://example.org/a.mp4", SITE)
    b = q.submit("https://example.org/b.mp4", SITE)
    t0 = time.monotonic()
    assert q.claim().job_id == a.job_id  # type: ignore[union-attr]  # then its process dies
    assert q2.claim().job_id == b.job_id  # type: ignore[union-attr]  # a is leased: not taken
    assert q2.claim() is None
    assert time.monotonic() - t0 < 3.0, "machine too slow for this test's lease"
    time.sleep(3.1 - (time.monotonic() - t0))  # a's lease expires: its worker is gone
    taken = q2.claim()
    assert taken is not None and taken.job_id == a.job_id and taken.status == "running"
    # the dead worker's late writes change nothing any more
    q._set(a.job_id, status="done", progress=1.0)
    assert q2.get(a.job_id).status == "running"  # type: ignore[union-attr]
    store.close()
    store2.close()


def test_jobs_submitted_in_one_millisecond_run_in_submission_order(store_url: str) -> None:
    """FIFO even when submissions share ``submitted_ms``.

    CI once failed the lease test above because two jobs were submitted in the same
    millisecond and the tie was broken by a random UUIDv4; job ids are now UUIDv7.
    """
    store = Store(store_url)
    q = JobQueue(store, {"footage": stand_in}, lease_s=60.0)
    submitted = [q.submit(f"https://example.org/{i}.mp4", SITE).job_id for i in range(40)]
    same_ms = len(submitted) - len({q.get(j).submitted_ms for j in submitted})  # type: ignore[union-attr]
    claimed = [q.claim().job_id for _ in submitted]  # type: ignore[union-attr]
    assert claimed == submitted, f"{same_ms} submissions shared a millisecond"
    assert q.claim() is None
    store.close()


def test_two_server_processes_run_each_job_once(tmp_path: Path, store_url: str) -> None:
    """Two ``serve`` processes on one database: each job runs once (leases, no requeue).

    Before leases, a server re-queued at start every ``running`` job, the other
    server's included, so the jobs running while ``b`` started ran twice.
    """
    db = store_url
    media = tmp_path / "media"
    media.mkdir()
    (media / "clip.mp4").write_bytes(b"\x00")
    log = tmp_path / "ran.log"
    log.touch()
    release = tmp_path / "release"  # jobs run until this file exists
    store = Store(db)
    token = KeyStore(store).create("submitter", ["jobs"])[1]
    h = {"Authorization": f"Bearer {token}"}
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> str:
        port = free_port()
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.api.job_server",
                    db,
                    str(port),
                    str(log),
                    str(media),
                    str(release),
                ],
                cwd=Path(__file__).resolve().parents[2],
            )
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    return url
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError("job server did not start")

    try:
        a = start()
        cams = [f"cam-{i}" for i in range(10)]
        for cam in cams:
            r = httpx.post(
                a + "/jobs",
                json={"source": str(media / "clip.mp4"), "site": {**SITE, "camera_id": cam}},
                headers=h,
            )
            assert r.status_code == 202, r.text
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # a's two workers hold two jobs
            running = httpx.get(a + "/jobs", params={"status": "running"}, headers=h).json()
            if len(running) == 2:
                break
            time.sleep(0.1)
        assert len(running) == 2
        b = start()  # starts while a runs jobs: it must not take them back
        time.sleep(1.0)  # b's workers take what is queued, and only that
        release.touch()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            statuses = [j["status"] for j in httpx.get(b + "/jobs", headers=h).json()]
            if statuses.count("done") == len(cams):
                break
            time.sleep(0.3)
        lines = log.read_text().split()
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=20)
        store.close()
    ran = lines[0::2]
    assert sorted(ran) == sorted(cams), f"jobs run not exactly once: {sorted(ran)}"


def test_optimiser_request_errors(api: Api) -> None:
    h = api.auth("jobs")
    r = api.client.post("/jobs/placement", json={"area": "a", "time_limit_s": -1}, headers=h)
    assert r.status_code == 400
    assert any(d.startswith("body.time_limit_s:") for d in r.json()["error_details"])
    r = api.client.post("/jobs/timeslots", json={"area": "a", "zone_by": "city"}, headers=h)
    assert r.status_code == 400
    assert api.client.post("/jobs/timeslots", json={}, headers=api.auth("read")).status_code == 403
