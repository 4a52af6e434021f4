"""What a shared (database) rate limit costs per request, beside the in-process one (issue 14).

Side by side in one run, on a fresh SQLite file and, where ``BAYWATCH_TEST_PG_URL`` is
set, on PostgreSQL: the median and p99 time of

1. ``RateLimiter.check`` (this process's bucket only);
2. ``RateLimiter.acquire`` with the database (the upsert in a worker thread), for a
   client within its limit (every call writes);
3. ``acquire`` for a flooding client over its limit (refused here, no database).

    python bench/bench_rate_limit.py   # writes bench/results/rate_limit.{json,md}
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
from sqlalchemy import create_engine, text

from api.security import RateLimiter
from occupancy.storage.rate_limits import bucket_engine
from occupancy.storage.store import Store

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
N = 2000


def _stats(us: list[float]) -> dict[str, float]:
    qs = statistics.quantiles(us, n=100)
    return {"p50_us": round(qs[49], 1), "p99_us": round(qs[98], 1)}


async def _time(call: Callable[[int], Awaitable[float] | float]) -> list[float]:
    out = []
    for i in range(N):
        t0 = time.perf_counter()
        r = call(i)
        if not isinstance(r, float):
            await r
        out.append((time.perf_counter() - t0) * 1e6)
    return out


def measure(url: str) -> dict[str, dict[str, float]]:
    store = Store(url)
    local = RateLimiter(1e9, 10**9)
    buckets = bucket_engine(store.engine)
    shared = RateLimiter(1e9, 10**9, engine=buckets)
    flood = RateLimiter(0.001, 1, engine=buckets)

    async def run() -> dict[str, dict[str, float]]:
        return {
            "local check": _stats(await _time(lambda i: local.check(f"c{i % 50}"))),
            "shared acquire, within limit": _stats(
                await _time(lambda i: shared.acquire(f"c{i % 50}"))
            ),
            "shared acquire, flooding client": _stats(await _time(lambda i: flood.acquire("x"))),
        }

    out = anyio.run(run)
    buckets.dispose()
    store.close()
    return out


def main() -> None:
    runs = {"sqlite": measure(f"sqlite:///{Path(tempfile.mkdtemp()) / 'r.db'}")}
    pg = os.environ.get("BAYWATCH_TEST_PG_URL")
    if pg:
        name = f"bench_rl_{os.getpid()}"
        admin = create_engine(pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            runs["postgresql"] = measure(pg.rsplit("/", 1)[0] + "/" + name)
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    result = {
        "machine": f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f} at the end",
        "command": "python bench/bench_rate_limit.py",
        "calls": N,
        "runs": runs,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "rate_limit.json").write_text(json.dumps(result, indent=2) + "\n")
    md = [
        "# Cost of the shared rate limit per request (bench/bench_rate_limit.py)",
        "",
        f"Machine: {result['machine']}. Command: `{result['command']}`, {N} calls each.",
        "",
        "| database | call | p50 µs | p99 µs |",
        "|---|---|---|---|",
    ]
    for db, rows in runs.items():
        for call, s in rows.items():
            md.append(f"| {db} | {call} | {s['p50_us']} | {s['p99_us']} |")
    (RESULTS / "rate_limit.md").write_text("\n".join(md) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
