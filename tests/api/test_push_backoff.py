"""Push client against a scripted server: Retry-After, jittered backoff, refused keys."""

from __future__ import annotations

import logging
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from occupancy.domain.records import CurbEvent, EventType, stable_id
from occupancy.runtime.push_client import PushClient, retry_after_s
from tests.api.conftest import T0


class Script(BaseHTTPRequestHandler):
    """Answers each POST with the next (status, headers) of ``answers``; logs arrival times."""

    answers: ClassVar[list[tuple[int, dict[str, str]]]] = []
    arrivals: ClassVar[list[float]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Script.arrivals.append(time.monotonic())
        status, headers = Script.answers.pop(0) if Script.answers else (200, {})
        body = b'{"error": "x"}' if status >= 400 else b'{"events_stored": 1}'
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_a: Any) -> None:
        pass


@pytest.fixture
def server() -> Any:
    Script.answers, Script.arrivals = [], []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Script)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def one_event() -> CurbEvent:
    return CurbEvent(
        event_id=stable_id("push-test", 1),
        event_type=EventType.PARK_START,
        event_time=T0,
        data_source_device_id="cam-1",
    )


def test_retry_after_is_honoured(server: str, tmp_path: Path) -> None:
    Script.answers = [
        (429, {"Retry-After": "2"}),
        (503, {"Retry-After": formatdate(time.time() + 5, usegmt=True)}),
    ]
    with PushClient(server, "k", tmp_path, backoff_initial_s=0.01, backoff_max_s=0.05) as c:
        c.send([one_event()], [])
        assert c.flush(15)
    a = Script.arrivals
    assert len(a) == 3
    # jitter alone would wait <= 0.05 s; the server asked for 2 s, then until a date
    # 5 s after the start (served ~2 s in, rounded down to the second: >= 2 s left)
    assert a[1] - a[0] >= 1.9
    assert a[2] - a[1] >= 1.5


def test_backoff_has_jitter_and_grows(server: str, tmp_path: Path) -> None:
    Script.answers = [(503, {})] * 5
    with PushClient(server, "k", tmp_path, backoff_initial_s=0.05, backoff_max_s=5) as c:
        c.send([one_event()], [])
        assert c.flush(20)
    gaps = [b - a for a, b in zip(Script.arrivals, Script.arrivals[1:], strict=False)]
    assert len(gaps) == 5
    # full jitter: each wait lies in [0, 0.05 * 2**n]; over 5 retries they are not all equal
    for n, g in enumerate(gaps):
        assert g <= 0.05 * 2 ** (n + 1) + 0.3, gaps
    assert len({round(g, 2) for g in gaps}) > 1


@pytest.mark.parametrize("status", [401, 403])
def test_refused_key_stops_with_one_line_and_keeps_the_spool(
    server: str, tmp_path: Path, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    Script.answers = [(status, {})] * 10
    caplog.set_level(logging.INFO, logger="occupancy.runtime.push_client")
    c = PushClient(server, "bw_wrong", tmp_path, backoff_initial_s=0.01, backoff_max_s=0.02)
    c.send([one_event()], [])
    c.send([one_event()], [])
    assert not c.flush(3)  # gives up at once rather than waiting out the timeout
    time.sleep(0.3)
    c.close(flush_timeout_s=1)
    assert len(Script.arrivals) == 1  # no retry of a refused key
    assert len(c.pending()) == 2  # nothing thrown away
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].getMessage() == (
        f"{server}/ingest/batch refused the API key (HTTP {status}); pushing stopped, "
        f"2 batch(es) kept in {tmp_path}"
    )
    assert c.stopped == errors[0].getMessage()


def test_retry_after_parsing() -> None:
    assert retry_after_s("7") == 7.0
    assert retry_after_s("99999") == 600.0  # capped
    assert retry_after_s(formatdate(1000.0 + 30, usegmt=True), now=1000.0) == 30.0
    assert retry_after_s("soon") == 0.0 and retry_after_s(None) == 0.0


@pytest.mark.parametrize("status", [404, 405])
def test_a_url_with_no_ingest_endpoint_stops_and_quarantines_nothing(
    server: str, tmp_path: Path, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A typo in --push (a 404 for every batch) used to move the whole backlog to rejected/."""
    Script.answers = [(status, {})] * 10
    caplog.set_level(logging.INFO, logger="occupancy.runtime.push_client")
    c = PushClient(server, "k", tmp_path, backoff_initial_s=0.01, backoff_max_s=0.02)
    for _ in range(3):
        c.send([one_event()], [])
    assert not c.flush(3)
    c.close(flush_timeout_s=1)
    assert len(Script.arrivals) == 1 and len(c.pending()) == 3
    assert not (tmp_path / "rejected").exists()
    assert c.stopped is not None and c.stopped.startswith(
        f"{server}/ingest/batch is not a baywatch ingest endpoint (HTTP {status}); check --push"
    )
