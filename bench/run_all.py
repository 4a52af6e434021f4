"""The whole benchmark suite in one command: every bench script, one Markdown and JSON report.

    python bench/run_all.py [--only speed,stats,api,optimiser,analyse,scale] [--out bench/results]

Each script runs in its own process with a time limit and prints its own
figures; this collects them into bench/results/summary.md and summary.json, with
the machine they ran on. Scripts that do not exist (yet) are listed as missing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SUITE = {
    "speed": (
        "bench_speed.py",
        "Analysis speed and agreement: baywatch vs ParkingManagement",
        2400,
    ),
    "analyse": ("bench_analyse.py", "Analysis speed on the sample scenes", 600),
    "stats": ("bench_stats.py", "Hourly aggregates of a 9,000-bay city-year", 1200),
    "api": ("bench_api.py", "Availability API latency under load", 900),
    "optimiser": ("bench_optimiser.py", "Placement model at arrondissement and city scale", 1200),
    "scale": ("bench_scale.py", "Live cameras per core, batch throughput on Ray", 1200),
}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--only", default=",".join(SUITE), help="comma-separated subset of: " + ", ".join(SUITE)
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    md = ["# baywatch benchmarks", "", f"Machine: {machine}.", ""]
    report: dict[str, object] = {"machine": machine, "results": {}}
    for key in [k.strip() for k in args.only.split(",") if k.strip()]:
        if key not in SUITE:
            sys.exit(f"error: --only: unknown benchmark {key!r} (known: {', '.join(SUITE)})")
        script, title, limit = SUITE[key]
        path = ROOT / "bench" / script
        md += [f"## {title}", "", f"`python bench/{script}`", ""]
        if not path.exists():
            md += ["(not available in this checkout)", ""]
            report["results"][key] = {"status": "missing"}  # type: ignore[index]
            continue
        print(f"running {script} (limit {limit} s) ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            p = subprocess.run(
                [sys.executable, str(path)], capture_output=True, text=True, timeout=limit, cwd=ROOT
            )
            status, out = (
                ("ok" if p.returncode == 0 else f"exit {p.returncode}"),
                p.stdout + (p.stderr[-2000:] if p.returncode else ""),
            )
        except subprocess.TimeoutExpired as exc:
            status, out = (
                f"timed out after {limit} s",
                (exc.stdout or b"").decode()
                if isinstance(exc.stdout, bytes)
                else (exc.stdout or ""),
            )
        wall = time.perf_counter() - t0
        md += [out.strip(), "", f"_{status}, {wall:.0f} s_", ""]
        report["results"][key] = {"status": status, "wall_s": round(wall, 1), "output": out}  # type: ignore[index]
    (args.out / "summary.md").write_text("\n".join(md) + "\n")
    (args.out / "summary.json").write_text(json.dumps(report, indent=2))
    print("\n".join(md))


if __name__ == "__main__":
    main()
