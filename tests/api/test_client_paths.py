"""A server never takes a file-system path from a client: a site sent over HTTP (jobs,
set-up) may not name a model file or a footage path outside the footage policy, and a
failed job's error names no server path."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from api.jobs import Progress
from occupancy.storage.store import Store
from tests.api.test_jobs import SITE, media_api


def _with(site: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
    return {**site, **fields}


def test_job_site_naming_a_model_file_is_refused(tmp_path: Path) -> None:
    ran: list[str] = []

    def records(
        source: str, site: Mapping[str, Any], store: Store, progress: Progress
    ) -> Mapping[str, Any]:
        ran.append(source)
        return {}

    gen = media_api(tmp_path, runner=records)
    api = next(gen)
    h = api.auth("jobs")
    up = api.client.put("/jobs/uploads", content=b"\x00" * 64, headers=h).json()
    real_model = tmp_path / "media" / "weights.tflite"
    real_model.write_bytes(b"\x00")
    for model in ("/etc/passwd", "/root/nonexistent.pt", str(real_model), "yolo11n.pt"):
        site = _with(SITE, detector={"model": model})
        r = api.client.post("/jobs", json={"source": up["source"], "site": site}, headers=h)
        assert r.status_code == 400, (model, r.text)
        assert r.json()["error_description"].startswith("site.detector.model:"), r.text
    # a path as the site's footage is refused too, named; nothing was queued
    for uri in ("/etc/shadow", "file:///etc/shadow", "upload:" + up["upload_id"]):
        site = _with(SITE, source={"uri": uri})
        r = api.client.post("/jobs", json={"source": up["source"], "site": site}, headers=h)
        assert r.status_code == 400, (uri, r.text)
        assert r.json()["error_description"].startswith("site.source.uri:"), r.text
    assert api.client.get("/jobs", headers=h).json() == []
    assert api.state.jobs.run_one() is None and ran == []
    gen.close()


def test_setup_site_naming_paths_is_refused_and_not_saved(tmp_path: Path) -> None:
    gen = media_api(tmp_path, api_source_urls=["rtsp://cams.paris.example/live/"])
    api = next(gen)
    h = api.auth("admin")
    sites = tmp_path / "data" / "sites"
    for field, site in (
        ("site.source.uri", _with(SITE, source={"uri": "/etc/shadow"})),
        ("site.source.uri", _with(SITE, source={"uri": "rtsp://10.0.0.1/live/1"})),
        ("site.source.uri", _with(SITE, source={"uri": "0"})),  # a webcam of the server
        ("site.detector.model", _with(SITE, detector={"model": "/etc/passwd"})),
    ):
        r = api.client.post("/setup/site", params={"save": True}, json=site, headers=h)
        assert r.status_code == 400, (site, r.text)
        assert r.json()["error_description"].startswith(field + ":"), r.text
    assert not sites.exists() or list(sites.iterdir()) == []
    # a camera URL under an allowed prefix is kept, as `watch` reads it
    ok = _with(SITE, source={"uri": "rtsp://203.0.113.7/live/1"})
    r = api.client.post("/setup/site", params={"save": True}, json=ok, headers=h)
    assert r.status_code == 400  # an address outside the allowed prefix is not a camera
    ok = _with(SITE, source={"uri": "rtsp://cams.paris.example/live/cam-job"})
    r = api.client.post("/setup/site", params={"save": True}, json=ok, headers=h)
    assert r.status_code == 200, r.text
    assert "rtsp://cams.paris.example/live/cam-job" in (sites / "cam-job.yaml").read_text()
    gen.close()


def test_failed_job_error_names_the_upload_not_a_server_path(tmp_path: Path) -> None:
    def fails_on_file(
        source: str, site: Mapping[str, Any], store: Store, progress: Progress
    ) -> Mapping[str, Any]:
        raise OSError(f"{source}: cannot decode (model /opt/models/yolo11n.pt)")

    gen = media_api(tmp_path, runner=fails_on_file)
    api = next(gen)
    h = api.auth("jobs")
    up = api.client.put("/jobs/uploads", content=b"\x00" * 64, headers=h).json()
    jid = api.client.post("/jobs", json={"source": up["source"], "site": SITE}, headers=h).json()[
        "job_id"
    ]
    api.state.jobs.run_one()
    j = api.client.get(f"/jobs/{jid}", headers=h).json()
    assert j["status"] == "failed"
    assert j["error"] == f"OSError: upload:{up['upload_id']}: cannot decode (model <server path>)"
    assert str(tmp_path) not in j["error"]
    gen.close()
