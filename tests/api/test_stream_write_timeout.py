"""A stream client that stops reading is dropped within `api_stream_write_timeout_s` (issue 14).

A real uvicorn server (in a thread) sends large state batches to a client whose socket
is never read (a small receive buffer): once the kernel's buffers are full every write
waits, and the server must give the stream, its slot and its queue up after the
setting's time, not hold them for ever.
"""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import pytest

from api.live import BayState, StateChange
from tests.api.test_limits import Served

BATCH = [
    StateChange(f"zone-{i:05d}-" + "x" * 40, BayState.OCCUPIED, 10**12, "observed")
    for i in range(2000)
]


def _stalled_stream(s: Served) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", s.port))
    sock.sendall(b"GET /availability/stream?heartbeat_s=300 HTTP/1.1\r\nHost: t\r\n\r\n")
    sock.settimeout(5)
    assert sock.recv(64).startswith(b"HTTP/1.1 200")  # then it never reads again
    return sock


def _flood_until_released(s: Served, seconds: float) -> float | None:
    """Publish ~180 kB batches; the time the stream's slot came back, None if it did not."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if s.api.state.streams.open == 0:
            return time.monotonic() - t0
        s.api.state.broadcaster.publish(BATCH)
        time.sleep(0.05)
    return None


@pytest.mark.parametrize("timeout_s", [1.0, 30.0])
def test_a_client_that_stops_reading_is_dropped_within_the_setting(
    tmp_path: Path, timeout_s: float, caplog: pytest.LogCaptureFixture
) -> None:
    s = Served(tmp_path, api_stream_write_timeout_s=timeout_s)
    try:
        with caplog.at_level(logging.INFO, logger="api.limits"):
            sock = _stalled_stream(s)
            deadline = time.monotonic() + 5
            while s.api.state.streams.open == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert s.api.state.streams.open == 1
            released = _flood_until_released(s, 6.0)
            sock.close()
    finally:
        s.close()
    if timeout_s == 1.0:
        # buffers fill within a second or two of flooding, then 1 s of waiting
        assert released is not None and released < 5.0
        assert "event stream closed: client read nothing for 1 s" in caplog.text
    else:  # the same client under the default 30 s is still held after 6 s
        assert released is None
