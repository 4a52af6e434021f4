"""``baywatch watch`` against a real stream: FFmpeg serving the Intel clip over HTTP on
loopback, stopped and restarted mid-run, beside a camera that never answers and a
broken site file."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import pytest

from occupancy.domain.records import CurbEvent, OccupancySession
from occupancy.runtime.watch import WatchService
from occupancy.storage.store import Store
from tests.conftest import MODEL, SAMPLES, needs_footage
from tests.scale.composed import CLIP

pytestmark = [
    needs_footage,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed"),
    pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StreamServer:
    """FFmpeg sending the clip, looped, in real time, as MPEG-TS over HTTP."""

    def __init__(self, clip: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/live.ts"
        self.cmd = [
            "ffmpeg", "-nostdin", "-loglevel", "quiet", "-re", "-stream_loop", "-1",
            "-i", str(clip), "-c", "copy", "-bsf:v", "h264_mp4toannexb",
            "-f", "mpegts", "-listen", "1", self.url,
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd)
        port = int(self.url.split(":")[2].split("/")[0])
        until(lambda: _listening(port), 10, "ffmpeg to listen")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


def _listening(port: int) -> bool:
    # ffmpeg -listen 1 serves one client: look for the listening socket, do not connect.
    table = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(row.split()[1] == f"0100007F:{port:04X}" and row.split()[3] == "0A" for row in table)


def until(cond: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def site_text(camera_id: str, uri: str) -> str:
    text = (SAMPLES / "intel-aisle.yaml").read_text()
    text = text.replace("camera_id: intel-aisle", f"camera_id: {camera_id}")
    return text.replace("uri: ../../shared/footage/intel/car-detection.mp4", f"uri: {uri}")


def test_watch_survives_a_stream_outage_and_a_bad_camera(tmp_path: Path) -> None:
    server = StreamServer(CLIP, free_port())
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / "aisle.yaml").write_text(site_text("aisle-live", server.url))
    (sites / "dead.yaml").write_text(
        site_text("dead-cam", f"http://127.0.0.1:{free_port()}/none.ts")
    )
    (sites / "broken.yaml").write_text("camera_id: [unclosed\n")
    store = Store(f"sqlite:///{tmp_path / 'watch.db'}")
    server.start()
    pushed: dict[str, list[str]] = {}

    class Pushed:  # stands in for the API's PushClient
        def __init__(self, camera_id: str) -> None:
            self.types = pushed.setdefault(camera_id, [])

        def send(self, events: Sequence[CurbEvent], sessions: Sequence[OccupancySession]) -> None:
            self.types.extend(str(e.event_type) for e in events)

    service = WatchService(
        sites, store, model=str(MODEL), metrics_port=0, max_backoff_s=1.0, push_factory=Pushed
    )
    assert [c.site.camera_id for c in service.cameras] == ["aisle-live", "dead-cam"]
    assert len(service.problems) == 1 and "broken.yaml" in service.problems[0]
    live, dead = service.runners
    service.start()
    try:
        until(lambda: live.status.frames >= 4, 60, "frames from the stream")
        server.stop()
        killed_ms = time.time() * 1000
        time.sleep(3.0)  # longer than the 2-s grace: a real outage
        # During the outage the service says the camera is down (comms_lost already stored).
        base = f"http://127.0.0.1:{service.port}"
        down_health = httpx.get(f"{base}/healthz")
        down_metrics = httpx.get(f"{base}/metrics").text
        lost_during = store.events_frame(device_id="aisle-live")
        before = live.status.frames
        restarted_ms = time.time() * 1000
        server.start()
        until(lambda: live.status.reconnects >= 1, 60, "the stream to be reopened")
        until(lambda: live.status.frames >= before + 4, 60, "frames after the outage")
        base = f"http://127.0.0.1:{service.port}"
        metrics = httpx.get(f"{base}/metrics").text
        health = httpx.get(f"{base}/healthz")
    finally:
        service.stop()
        server.stop()

    assert down_health.status_code == 503
    assert {c["camera_id"]: c["state"] for c in down_health.json()["cameras"]}[
        "aisle-live"
    ] == "down"
    assert 'baywatch_camera_up{camera="aisle-live"} 0.0' in down_metrics
    assert list(lost_during.event_type).count("comms_lost") == 1
    assert dead.status.state in ("failed", "stopped") and dead.status.frames == 0
    assert dead.status.last_error is not None and "cannot open stream" in dead.status.last_error
    assert 'baywatch_reconnects_total{camera="aisle-live"} 1.0' in metrics
    assert 'baywatch_frames_analysed_total{camera="dead-cam"} 0.0' in metrics
    assert 'baywatch_events_total{camera="aisle-live",event_type="comms_lost"} 1.0' in metrics
    assert "baywatch_lag_seconds" in metrics
    assert health.status_code == 200
    h = {c["camera_id"]: c for c in health.json()["cameras"]}
    assert h["aisle-live"]["state"] == "up" and h["aisle-live"]["reconnects"] == 1
    assert h["dead-cam"]["frames_analysed"] == 0

    ev = store.events_frame(device_id="aisle-live")
    comms = ev[ev.event_type.isin(["comms_lost", "comms_restored"])]
    assert list(comms.event_type) == ["comms_lost", "comms_restored"]
    lost, restored = comms.event_time.tolist()
    assert killed_ms - 1000 <= lost <= killed_ms + 1000  # the drop is seen within a second
    assert restarted_ms <= restored
    assert sorted(pushed["aisle-live"]) == sorted(ev.event_type)  # and pushed, every one
    assert pushed["dead-cam"] == []
    run = store.get_run(live.status.runs[0])
    assert run is not None and run.live and run.status == "complete"
    assert run.frames_analysed == live.status.frames
