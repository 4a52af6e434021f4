"""A camera that keeps its connection open but stops sending is noticed within the
watchdog's timeout, stamped at its last good frame, and its return is reported.

The "camera" is a tiny local HTTP server sending an MPEG-TS clip (made here with ffmpeg
from the Intel footage): on the first connection it sends part of the clip and then
goes silent with the socket open; on the next it sends the clip again.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import FOOTAGE, needs_footage
from vision.sources import LiveSource
from vision.types import Frame, SourceGap, SourceLost

pytestmark = [
    needs_footage,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed"),
]

TIMEOUT_S = 1.5
CLIP_S = 6


@pytest.fixture(scope="module")
def ts_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("ts") / "clip.ts"
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-t", str(CLIP_S),
            "-i", str(FOOTAGE / "intel" / "car-detection.mp4"),
            "-c", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "mpegts", str(out),
        ],
        check=True,
    )  # fmt: skip
    return out.read_bytes()


@pytest.fixture
def stalling_server(ts_clip: bytes) -> Iterator[tuple[str, threading.Event]]:
    release = threading.Event()
    connections = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            connections[0] += 1
            first = connections[0] == 1
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.end_headers()
            data = ts_clip[: len(ts_clip) // 2] if first else ts_clip
            step = 4096
            pause = CLIP_S * step / len(ts_clip)  # about real time
            for i in range(0, len(data), step):
                try:
                    self.wfile.write(data[i : i + step])
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(pause)
            if first:
                release.wait(30)  # silent, connection held open: a stalled camera

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/live.ts", release
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def test_a_stalled_stream_is_lost_at_its_last_frame_and_restored(
    stalling_server: tuple[str, threading.Event],
) -> None:
    url, _ = stalling_server
    src = LiveSource(url, 4.0, frame_timeout_s=TIMEOUT_S, max_backoff_s=0.5)
    items: list[Frame | SourceGap | SourceLost] = []
    deadline = time.monotonic() + 60
    for item in src:
        items.append(item)
        gaps = [i for i in items if isinstance(i, SourceGap)]
        if gaps and sum(isinstance(i, Frame) for i in items[items.index(gaps[0]) :]) >= 3:
            src.stop()
        assert time.monotonic() < deadline, "the stream never came back"
    lost_at = next(i for i, x in enumerate(items) if isinstance(x, SourceLost))
    lost = items[lost_at]
    assert isinstance(lost, SourceLost)
    before = [x for x in items[:lost_at] if isinstance(x, Frame)]
    assert len(before) >= 3
    # Stamped at the last good frame, and noticed about one timeout later (not 30 s).
    assert lost.lost_ms == before[-1].t_ms
    assert TIMEOUT_S * 1000 - 300 <= lost.detected_ms - lost.lost_ms <= TIMEOUT_S * 1000 + 1500
    gap = next(x for x in items if isinstance(x, SourceGap))
    assert gap.lost_ms == lost.lost_ms and gap.restored_ms > lost.detected_ms
    after = [x for x in items if isinstance(x, Frame) and x.t_ms >= gap.restored_ms]
    assert len(after) >= 3
    # No stale frame stamped during the silence.
    assert not [
        x for x in items if isinstance(x, Frame) and lost.lost_ms < x.t_ms < gap.restored_ms
    ]


def test_comms_lost_is_stored_when_noticed_and_hidden_sessions_follow_the_grace_rule() -> None:
    from tests.test_machine import STEP, Script, obs

    s = Script()  # grace 5 s
    s.run(15, [obs(1, 6, 1.2)])
    last = s.t - STEP
    assert len(s.m.occupants) == 1
    # Silent after the last frame; noticed 2 s later: shorter than grace, the session stays.
    out = s.m.comms_lost(last, last + 2000)
    assert [e.event_type for e in out.events] == ["comms_lost"]
    assert out.events[0].event_time == last and not out.sessions
    # Still silent past grace: the hidden session ends, right-censored at its last sighting.
    out = s.m.comms_lost(last, last + 6000)
    assert not out.events and len(out.sessions) == 1
    sess = out.sessions[0]
    assert sess.end_censored and sess.end_ms == last
    out = s.m.gap(last, last + 9000)
    assert [e.event_type for e in out.events] == ["comms_restored"]


def test_sigterm_on_a_live_analysis_closes_its_open_session(tmp_path: Path) -> None:
    """``kill`` (SIGTERM) on ``baywatch analyse URL`` ends the run as ``watch`` does: the
    car parked in view gets its session row (right-censored), not a lone park_start."""
    import os
    import signal
    import sys

    from occupancy.storage.store import Store
    from tests.conftest import MODEL, ROOT
    from tests.scale.composed import compose, site_yaml

    raw = compose(tmp_path / "stops.mp4")
    ts = tmp_path / "stops.ts"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(raw), "-t", "12",
         "-c:v", "libx264", "-preset", "veryfast", "-g", "12", "-f", "mpegts", str(ts)],
        check=True,
    )  # fmt: skip
    data = ts.read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.end_headers()
            step = 4096
            pause = 12 * step / len(data)  # about real time
            try:
                for i in range(0, len(data), step):
                    self.wfile.write(data[i : i + step])
                    self.wfile.flush()
                    time.sleep(pause)
                time.sleep(60)  # then silent, the car still "parked" in the last frames
            except OSError:
                return

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/live.ts"
    site = tmp_path / "site.yaml"
    site.write_text(site_yaml(raw).replace(f"uri: {raw}", f"uri: {url}"))
    db = tmp_path / "live.db"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BAYWATCH_MODEL": str(MODEL),
        "YOLO_OFFLINE": "True",
        "BAYWATCH_LIVE_FRAME_TIMEOUT_S": "30",  # this test is about the signal, not silence
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "baywatch.cli", "analyse", url, "--site", str(site),
         "--db", f"sqlite:///{db}", "--quiet"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        started = False
        while time.monotonic() < deadline and not started and proc.poll() is None:
            time.sleep(1)
            if db.exists():
                ev = Store(f"sqlite:///{db}").events_frame()
                started = "park_start" in set(ev.event_type)
        assert started, "no vehicle parked in the live stream"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.shutdown()
        server.server_close()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    store = Store(f"sqlite:///{db}")
    sessions = store.sessions_frame()
    assert len(sessions) >= 1 and bool(sessions.end_censored.all())
    starts = store.events_frame()
    started_ids = set(starts[starts.event_type == "park_start"].event_session_id)
    assert started_ids <= set(sessions.session_id)  # every park_start has its session row


class _SeenLost(Exception):
    """Raised by the sink below to end a live analysis once the outage was reported."""


def test_a_live_analysis_opened_by_analyse_uses_the_configured_timeout(
    stalling_server: tuple[str, threading.Event],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A footage job (``api.jobs.pipeline_runner``) hands ``analyse`` a URL, not a source:
    the watchdog must then follow ``BAYWATCH_LIVE_FRAME_TIMEOUT_S`` (here 1 s), not the
    5-s default of ``vision.sources``."""
    from occupancy.config.settings import get_settings
    from occupancy.config.site import load_site
    from occupancy.domain.records import CurbEvent, EventType, OccupancySession
    from occupancy.runtime.analysis import analyse
    from occupancy.storage.store import Store
    from tests.conftest import MODEL, SAMPLES
    from vision.detector import Detector

    configured_s = 1.0
    monkeypatch.setenv("BAYWATCH_LIVE_FRAME_TIMEOUT_S", str(configured_s))
    get_settings.cache_clear()
    noticed: list[tuple[int, float]] = []

    class Sink:
        def send(self, events: Sequence[CurbEvent], sessions: Sequence[OccupancySession]) -> None:
            for e in events:
                if e.event_type is EventType.COMMS_LOST and not noticed:
                    noticed.append((e.event_time, time.time() * 1000))
                    raise _SeenLost

    url, _ = stalling_server
    site = load_site(SAMPLES / "intel-aisle.yaml")
    store = Store("sqlite://")
    try:
        with pytest.raises(_SeenLost):
            analyse(url, site, store, detector=Detector.for_site(site, str(MODEL)), sink=Sink())
    finally:
        get_settings.cache_clear()
    ((lost_ms, seen_ms),) = noticed
    # Noticed about 1 s after the last good frame (with the default it would be 5 s).
    assert configured_s * 1000 - 300 <= seen_ms - lost_ms <= configured_s * 1000 + 1500


def test_a_file_job_never_trips_the_live_watchdog(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A footage file analysed as an API job runs to its end without ``comms_lost`` even
    when the live timeout is far shorter than a detector run (1 ms): recorded footage is
    read at the pace of the analysis, and a slow frame is not an outage."""
    import yaml

    from api.jobs import pipeline_runner
    from occupancy.config.settings import get_settings
    from occupancy.storage.store import Store
    from tests.conftest import MODEL, SAMPLES

    clip = tmp_path / "aisle.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-t", "4",
         "-i", str(FOOTAGE / "intel" / "car-detection.mp4"), "-c", "copy", str(clip)],
        check=True,
    )  # fmt: skip
    site = yaml.safe_load((SAMPLES / "intel-aisle.yaml").read_text())
    del site["source"]
    monkeypatch.setenv("BAYWATCH_LIVE_FRAME_TIMEOUT_S", "0.001")
    monkeypatch.setenv("BAYWATCH_MODEL", str(MODEL))
    get_settings.cache_clear()
    store = Store(f"sqlite:///{tmp_path / 'job.db'}")
    try:
        result = pipeline_runner(str(clip), site, store, lambda _: None)
    finally:
        get_settings.cache_clear()
    assert result["frames_analysed"] == 8  # 4 s at 2 frames a second
    kinds = set(store.events_frame().event_type) if result["events"] else set()
    assert "comms_lost" not in kinds
