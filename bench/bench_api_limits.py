"""``/health`` latency while 500 event streams are open and 50 slow clients hang (issue 14).

Loopback only, bounded (about a minute). One ``baywatch serve`` process (the real
command, default limits) on a fresh SQLite database. Side by side in one run:

1. **idle**: a prober process asks ``GET /health`` every 20 ms (keep-alive);
2. **loaded**: the same prober while 500 clients hold ``/availability/stream`` open
   (heartbeat every second by default, so every stream is written to every second) and 50
   "slowloris" clients send request headers one byte per second.

Streams come from 125 loopback addresses (127.0.x.y, 4 each: the per-address cap), as
from 125 operators. The script reports p50/p99/max of ``/health`` in both phases, how
many streams were accepted and refused, and when the server cut the slow clients
(``api_header_timeout_s``, 10 s by default). Target: loaded p99 < 50 ms.

    python bench/bench_api_limits.py  # writes bench/results/api_limits_hb1.{md,json}
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
STREAMS = 500
PER_ADDRESS = 4
SLOW = 50
LOADED_S = 25.0
IDLE_S = 8.0
# Seconds between a stream's heartbeats: 1 s writes to every stream every second (a
# harder load than the default 15 s); `--heartbeat 15` measures the default.
HEARTBEAT_S = (
    float(sys.argv[sys.argv.index("--heartbeat") + 1]) if "--heartbeat" in sys.argv else 1.0
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def probe(url: str, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """Ask /health every 20 ms for ``seconds``; put the latencies (ms) on ``out``."""
    lat: list[float] = []
    errors = 0
    with httpx.Client(timeout=10) as c:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t0 = time.perf_counter()
            try:
                ok = c.get(url + "/health").status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                lat.append((time.perf_counter() - t0) * 1000)
            else:
                errors += 1
            time.sleep(0.02)
    out.put((lat, errors))


def run_probe(url: str, seconds: float) -> mp.Process:
    q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    p = mp.Process(target=probe, args=(url, seconds, q), daemon=True)
    p.start()
    p.q = q  # type: ignore[attr-defined]
    return p


def summary(lat: list[float], errors: int) -> dict[str, float]:
    qs = statistics.quantiles(lat, n=100)
    return {
        "requests": len(lat),
        "errors": errors,
        "p50_ms": round(qs[49], 2),
        "p99_ms": round(qs[98], 2),
        "max_ms": round(max(lat), 2),
    }


async def one_stream(port: int, address: str, hold_s: float, status: list[int]) -> None:
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0))
    except OSError:
        status.append(-1)
        return
    w.write(
        f"GET /availability/stream?heartbeat_s={HEARTBEAT_S:g} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    )
    await w.drain()
    try:
        line = await asyncio.wait_for(r.readline(), 10)
        status.append(int(line.split()[1]) if line else -1)
        end = time.monotonic() + hold_s
        while time.monotonic() < end:
            if not await asyncio.wait_for(r.read(4096), 5):
                break
    except (TimeoutError, OSError, ValueError, IndexError):
        pass
    finally:
        w.close()


async def one_slow(port: int, t_start: float, cut_after: list[float]) -> None:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"GET /health HTTP/1.1\r\nHost: bench\r\nX-Slow: ")
    try:
        for _ in range(int(LOADED_S) + 10):
            await asyncio.sleep(1.0)
            w.write(b"a")
            await w.drain()
            if r.at_eof():
                break
            try:
                if await asyncio.wait_for(r.read(1), 0.01) == b"":
                    break
            except TimeoutError:
                continue
        cut_after.append(time.monotonic() - t_start)
    except (ConnectionError, OSError):
        cut_after.append(time.monotonic() - t_start)
    finally:
        w.close()


async def load(port: int) -> dict[str, object]:
    status: list[int] = []
    cut_after: list[float] = []
    t0 = time.monotonic()
    addresses = [f"127.0.{1 + i // 250}.{2 + i % 250}" for i in range(STREAMS // PER_ADDRESS)]
    tasks = [asyncio.create_task(one_slow(port, t0, cut_after)) for _ in range(SLOW)]
    for i in range(STREAMS):
        tasks.append(
            asyncio.create_task(one_stream(port, addresses[i // PER_ADDRESS], LOADED_S - 3, status))
        )
        if i % 50 == 49:
            await asyncio.sleep(0.05)
    # one more stream from a full address: refused by the per-address cap
    extra: list[int] = []
    await asyncio.sleep(2)
    tasks.append(asyncio.create_task(one_stream(port, addresses[0], 1, extra)))
    await asyncio.gather(*tasks)
    return {
        "streams_accepted": status.count(200),
        "streams_refused": len(status) - status.count(200),
        "fifth_stream_same_address": extra[0] if extra else None,
        "slow_clients_cut": len(cut_after),
        "slow_cut_after_s_max": round(max(cut_after), 1) if cut_after else None,
    }


def main() -> None:
    load_start = os.getloadavg()[0]
    db_dir = Path(tempfile.mkdtemp(prefix="bench-limits-"))
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BAYWATCH_API_JOB_WORKERS": "0"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "baywatch",
            "serve",
            "--port",
            str(port),
            "--db",
            f"sqlite:///{db_dir / 'b.db'}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        p = run_probe(url, IDLE_S)
        idle = summary(*p.q.get())  # type: ignore[attr-defined]
        p.join()
        p = run_probe(url, LOADED_S)
        counts = asyncio.run(load(port))
        loaded = summary(*p.q.get())  # type: ignore[attr-defined]
        p.join()
    finally:
        server.terminate()
        server.wait(timeout=20)
    result = {
        "machine": f"{os.cpu_count()} CPUs, load {load_start:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end",
        "command": "python bench/bench_api_limits.py"
        + (f" --heartbeat {HEARTBEAT_S:g}" if HEARTBEAT_S != 1.0 else ""),
        "idle": idle,
        "loaded": loaded,
        "load": {"streams": STREAMS, "heartbeat_s": HEARTBEAT_S, "slow_clients": SLOW, **counts},
        "p99_target_ms": 50,
        "p99_ratio_loaded_to_idle": round(loaded["p99_ms"] / idle["p99_ms"], 2),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"api_limits_hb{HEARTBEAT_S:g}"
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    md = [
        "# /health under 500 open streams and 50 slow clients (bench/bench_api_limits.py)",
        "",
        f"Machine: {result['machine']}. Command: `{result['command']}`.",
        "",
        "| phase | requests | errors | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("idle", "loaded"):
        s = result[name]
        assert isinstance(s, dict)
        md.append(
            f"| {name} | {s['requests']} | {s['errors']} | {s['p50_ms']} | {s['p99_ms']} | {s['max_ms']} |"
        )
    md += ["", f"Load: {json.dumps(result['load'])}", ""]
    (RESULTS / f"{stem}.md").write_text("\n".join(md))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
