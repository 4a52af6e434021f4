"""The app, not only `baywatch serve`, decides whose X-Forwarded-For it believes (issue 14).

`uvicorn --factory api.app:app_from_env` keeps uvicorn's default: it rewrites the client
address from X-Forwarded-For sent over loopback before the app runs. These tests start
that exact command in a subprocess and check that rotating the header does not buy a
spoofer more than one client's rate limit.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import ORIGIN
from tests.api.server import free_port, server_process

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def uvicorn_factory(tmp_path: Path, *args: str, **env: str) -> Iterator[str]:
    """`python -m uvicorn --factory api.app:app_from_env` on a fresh SQLite file."""
    port = free_port()
    environ = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BAYWATCH_DB": f"sqlite:///{tmp_path / 'f.db'}",
        "BAYWATCH_API_JOB_WORKERS": "0",
        "BAYWATCH_API_RATE_LIMIT_PER_S": "0.01",
        "BAYWATCH_API_RATE_LIMIT_BURST": "2",
        **env,
    }
    environ.pop("FORWARDED_ALLOW_IPS", None)  # uvicorn's own default: trust 127.0.0.1
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "api.app:app_from_env"]
    argv = [*cmd, "--port", str(port), "--log-level", "warning", *args]
    # /web/ is not rate limited: the clients' budget stays whole
    with server_process(argv, port, environ, tmp_path, ready="/web/") as url:
        yield url


def _codes(url: str) -> list[int]:
    return [
        httpx.get(
            url + "/availability/free",
            params={"lat": ORIGIN[0], "lon": ORIGIN[1]},
            headers={"X-Forwarded-For": f"198.51.100.{i}:{1000 + i}"},
        ).status_code
        for i in range(4)
    ]


def test_uvicorn_factory_does_not_let_loopback_choose_its_address(tmp_path: Path) -> None:
    with uvicorn_factory(tmp_path) as url:
        codes = _codes(url)
    # burst 2, then nothing for 100 s: four "different" forwarded clients are one client
    assert codes == [200, 200, 429, 429]


@pytest.mark.parametrize("proxy_headers", ["--no-proxy-headers"])
def test_configured_proxy_is_believed_by_the_app(tmp_path: Path, proxy_headers: str) -> None:
    with uvicorn_factory(
        tmp_path, proxy_headers, BAYWATCH_API_TRUSTED_PROXIES='["127.0.0.1"]'
    ) as url:
        codes = _codes(url)
    assert codes == [200, 200, 200, 200]  # each forwarded client has its own bucket
