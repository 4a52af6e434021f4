"""Limits met before a body is read, stream caps, proxy trust, slow clients (issue 14)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from api.server import server_config
from baywatch.cli import app as cli_app
from occupancy.config.settings import Settings
from tests.api.conftest import ORIGIN, Api, make_api
from tests.api.server import free_port


def asgi_call(
    app: Any, method: str, path: str, headers: dict[str, str], receive: Any
) -> dict[str, Any]:
    """Run one request through the ASGI app; the status and body it answered."""
    out: dict[str, Any] = {"body": b""}

    async def send(msg: dict[str, Any]) -> None:
        if msg["type"] == "http.response.start":
            out["status"] = msg["status"]
        elif msg["type"] == "http.response.body":
            out["body"] += msg.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("203.0.113.9", 5555),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    asyncio.run(app(scope, receive, send))
    return out


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Api]:
    yield from make_api(tmp_path, api_max_body_bytes=2048, api_body_timeout_s=0.3)


def test_anonymous_body_is_refused_before_one_byte_is_read(small: Api) -> None:
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    app = small.client.app
    huge = {"content-length": str(200 * 2**20), "content-type": "application/json"}
    r = asgi_call(app, "POST", "/ingest/batch", huge, receive)
    assert r["status"] == 401 and reads == 0
    assert b"a request with a body needs an API key" in r["body"]
    r = asgi_call(app, "POST", "/ingest/batch", {**huge, "authorization": "Bearer bw_x_y"}, receive)
    assert r["status"] == 401 and reads == 0 and b"unknown or revoked API key" in r["body"]
    # A valid key with a declared length over the limit: 413, still nothing read.
    keyed = {**huge, **{k.lower(): v for k, v in small.auth("ingest").items()}}
    r = asgi_call(app, "POST", "/ingest/batch", keyed, receive)
    assert r["status"] == 413 and reads == 0
    assert b"request body of 209715200 bytes exceeds the limit of 2048 bytes" in r["body"]
    # A chunked body (no length) is cut as soon as it passes the limit: one read.
    chunked = {
        "transfer-encoding": "chunked",
        **{k.lower(): v for k, v in small.auth("ingest").items()},
    }
    r = asgi_call(app, "POST", "/ingest/batch", chunked, receive)
    assert r["status"] == 413 and reads == 1


def test_a_body_that_stops_arriving_gets_408(small: Api) -> None:
    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)
        raise AssertionError

    headers = {"content-length": "100", **{k.lower(): v for k, v in small.auth("ingest").items()}}
    t0 = time.monotonic()
    r = asgi_call(small.client.app, "POST", "/ingest/batch", headers, receive)
    assert r["status"] == 408 and time.monotonic() - t0 < 3
    assert b"no request body data for 0.3 s" in r["body"]


def test_bad_content_length_is_400(small: Api) -> None:
    async def receive() -> dict[str, Any]:
        raise AssertionError("read")

    r = asgi_call(small.client.app, "POST", "/ingest/batch", {"content-length": "-5"}, receive)
    assert r["status"] == 400 and b"Content-Length '-5' is not a byte count" in r["body"]


class Served:
    def __init__(self, tmp_path: Path, **settings: Any) -> None:
        self.gen = make_api(tmp_path, **settings)
        self.api = next(self.gen)
        cfg = self.api.state.settings
        port = free_port()
        self.server = uvicorn.Server(
            server_config(self.api.client.app, cfg, "127.0.0.1", port, log_level="warning")
        )  # type: ignore[arg-type]
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{port}"
        self.port = port

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.gen.close()


def test_stream_caps_per_address_per_key_total_and_opening_rate(tmp_path: Path) -> None:
    s = Served(
        tmp_path,
        api_max_streams=3,
        api_max_streams_per_address=2,
        api_max_streams_per_key=2,
        api_stream_opens_per_s=100,
    )
    try:
        with httpx.Client(base_url=s.url, timeout=5) as c:

            def open_stream(headers: dict[str, str] | None = None) -> tuple[httpx.Response, Any]:
                cm = c.stream("GET", "/availability/stream", headers=headers)
                return cm.__enter__(), cm

            opened = [open_stream(), open_stream()]
            assert all(r.status_code == 200 for r, _ in opened)
            r, cm = open_stream()
            r.read()
            assert r.status_code == 429
            assert (
                r.json()["error_description"]
                == "address 127.0.0.1 already has 2 open event streams (the cap)"
            )
            cm.__exit__(None, None, None)
            keyed = open_stream(s.api.auth("read"))
            assert keyed[0].status_code == 200  # a key is counted apart from the address
            r, cm = open_stream(s.api.auth("read"))  # the total cap (3) is reached
            r.read()
            assert r.status_code == 503 and r.headers["retry-after"] == "5"
            assert r.json()["error_description"] == "the service has 3 open event streams (the cap)"
            cm.__exit__(None, None, None)
            for _, cm in [*opened, keyed]:
                cm.__exit__(None, None, None)
            deadline = time.monotonic() + 5
            while s.api.state.streams.open and time.monotonic() < deadline:
                time.sleep(0.05)
            assert s.api.state.streams.open == 0  # closed streams give their slots back
    finally:
        s.close()


def test_stream_opening_is_rate_limited(tmp_path: Path) -> None:
    s = Served(tmp_path, api_stream_opens_per_s=0.1)
    try:
        with httpx.Client(base_url=s.url, timeout=5) as c:
            codes = []
            for _ in range(7):
                with c.stream("GET", "/availability/stream", params={"max_events": 1}) as r:
                    codes.append(r.status_code)
            assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]  # burst 5, then 0.1/s
    finally:
        s.close()


def _free(url: str, forwarded: str) -> int:
    return httpx.get(
        url + "/availability/free",
        params={"lat": ORIGIN[0], "lon": ORIGIN[1]},
        headers={"X-Forwarded-For": forwarded},
    ).status_code


@pytest.mark.parametrize("trusted", [False, True])
def test_forwarded_for_is_believed_only_from_configured_proxies(
    tmp_path: Path, trusted: bool
) -> None:
    extra = {"api_trusted_proxies": ["127.0.0.1"]} if trusted else {}
    s = Served(tmp_path, api_rate_limit_per_s=0.01, api_rate_limit_burst=2, **extra)
    try:
        codes = [_free(s.url, f"198.51.100.{i}") for i in range(4)]
    finally:
        s.close()
    if trusted:  # each forwarded client has its own bucket
        assert codes == [200, 200, 200, 200]
    else:  # spoofed addresses do not escape the loopback caller's limit
        assert codes == [200, 200, 429, 429]


def test_slow_headers_are_cut(tmp_path: Path) -> None:
    s = Served(tmp_path, api_header_timeout_s=0.5)
    try:
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            closed_after = None
            for _ in range(40):  # a header byte every 0.1 s: uvicorn's keep-alive never fires
                try:
                    sock.sendall(b"X")
                except OSError:
                    closed_after = time.monotonic() - t0
                    break
                sock.settimeout(0.1)
                try:
                    if sock.recv(1) == b"":
                        closed_after = time.monotonic() - t0
                        break
                except TimeoutError:
                    pass
        assert closed_after is not None and closed_after < 2.0
        assert httpx.get(s.url + "/health").status_code == 200  # others are served
    finally:
        s.close()


def test_serve_refuses_several_workers() -> None:
    r = CliRunner().invoke(cli_app, ["serve", "--workers", "2", "--db", "sqlite://"])
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "--workers > 1 is refused" in lines[0]


def test_settings_reject_bad_trust_and_url_entries() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300' is not an IP address or network"):
        Settings(api_trusted_proxies=["10.0.0.300"])
    with pytest.raises(ValueError, match=r"'file:///etc' is not a scheme://host"):
        Settings(api_source_urls=["file:///etc"])
