"""SSRF through DNS: an allowed host *name* that resolves inside the network (issue 14).

The allow-list (`api_source_urls`) names hosts; a poisoned or rebinding DNS record could
still point an allowed name at 127.0.0.1 or 169.254.169.254. `localhost` stands for such
a name (it resolves to loopback on every machine); a resolver stub plays the rebinding
record that is public when checked and loopback when connected to.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import api.sources
from api.sources import FootagePolicy, SourceRefused
from occupancy.config.settings import Settings
from tests.api.test_jobs import SITE, media_api

LOOPBACK_REFUSED = (
    r"source: localhost resolves to (127\.0\.0\.1|::1), which is not a public address"
)


class _Clip(BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Length", "6")
        self.end_headers()
        self.wfile.write(b"VIDEO!")

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def clip_port() -> Iterator[int]:
    _Clip.hits = 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Clip)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield int(httpd.server_address[1])
    httpd.shutdown()


def policy(tmp_path: Path, port: int, **settings: Any) -> FootagePolicy:
    return FootagePolicy.from_settings(
        Settings(
            data_dir=str(tmp_path / "data"),
            api_source_urls=[f"http://localhost:{port}/"],
            **settings,
        )
    )


def test_a_name_resolving_to_loopback_is_refused(tmp_path: Path, clip_port: int) -> None:
    url = f"http://localhost:{clip_port}/clip.mp4"
    p = policy(tmp_path, clip_port)
    with pytest.raises(SourceRefused, match=LOOPBACK_REFUSED):
        p.check(url)
    with pytest.raises(SourceRefused, match=LOOPBACK_REFUSED):
        p.download(url, "job1")
    assert _Clip.hits == 0  # not one request reached the internal server


def test_the_api_answers_400_naming_the_rule(tmp_path: Path, clip_port: int) -> None:
    gen = media_api(tmp_path, api_source_urls=[f"http://localhost:{clip_port}/"])
    api = next(gen)
    try:
        r = api.client.post(
            "/jobs",
            json={"source": f"http://localhost:{clip_port}/clip.mp4", "site": SITE},
            headers=api.auth("jobs"),
        )
        assert r.status_code == 400
        assert "which is not a public address" in r.json()["error_description"]
    finally:
        gen.close()


def test_a_network_the_operator_allows_is_reached(tmp_path: Path, clip_port: int) -> None:
    p = policy(tmp_path, clip_port, api_source_networks=["127.0.0.0/8", "::1/128"])
    url = f"http://localhost:{clip_port}/clip.mp4"
    assert p.check(url) == url
    assert p.download(url, "job2").read_bytes() == b"VIDEO!"
    assert _Clip.hits == 1


def test_rebinding_between_check_and_connection_gains_nothing(
    tmp_path: Path, clip_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter(["93.184.215.14"])  # public at the check, loopback at the connection

    def rebinding(host: str, port: int, *args: Any, **kw: Any) -> list[Any]:
        address = next(answers, "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(api.sources.socket, "getaddrinfo", rebinding)
    p = policy(tmp_path, clip_port)
    url = f"http://localhost:{clip_port}/clip.mp4"
    assert p.check(url) == url  # the name looked public when the job was submitted
    with pytest.raises(SourceRefused, match=r"resolves to 127\.0\.0\.1, which is not a public"):
        p.download(url, "job3")
    assert _Clip.hits == 0
