"""Benchmark: a year of a 9,000-bay city (~16 million simulated sessions), every hourly aggregate.

    python bench/bench_stats.py [--bays 9000] [--days 365] [--stops 5.0]

Phase 1 simulates the sessions (Barcelona's observed rate: about 45,000 stops a
day for 9,000 bays) and saves the columns the statistics read to Parquet.
Phase 2 runs in a fresh process so that its peak RSS is the aggregation's own:
it loads the sessions, maps them to bays, and computes the CDS hourly
aggregates (and the beyond-CDS columns) for all 9,000 x 8,760 bay-hours, in
bounded time chunks. Figures are printed; quote them with the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from occupancy.evaluation.simulate import simulate_sessions
from occupancy.statistics import hourly as stats

COLUMNS = ["curb_zone_id", "kind", "start_ms", "end_ms", "vehicle_type", "max_stay_min"]


def city(n_bays: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "curb_zone_id": [f"bay{i:05d}" for i in range(n_bays)],
            "lon": 2.25 + rng.random(n_bays) * 0.17,
            "lat": 48.82 + rng.random(n_bays) * 0.08,
            "num_spaces": rng.choice([1, 1, 1, 1, 1, 1, 1, 1, 2, 3], size=n_bays),
            "max_stay_min": 30.0,
            "vehicle_types": [["van", "truck", "freight", "cargo_bicycle"]] * n_bays,
        }
    )


def rss_peak_mb() -> float:
    """Peak resident memory of this process (VmHWM: ru_maxrss survives exec on Linux)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def aggregate_phase(workdir: Path) -> dict[str, float]:
    t = time.perf_counter()
    sessions = pd.read_parquet(workdir / "sessions.parquet")
    zones = pd.read_parquet(workdir / "zones.parquet")
    meta = json.loads((workdir / "meta.json").read_text())
    t_load = time.perf_counter() - t
    rss_loaded = rss_peak_mb()

    # Reference in the same process and run: one plain pandas group-by over the same rows
    # (sessions and minutes parked per bay and starting hour). It touches every row once,
    # as any aggregation must; the hourly statistics also split each session across the
    # hours it spans, so they cannot cost less than this.
    t, c = time.perf_counter(), time.process_time()
    hour = sessions["start_ms"] // 3_600_000
    minutes = (sessions["end_ms"] - sessions["start_ms"]) / 60_000.0
    plain = minutes.groupby([sessions["curb_zone_id"], hour]).agg(["count", "sum"])
    t_plain = time.perf_counter() - t
    c_plain = time.process_time() - c
    plain_groups = len(plain)
    del plain, hour, minutes

    t, c = time.perf_counter(), time.process_time()
    prepared = stats.prepare(sessions, zones)
    t_prep = time.perf_counter() - t
    c_prep = time.process_time() - c
    del sessions

    t, c = time.perf_counter(), time.process_time()
    cells = 0
    occupied = 0.0
    sessions_counted = 0.0
    for a in stats.iter_hourly_arrays(prepared, start_ms=meta["start_ms"], end_ms=meta["end_ms"]):
        cells += a.offline.size
        occupied += float(a.column("occupied_min").sum())
        sessions_counted += float(a.column("total_sessions").sum())
    t_arrays = time.perf_counter() - t
    c_arrays = time.process_time() - c
    rss_arrays = rss_peak_mb()

    t, c = time.perf_counter(), time.process_time()
    rows = 0
    for block in stats.iter_hourly_aggregates(
        prepared, start_ms=meta["start_ms"], end_ms=meta["end_ms"]
    ):
        rows += len(block)
    t_frames = time.perf_counter() - t
    c_frames = time.process_time() - c
    assert rows == cells
    return {
        "plain_groupby_s": t_plain,
        "plain_groupby_cpu_s": c_plain,
        "plain_groups": plain_groups,
        "load_s": t_load,
        "prepare_s": t_prep,
        "arrays_s": t_arrays,
        "frames_s": t_frames,
        "prepare_cpu_s": c_prep,
        "arrays_cpu_s": c_arrays,
        "frames_cpu_s": c_frames,
        "bay_hours": rows,
        "sessions_counted": sessions_counted,
        "occupied_hours": occupied / 60.0,
        "rss_after_load_mb": rss_loaded,
        "rss_after_arrays_mb": rss_arrays,
        "peak_rss_mb": rss_peak_mb(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bays", type=int, default=9000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--stops", type=float, default=5.0, help="stops per bay-day (mean)")
    ap.add_argument("--phase", choices=["all", "aggregate"], default="all")
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = ap.parse_args()

    if args.phase == "aggregate":
        print(json.dumps(aggregate_phase(args.workdir)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        zones = city(args.bays)
        t = time.perf_counter()
        sessions = simulate_sessions(
            zones, start=datetime(2025, 1, 1), days=args.days, seed=1, stops_per_bay_day=args.stops
        )
        t_sim = time.perf_counter() - t
        n = len(sessions)
        n_park = int((sessions["kind"] == "park").sum())
        start_ms = int(pd.Timestamp("2025-01-01", tz="Europe/Paris").value // 1_000_000)
        end_ms = start_ms + args.days * 86_400_000 + 3_600_000  # spans the DST hour
        # In the order Store.sessions_frame returns them: by start time.
        sessions[COLUMNS].sort_values("start_ms", kind="stable").to_parquet(
            work / "sessions.parquet"
        )
        zones.to_parquet(work / "zones.parquet")
        (work / "meta.json").write_text(json.dumps({"start_ms": start_ms, "end_ms": end_ms}))
        del sessions
        out = subprocess.run(
            [sys.executable, __file__, "--phase", "aggregate", "--workdir", str(work)],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])

    print(f"machine: {os.cpu_count()} CPUs; python {sys.version.split()[0]}")
    print(f"bays {args.bays:,}, days {args.days}, stops/bay-day {args.stops}")
    print(
        f"simulated sessions: {n:,} ({n_park:,} parked, {n - n_park:,} double parked)"
        f" in {t_sim:.1f} s ({n / args.days:,.0f} stops a day)"
    )
    print(
        f"aggregation process: load {r['load_s']:.1f} s, map sessions to bays"
        f" {r['prepare_s']:.1f} s"
    )
    print(
        f"  every hourly aggregate as arrays: {r['arrays_s']:.1f} s"
        f" (prepare + aggregate {r['prepare_s'] + r['arrays_s']:.1f} s)"
        f" for {r['bay_hours']:,} bay-hours; peak RSS so far {r['rss_after_arrays_mb']:,.0f} MB"
    )
    print(
        f"  the same as pandas DataFrames (one row per bay-hour): {r['frames_s']:.1f} s;"
        f" peak RSS {r['peak_rss_mb']:,.0f} MB"
    )
    print(f"  (peak RSS after loading the sessions: {r['rss_after_load_mb']:,.0f} MB)")
    print(
        f"  CPU time (wall time on an idle machine): map {r['prepare_cpu_s']:.1f} s,"
        f" arrays {r['arrays_cpu_s']:.1f} s, DataFrames {r['frames_cpu_s']:.1f} s;"
        f" load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"  check: {r['sessions_counted']:,.0f} parked sessions counted,"
        f" {r['occupied_hours']:,.0f} occupied bay-hours"
    )
    ours = r["prepare_s"] + r["arrays_s"]
    print(
        f"  side by side: plain pandas group-by of the same rows (bay x starting hour)"
        f" {r['plain_groupby_s']:.1f} s ({r['plain_groupby_cpu_s']:.1f} s CPU);"
        f" every hourly aggregate {ours:.1f} s = {ours / max(r['plain_groupby_s'], 1e-9):.1f}x it"
    )
    write_results(args, n, r)


def write_results(args: argparse.Namespace, n: int, r: dict[str, float]) -> None:
    import platform
    import shlex

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    command = "python " + shlex.join(["bench/bench_stats.py", *sys.argv[1:]])
    ours = r["prepare_s"] + r["arrays_s"]
    ours_cpu = r["prepare_cpu_s"] + r["arrays_cpu_s"]
    md = [
        f"`{command}` on {platform.machine()}, {os.cpu_count()} cores: {n:,} sessions, "
        f"{r['bay_hours']:,} bay-hours; load average {os.getloadavg()[0]:.1f} after "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}).",
        "",
        "| step | wall s | CPU s | × plain group-by (wall) |",
        "|---|---:|---:|---:|",
        f"| plain pandas group-by of the same rows (bay × starting hour) "
        f"| {r['plain_groupby_s']:.1f} | {r['plain_groupby_cpu_s']:.1f} | 1.0 |",
        f"| baywatch: map sessions to bays + every hourly aggregate (arrays) "
        f"| {ours:.1f} | {ours_cpu:.1f} | {ours / max(r['plain_groupby_s'], 1e-9):.1f} |",
        f"| the same as pandas DataFrames | {r['frames_s']:.1f} | {r['frames_cpu_s']:.1f} "
        f"| {r['frames_s'] / max(r['plain_groupby_s'], 1e-9):.1f} |",
        "",
        f"Peak RSS {r['peak_rss_mb']:,.0f} MB (after loading the sessions "
        f"{r['rss_after_load_mb']:,.0f} MB). Target: a year of Paris in ≤ 10 s wall and ≤ 4 GB.",
    ]
    (out / "stats.md").write_text("\n".join(md) + "\n")
    (out / "stats.json").write_text(json.dumps({"command": command, "sessions": n, **r}, indent=2))


if __name__ == "__main__":
    main()
