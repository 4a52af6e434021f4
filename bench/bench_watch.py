"""``baywatch watch`` on busy live cameras: how many one core follows at 2 analysed fps.

    python bench/bench_watch.py [--cameras 2 4 6] [--seconds 60] [--out bench/results]

Each camera is the busy kerb of ``bench/bench_speed.py`` (720p25 H.264, 3 Mbit/s, real
MEVA pixels), served in real time as a live HTTP MPEG-TS stream by its own ``ffmpeg -re
-c copy`` process (no re-encoding: the server costs next to nothing), so the watch
service does what it does with IP cameras: one ``LiveSource`` per camera decoding every
frame of 25 fps, the analysis at 2 fps, one shared OpenVINO model. ``WatchService`` runs
in this process for ``--seconds``; for each number of cameras the benchmark reports the
CPU the service used (all its threads: ``getrusage``) per second of wall time, i.e. the
cores it keeps busy, the analysed frames against the 2 per second and camera the footage
offers, and the latency from a frame's arrival (the wall-clock time it is stamped with)
to the end of its analysis, when the events it produced are committed to the store
(``analyse`` commits before it hands the frame to the camera's observer). Cameras per
core = cameras / cores busy, stated only where every camera kept up (>= 95 % of its
frames analysed). Writes bench/results/watch.md and watch.json with the machine, the
load (os.getloadavg before and after) and the command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("YOLO_OFFLINE", "True")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")
os.environ.setdefault(
    "BAYWATCH_MODEL", str(ROOT.parent / "shared/models/yolo11n_int8_openvino_model")
)

FPS = 2.0
KEEP_UP = 0.95  # share of the offered frames a camera must analyse to count as followed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(video: Path, port: int) -> subprocess.Popen[bytes]:
    """``video`` looped in real time as an HTTP MPEG-TS stream on ``port`` (one client)."""
    cmd = [
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-re",
        "-stream_loop",
        "-1",
        "-i",
        str(video),
        "-c",
        "copy",
        "-f",
        "mpegts",
        "-listen",
        "1",
        f"http://127.0.0.1:{port}/cam.ts",
    ]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run(n: int, seconds: float, video: Path, site_path: Path) -> dict[str, Any]:
    from occupancy.runtime import watch as watch_mod
    from occupancy.runtime.watch import WatchService
    from occupancy.storage.store import Store
    from vision.types import Frame

    lags: list[float] = []
    frames: dict[str, int] = {}
    original = watch_mod.CameraRunner.on_frame

    def on_frame(self: watch_mod.CameraRunner, frame: Frame) -> None:
        # Called once the frame's analysis is done and its events are committed.
        lags.append(time.time() - frame.t_ms / 1000)
        frames[self.camera_id] = frames.get(self.camera_id, 0) + 1
        original(self, frame)

    watch_mod.CameraRunner.on_frame = on_frame  # type: ignore[method-assign]
    servers = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sites = Path(tmp) / "sites"
            sites.mkdir()
            doc = yaml.safe_load(site_path.read_text())
            for i in range(n):
                port = _free_port()
                servers.append(_serve(video, port))
                doc = {**doc, "camera_id": f"busy-{i}"}
                doc["source"] = {**doc["source"], "uri": f"http://127.0.0.1:{port}/cam.ts"}
                (sites / f"busy-{i}.yaml").write_text(yaml.safe_dump(doc))
            time.sleep(1.0)  # the servers listen
            store = Store(f"sqlite:///{tmp}/watch.db")
            service = WatchService(
                sites,
                store,
                model=os.environ["BAYWATCH_MODEL"],
                analysis_fps=FPS,
                metrics_port=None,
            )
            service.start()
            # Cameras connect and the model warms up; measure after.
            time.sleep(5.0)
            lags.clear()
            frames.clear()
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.time()
            time.sleep(seconds)
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            wall = time.time() - t0
            got = dict(frames)
            window_lags = list(lags)
            service.stop()
            events = len(store.events_frame())
            store.close()
    finally:
        watch_mod.CameraRunner.on_frame = original  # type: ignore[method-assign]
        for p in servers:
            p.terminate()
        for p in servers:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    offered = FPS * wall
    per_camera = [got.get(f"busy-{i}", 0) / offered for i in range(n)]
    cores = cpu / wall
    kept_up = min(per_camera) >= KEEP_UP
    lag = np.array(window_lags) if window_lags else np.array([np.nan])
    return {
        "cameras": n,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "cores_busy": round(cores, 2),
        "frames_analysed_share_min": round(min(per_camera), 3),
        "frames_analysed_share_mean": round(float(np.mean(per_camera)), 3),
        "kept_up": kept_up,
        "cameras_per_core": round(n / cores, 1) if kept_up and cores > 0 else None,
        "latency_p50_s": round(float(np.nanpercentile(lag, 50)), 3),
        "latency_p95_s": round(float(np.nanpercentile(lag, 95)), 3),
        "latency_max_s": round(float(np.nanmax(lag)), 3),
        "events_stored": events,
    }


def render(report: dict[str, Any]) -> str:
    md = [
        f"`{report['command']}` on {report['machine']}, model {report['model']}, "
        f"load average {report['load_before'][0]} before / {report['load_after'][0]} after "
        f"({report['finished_utc']}); each camera a live 720p25 HTTP stream of the busy kerb, "
        f"analysed at {FPS:g} fps, {report['seconds']} s measured per row.",
        "",
        "| cameras | cores busy (CPU s per s) | frames analysed, worst camera | kept up "
        "| cameras per core | latency frame → stored p50 / p95 / max s |",
        "|---:|---:|---:|---|---:|---:|",
    ]
    for r in report["rows"]:
        per_core = "—" if r["cameras_per_core"] is None else r["cameras_per_core"]
        md.append(
            f"| {r['cameras']} | {r['cores_busy']} | {100 * r['frames_analysed_share_min']:.0f} % "
            f"| {'yes' if r['kept_up'] else 'no'} | {per_core} "
            f"| {r['latency_p50_s']} / {r['latency_p95_s']} / {r['latency_max_s']} |"
        )
    md += [
        "",
        "Cores busy: CPU seconds of the whole service (decoding every frame of every stream, "
        "detection, tracking, storing) per wall second. Kept up: every camera had at least "
        f"{100 * KEEP_UP:.0f} % of its {FPS:g} frames a second analysed (a live source drops "
        "the oldest frames when the analysis lags). Latency: from a frame's arrival to the "
        "commit of what it produced.",
    ]
    return "\n".join(md)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--cameras", type=int, nargs="+", default=[2, 4, 6])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--scene-seconds", type=int, default=120, help="length of the busy kerb")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--render", action="store_true", help="only rewrite watch.md")
    args = ap.parse_args()
    if args.render:
        md = render(json.loads((args.out / "watch.json").read_text()))
        (args.out / "watch.md").write_text(md + "\n")
        print(md)
        return
    from bench_speed import compose

    args.out.mkdir(parents=True, exist_ok=True)
    video, site, _ = compose("busy", args.scene_seconds, args.out)
    load_before = os.getloadavg()
    rows = []
    for n in args.cameras:
        print(f"{n} cameras for {args.seconds:g} s ...", file=sys.stderr)
        rows.append(run(n, args.seconds, video, site))
        print(json.dumps(rows[-1]), file=sys.stderr)
    report = {
        "command": "python " + shlex.join(["bench/bench_watch.py", *sys.argv[1:]]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}",
        "model": Path(os.environ["BAYWATCH_MODEL"]).name,
        "seconds": args.seconds,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "finished_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "rows": rows,
    }
    md = render(report)
    print(md)
    (args.out / "watch.md").write_text(md + "\n")
    (args.out / "watch.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
