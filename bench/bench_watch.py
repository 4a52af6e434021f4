"""``baywatch watch`` on busy live cameras: how many one core follows at 2 analysed fps.

    python bench/bench_watch.py [--cameras 4 8 12 16] [--whole 4] [--seconds 60] [--out bench/results]

Each camera is the busy kerb of ``bench/bench_speed.py`` (720p25 H.264, 3 Mbit/s, real
MEVA pixels), served in real time as a live HTTP MPEG-TS stream by its own ``ffmpeg -re
-c copy`` process (no re-encoding: the server costs next to nothing), so the watch
service does what it does with IP cameras: one ``LiveSource`` per camera decoding every
frame of 25 fps, the analysis at 2 fps, one shared OpenVINO model, the zone regions of
several cameras' frames detected together (``vision.batching``; ``--whole N`` adds rows
of N cameras each detecting its whole frames, one per inference, as before batching,
side by side in the same run). The cameras start 1 / (2 fps x cameras) s apart, so
their analysed frames come at phases spread over the analysis period, as independent
cameras' do (started together, they would all pick a frame at the same instants).
``WatchService`` runs
in this process for ``--seconds``; for each number of cameras the benchmark reports the
CPU the service used (all its threads: ``getrusage``) per second of wall time, i.e. the
cores it keeps busy, the analysed frames against the 2 per second and camera the footage
offers, and the latency from a frame's arrival (the wall-clock time it is stamped with)
to the end of its analysis, when the events it produced are committed to the store
(``analyse`` commits before it hands the frame to the camera's observer). Cameras per
core = cameras / cores busy, stated only where every camera kept up (>= 95 % of its
frames analysed); CPU ms per camera-second is the same figure the other way round, and
holds better than wall-time figures on a shared machine.

Agreement: each camera's stored sessions against ``baywatch analyse --exact`` (every
frame decoded, the detector on every analysed frame, whole frames) of the same file, as
the share of (zone, second) pairs whose occupancy matches (``bench_speed``'s measure),
over the footage seconds the camera analysed (less the last ``min_stationary_s``, where a stay
that began is not confirmed yet when the service stops). A live frame is placed in the footage by
its stream timestamp (``Frame.stream_ms``: the server sends the file from its first
frame), so a stored time (an analysed frame's arrival) maps to footage time through the
camera's analysed frames (linear between them), whatever delay the shared machine put
on their decoding. Writes bench/results/watch.md and watch.json with the
machine, the load (os.getloadavg before and after) and the command.
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
import threading
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


def _thread_cpu() -> dict[int, float] | None:
    """CPU seconds of each thread of this process (Linux /proc), by native thread id."""
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        return None
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for task in tasks.iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return out


def _thread_group(name: str | None) -> str:
    """Which part of the service a thread is: LiveSource readers decode (demux, decode every
    frame, convert the analysed ones); camera threads analyse (motion gate, region cut,
    tracking, state machine, storing); threads Python did not start are OpenVINO's
    inference threads (watch decodes with one FFmpeg thread, in the reader), and the
    batcher's threads compose canvases and post-process their boxes: detection."""
    if name is None or name.startswith("batch-"):
        return "detection"
    if name.startswith("read-"):
        return "decoding"
    if name.startswith("camera-"):
        return "analysis"
    return "other"


def exact_occupancy(video: Path, site_path: Path) -> dict[str, np.ndarray]:
    """Per zone (the site's bay and lane-zone ids), whether it is occupied at the middle of
    each second of the footage, by ``analyse --exact``."""
    from bench_speed import _occupancy

    from occupancy.config.site import load_site
    from occupancy.evaluation.evaluate import spans_from_store
    from occupancy.runtime.analysis import analyse
    from occupancy.storage.store import Store
    from vision.detector import Detector

    site = load_site(site_path)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/exact.db")
        det = Detector.for_site(site, os.environ["BAYWATCH_MODEL"])
        res = analyse(str(video), site, store, detector=det, analysis_fps=FPS, exact=True)
        spans, _ = spans_from_store(store, site, res.run_id)
        store.close()
    found = [[s.zone, s.kind, s.start_s, s.end_s, s.open_end] for s in spans]
    zones = [b.id for b in site.bays] + [z.id for z in site.lane_zones]
    return {z: _occupancy(found, z, res.footage_s) for z in zones}


def agreement(
    sessions: Any,
    sites: dict[str, Any],
    stamps: dict[str, list[tuple[int, int]]],
    reference: dict[str, np.ndarray],
) -> float | None:
    """Share of (camera, zone, second) whose occupancy in the watch's stored ``sessions``
    matches ``reference`` (``exact_occupancy``), over the footage seconds each camera
    analysed; ``stamps``: per camera, (arrival ms, stream ms) of its analysed frames."""
    from occupancy.evaluation.evaluate import Span, occupied_seconds

    length = len(next(iter(reference.values())))
    scores = []
    for cam, site in sites.items():
        got = sorted((t, st) for t, st in stamps.get(cam, []) if st is not None)
        if not got:
            continue
        wall_ms = np.array([t for t, _ in got], float)
        stream_ms = np.array([st for _, st in got], float)
        first_s, last_s = stream_ms.min() / 1000, stream_ms.max() / 1000
        local = {site.curb_zone_id(b): b.id for b in site.bays}
        local.update({site.lane_zone_id(z): z.id for z in site.lane_zones})
        spans = []
        for row in sessions[sessions.data_source_device_id == cam].itertuples():
            key = row.lane_zone_id if isinstance(row.lane_zone_id, str) else row.curb_zone_id
            if key in local:
                # Session times are analysed frames' arrival times: each maps to its frame's
                # place in the stream, whatever delay the shared machine put on its decoding.
                a, b = np.interp([int(row.start_ms), int(row.end_ms)], wall_ms, stream_ms) / 1000
                spans.append(Span(local[key], str(row.kind), float(a), float(b)))
        # The seconds this camera analysed, within one pass of the looped file, but for the
        # last min_stationary_s: a stay begun there is not confirmed yet when the service
        # stops (the exact run, which reads on, knows it and dates it back to its start).
        settled = last_s - site.occupancy.min_stationary_s
        secs = np.arange(int(np.ceil(first_s)), min(int(settled), length))
        if len(secs) == 0:
            continue
        for zone, ref in reference.items():
            occ = occupied_seconds(spans, zone, float(secs[-1] + 1))
            scores.append(occ[secs] == ref[secs])
    return float(np.mean(np.concatenate(scores))) if scores else None


def run(
    n: int,
    seconds: float,
    video: Path,
    site_path: Path,
    reference: dict[str, np.ndarray],
    *,
    batch: bool = True,
) -> dict[str, Any]:
    from occupancy.config.site import load_site
    from occupancy.runtime import watch as watch_mod
    from occupancy.runtime.watch import WatchService
    from occupancy.storage.store import Store
    from vision.types import Frame

    lags: list[float] = []
    frames: dict[str, int] = {}
    stamps: dict[str, list[tuple[int, int]]] = {}
    original = watch_mod.CameraRunner.on_frame

    def on_frame(self: watch_mod.CameraRunner, frame: Frame) -> None:
        # Called once the frame's analysis is done and its events are committed.
        lags.append(time.time() - frame.t_ms / 1000)
        frames[self.camera_id] = frames.get(self.camera_id, 0) + 1
        if frame.stream_ms is not None:
            stamps.setdefault(self.camera_id, []).append((frame.t_ms, frame.stream_ms))
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
            site_docs = {f"busy-{i}": load_site(sites / f"busy-{i}.yaml") for i in range(n)}
            store = Store(f"sqlite:///{tmp}/watch.db")
            service = WatchService(
                sites,
                store,
                model=os.environ["BAYWATCH_MODEL"],
                analysis_fps=FPS,
                metrics_port=None,
                batch=batch,
            )
            batcher = service.model.batcher
            # Real cameras are not in step: each one's analysed frames come at its own phase
            # of the analysis period. Started together, these would all pick their frames at
            # the same instants; started 1 / (fps x n) s apart, their phases spread evenly.
            for runner in service.runners:
                runner.start()
                time.sleep(1 / (FPS * n))
            # Cameras connect and the model warms up; measure after.
            time.sleep(5.0)
            lags.clear()
            frames.clear()
            b0 = (0, 0) if batcher is None else (batcher.inferences, batcher.tiles)
            names = {t.native_id: t.name for t in threading.enumerate()}
            c0 = _thread_cpu()
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.time()
            time.sleep(seconds)
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            c1 = _thread_cpu()
            wall = time.time() - t0
            names.update({t.native_id: t.name for t in threading.enumerate()})
            b1 = (0, 0) if batcher is None else (batcher.inferences, batcher.tiles)
            got = dict(frames)
            window_lags = list(lags)
            service.stop()
            events = len(store.events_frame())
            agree = agreement(store.sessions_frame(), site_docs, stamps, reference)
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
    inferences, tiles = b1[0] - b0[0], b1[1] - b0[1]
    split: dict[str, float] | None = None
    if c0 is not None and c1 is not None:
        split = {"decoding": 0.0, "detection": 0.0, "analysis": 0.0, "other": 0.0}
        for tid, c in c1.items():
            split[_thread_group(names.get(tid))] += c - c0.get(tid, 0.0)
        split = {k: round(1000 * v / (wall * n), 1) for k, v in split.items()}
    return {
        "cameras": n,
        "batched": batch,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "cores_busy": round(cores, 2),
        "cpu_ms_per_camera_s": round(1000 * cpu / (wall * n), 1),
        "frames_per_inference": round(tiles / inferences, 2) if inferences else None,
        "cpu_ms_per_camera_s_by_part": split,
        "agreement_with_exact": None if agree is None else round(agree, 4),
        "frames_analysed_share_min": round(min(per_camera), 3),
        "frames_analysed_share_mean": round(float(np.mean(per_camera)), 3),
        "kept_up": kept_up,
        "cameras_per_core": round(n / cores, 1) if kept_up and cores > 0 else None,
        "latency_p50_s": round(float(np.nanpercentile(lag, 50)), 3),
        "latency_p95_s": round(float(np.nanpercentile(lag, 95)), 3),
        "latency_max_s": round(float(np.nanmax(lag)), 3),
        "events_stored": events,
    }


def _parts(split: dict[str, float] | None) -> str:
    if not split:
        return "—"
    return f"{split['decoding']} / {split['detection']} / {split['analysis']}"


def render(report: dict[str, Any]) -> str:
    md = [
        f"`{report['command']}` on {report['machine']}, model {report['model']}, "
        f"load average {report['load_before'][0]} before / {report['load_after'][0]} after "
        f"({report['finished_utc']}); each camera a live 720p25 HTTP stream of the busy kerb, "
        f"analysed at {FPS:g} fps, {report['seconds']} s measured per row.",
        "",
        "| cameras | detection | cores busy (CPU s per s) | CPU ms per camera-second "
        "| of which decoding / detection / analysis "
        "| frames per inference | frames analysed, worst camera | kept up | cameras per core "
        "| latency frame → stored p50 / p95 / max s | agreement with `--exact` |",
        "|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in report["rows"]:
        per_core = "—" if r["cameras_per_core"] is None else r["cameras_per_core"]
        fpi = r.get("frames_per_inference")
        agree = r.get("agreement_with_exact")
        md.append(
            f"| {r['cameras']} | {'batched across cameras' if r.get('batched') else 'whole frames'} "
            f"| {r['cores_busy']} | {r.get('cpu_ms_per_camera_s', '—')} "
            f"| {_parts(r.get('cpu_ms_per_camera_s_by_part'))} "
            f"| {'1' if fpi is None else fpi} "
            f"| {100 * r['frames_analysed_share_min']:.0f} % "
            f"| {'yes' if r['kept_up'] else 'no'} | {per_core} "
            f"| {r['latency_p50_s']} / {r['latency_p95_s']} / {r['latency_max_s']} "
            f"| {'—' if agree is None else f'{100 * agree:.1f} %'} |"
        )
    md += [
        "",
        "Cores busy: CPU seconds of the whole service (decoding every frame of every stream, "
        "detection, tracking, storing) per wall second. Kept up: every camera had at least "
        f"{100 * KEEP_UP:.0f} % of its {FPS:g} frames a second analysed (a live source drops "
        "the oldest frames when the analysis lags). Latency: from a frame's arrival to the "
        "commit of what it produced. CPU ms per camera-second: CPU time of the service per "
        "camera and second of wall time (it holds better than wall-time figures on a shared "
        "machine), split by thread (Linux /proc): decoding = the streams' reader threads "
        "(demux, decode every frame, convert the analysed ones), detection = OpenVINO's "
        "threads and the batcher's (canvases, boxes), analysis = the cameras' threads "
        "(motion gate, tracking, state machine, storing). Frames per "
        "inference: camera frames whose zone regions shared one detector inference "
        "(`vision.batching`). Agreement: share of (zone, second) pairs whose occupancy in "
        "the stored sessions matches `baywatch analyse --exact` of the same file, over the "
        "footage seconds each camera analysed (less the last `min_stationary_s`: a stay begun "
        "there is not confirmed when the service stops).",
    ]
    return "\n".join(md)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--cameras", type=int, nargs="+", default=[4, 8, 12, 16])
    ap.add_argument(
        "--whole",
        type=int,
        nargs="*",
        default=[4],
        help="rows of this many cameras detecting whole frames (no batching), for comparison",
    )
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
    print("analyse --exact of the same file (the agreement's reference) ...", file=sys.stderr)
    reference = exact_occupancy(video, site)
    load_before = os.getloadavg()
    rows = []
    plan = [(n, False) for n in args.whole] + [(n, True) for n in args.cameras]
    for n, batch in plan:
        how = "batched" if batch else "whole frames"
        print(f"{n} cameras ({how}) for {args.seconds:g} s ...", file=sys.stderr)
        rows.append(run(n, args.seconds, video, site, reference, batch=batch))
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
