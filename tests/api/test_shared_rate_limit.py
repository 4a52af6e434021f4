"""Rate limits hold across separate `baywatch serve` processes on one database (issue 14).

Two real `baywatch serve` processes share a database (SQLite file, then PostgreSQL
where configured); one client alternates between them. Before the limits were kept in
the database each process let the client have its own burst, so it got twice the limit.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import anyio
import httpx
import pytest
from sqlalchemy import create_engine

from api.security import RateLimiter
from occupancy.storage.rate_limits import bucket_engine, take_token
from occupancy.storage.store import Store
from tests.api.conftest import ORIGIN, zone_rows
from tests.api.server import free_port, server_process

ROOT = Path(__file__).resolve().parents[2]
BURST = 6


@contextmanager
def serve(db: str, **env: str) -> Iterator[str]:
    port = free_port()
    argv = [sys.executable, "-m", "baywatch", "serve", "--port", str(port), "--db", db]
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "BAYWATCH_API_JOB_WORKERS": "0", **env}
    with server_process(argv, port, environ, ROOT) as url:  # /health is not rate limited
        yield url


def test_two_serve_processes_share_one_rate_limit(store_url: str) -> None:
    Store(store_url).upsert_zones(zone_rows())
    limits = {"BAYWATCH_API_RATE_LIMIT_PER_S": "0.01", "BAYWATCH_API_RATE_LIMIT_BURST": str(BURST)}
    with ExitStack() as stack:
        a = stack.enter_context(serve(store_url, **limits))
        b = stack.enter_context(serve(store_url, **limits))
        codes = []
        for i in range(2 * BURST + 2):
            url = a if i % 2 == 0 else b
            # the availability fast path and an ordinary FastAPI route share the bucket
            r = (
                httpx.get(url + "/availability/free", params={"lat": ORIGIN[0], "lon": ORIGIN[1]})
                if i % 4 < 2
                else httpx.get(url + "/curbs/zones")
            )
            codes.append(r.status_code)
    # 0.01 token/s refills nothing during the test: the burst is for both processes
    assert codes == [200] * BURST + [429] * (BURST + 2)


def test_a_flood_is_refused_without_the_database(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'r.db'}")
    Store(str(engine.url)).close()  # migrate
    writes = 0
    limiter = RateLimiter(0.001, 3, engine=bucket_engine(engine))
    real = limiter._take_shared

    def counted(client: str) -> float:
        nonlocal writes
        writes += 1
        return real(client)

    limiter._take_shared = counted  # type: ignore[method-assign]

    async def flood() -> list[float]:
        return [await limiter.acquire("198.51.100.1") for _ in range(100)]

    waits = anyio.run(flood)
    assert [w == 0 for w in waits] == [True] * 3 + [False] * 97
    assert writes == 3  # the 97 refusals never reached the database


def test_a_shared_refusal_is_refunded_here(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'r.db'}")
    Store(str(engine.url)).close()
    now = time.time()
    engine = bucket_engine(engine)
    for _ in range(2):  # another process spent the shared burst
        assert take_token(engine, "public:c", 0.001, 2, now) == 0
    assert take_token(engine, "public:c", 0.001, 2, now) == pytest.approx(1000, rel=0.01)
    limiter = RateLimiter(0.001, 2, engine=engine)

    assert anyio.run(limiter.acquire, "c") > 0
    assert limiter._buckets["c"][0] == pytest.approx(2.0, abs=0.01)  # the local token came back
