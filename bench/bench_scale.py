"""Scale figures (issue 7): live cameras followed in real time, and Ray batch throughput.

    python bench/bench_scale.py [--cameras 1,2,3,4] [--live-seconds 30] [--batch-minutes 2]

Live: N FFmpeg processes serve the Intel aisle clip (looped, real time) over HTTP on
loopback; one ``WatchService`` follows all N at 2 analysed frames per second with one
shared model. A camera is followed in real time when it gets at least 95 % of its
2 frames per second. Batch: a recording composed from the same clip (cars stopping in
the aisle) analysed by the local backend, then on a local Ray with 1 and 2 workers
(10-minute chunks; the file is cut into as many chunks as workers). Prints Markdown.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("YOLO_OFFLINE", "True")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")
os.environ.setdefault(
    "BAYWATCH_MODEL", str(ROOT.parent / "shared/models/yolo11n_int8_openvino_model")
)

import cv2  # noqa: E402

from occupancy.config.site import load_site  # noqa: E402
from occupancy.runtime.analysis import analyse  # noqa: E402
from occupancy.runtime.watch import WatchService  # noqa: E402
from occupancy.storage.store import Store  # noqa: E402
from tests.scale.composed import CLIP, compose, site_yaml  # noqa: E402
from tests.scale.test_watch_live import site_text  # noqa: E402
from vision.detector import Detector  # noqa: E402

FPS = 2.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(port: int) -> subprocess.Popen[bytes]:
    url = f"http://127.0.0.1:{port}/live.ts"
    cmd = [
        "ffmpeg", "-nostdin", "-loglevel", "quiet", "-re", "-stream_loop", "-1", "-i", str(CLIP),
        "-c", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "mpegts", "-listen", "1", url,
    ]  # fmt: skip
    return subprocess.Popen(cmd)


def live(n: int, seconds: float, tmp: Path) -> tuple[float, float, float, float, float]:
    """(lowest fps of a camera, mean fps, worst lag s, model load, CPU cores used), n cameras."""
    sites = tmp / f"sites{n}"
    sites.mkdir()
    servers = []
    for i in range(n):
        port = free_port()
        servers.append(serve(port))
        (sites / f"cam{i}.yaml").write_text(
            site_text(f"cam{i}", f"http://127.0.0.1:{port}/live.ts")
        )
    time.sleep(1.0)
    store = Store(f"sqlite:///{tmp / f'live{n}.db'}")
    service = WatchService(sites, store, model=os.environ["BAYWATCH_MODEL"], metrics_port=None)
    service.start()
    try:
        # Count from the moment every camera delivers, for `seconds`.
        deadline = time.monotonic() + 90
        while any(r.status.frames < 2 for r in service.runners):
            if time.monotonic() > deadline:
                raise RuntimeError("cameras did not start")
            time.sleep(0.2)
        start = [r.status.frames for r in service.runners]
        busy0 = service.model.busy_s
        cpu0 = time.process_time()  # every thread of this process: decoding included
        t0 = time.monotonic()
        worst_lag = 0.0
        while time.monotonic() - t0 < seconds:
            time.sleep(1.0)
            for r in service.runners:
                worst_lag = max(worst_lag, service.metrics.lag.labels(r.camera_id)._value.get())
        dt = time.monotonic() - t0
        rates = [(r.status.frames - s) / dt for r, s in zip(service.runners, start, strict=True)]
        load = (service.model.busy_s - busy0) / dt
        cpu = (time.process_time() - cpu0) / dt
    finally:
        service.stop()
        for p in servers:
            p.kill()
            p.wait()
    return min(rates), sum(rates) / n, worst_lag, load, cpu


def long_recording(tmp: Path, minutes: float) -> Path:
    """The composed stops clip repeated to about ``minutes`` of footage, one file."""
    one = compose(tmp / "stops.mp4")
    cap = cv2.VideoCapture(str(one))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    fps = 12.5
    reps = max(1, round(minutes * 60 * fps / len(frames)))
    out = tmp / "long.mp4"
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    for _ in range(reps):
        for img in frames:
            writer.write(img)
    writer.release()
    return out


def batch(tmp: Path, minutes: float) -> list[tuple[str, float, float, int, float]]:
    """(backend, footage s, wall s, frames processed, sessions) per run."""
    import ray

    from occupancy.runtime import ray_backend

    video = long_recording(tmp, minutes)
    site_path = tmp / "long.yaml"
    site_path.write_text(site_yaml(video, "bench-long"))
    site = load_site(site_path)
    start = round(site.source.start_time.timestamp() * 1000)  # type: ignore[union-attr]
    model = os.environ["BAYWATCH_MODEL"]
    warm = tmp / "stops.mp4"  # the 38-s clip long_recording repeats
    rows = []
    det = Detector.for_site(site, model)
    t0 = time.perf_counter()
    res = analyse(str(video), site, Store("sqlite://"), detector=det, start_ms=start, exact=True)
    rows.append(
        (
            "local --exact (1 process)",
            res.footage_s,
            time.perf_counter() - t0,
            res.frames_analysed,
            len({s.session_id for s in res.sessions}),
        )
    )
    for workers in (1, 2):
        t0 = time.perf_counter()
        ray_backend.init_ray(None, num_cpus=workers)
        # Start the workers (imports, model) on a short file: the timed run is steady state.
        ray_backend.run(
            [ray_backend.FileJob(str(warm), site, start)],
            Store("sqlite://"),
            model=model,
            analysis_fps=FPS,
            chunk_s=20.0,
        )
        t_init = time.perf_counter() - t0
        duration = res.footage_s
        chunk = duration / workers + 1.0
        t0 = time.perf_counter()
        out = ray_backend.run(
            [ray_backend.FileJob(str(video), site, start)],
            Store("sqlite://"),
            model=model,
            analysis_fps=FPS,
            chunk_s=chunk,
        )[0]
        wall = time.perf_counter() - t0
        ray.shutdown()
        rows.append(
            (
                f"Ray, {workers} worker(s) ({out.chunks} chunks; +{t_init:.1f} s to start)",
                out.footage_s,
                wall,
                out.frames_processed,
                len(out.sessions),
            )
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cameras", default="1,2,3,4")
    ap.add_argument("--live-seconds", type=float, default=30.0)
    ap.add_argument("--batch-minutes", type=float, default=2.0)
    ap.add_argument("--skip-live", action="store_true")
    ap.add_argument("--skip-batch", action="store_true")
    args = ap.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("ffmpeg is needed (apt-get install ffmpeg)")
    cores = os.cpu_count() or 1
    print(
        f"machine: {platform.processor() or platform.machine()}, {cores} cores, "
        f"load average before: {os.getloadavg()[0]:.1f}; model {Path(os.environ['BAYWATCH_MODEL']).name}\n"
    )
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if not args.skip_live:
            print(f"Live, {FPS:g} analysed fps per camera, {args.live_seconds:g} s per row:\n")
            print(
                "| cameras | lowest fps of a camera | mean fps | worst lag s | model load "
                "| CPU cores used | cameras per core used |"
            )
            print("|---|---|---|---|---|---|---|")
            best = 0
            for n in (int(x) for x in args.cameras.split(",")):
                lo, mean, lag, load, cpu = live(n, args.live_seconds, tmp)
                # Followed: every camera gets 90 % of its rate (one camera alone gets 1.85 of
                # the 2 fps: frames are picked from a 12.5 fps stream) and the model keeps up.
                if lo >= 0.9 * FPS and load < 0.95:
                    best = n
                print(
                    f"| {n} | {lo:.2f} | {mean:.2f} | {lag:.2f} | {load:.2f} | {cpu:.2f} "
                    f"| {n / max(cpu, 1e-9):.1f} |"
                )
            print(
                f"\ncameras followed in real time: {best} on {cores} cores = {best / cores:.1f} per core\n"
            )
        if not args.skip_batch:
            print(f"Batch, one {args.batch_minutes:g}-minute recording at {FPS:g} analysed fps:\n")
            print("| backend | footage s | wall s | × real time | frames processed | sessions |")
            print("|---|---|---|---|---|---|")
            for name, footage, wall, frames, n in batch(tmp, args.batch_minutes):
                print(
                    f"| {name} | {footage:.0f} | {wall:.1f} | {footage / wall:.1f} | {frames} | {n} |"
                )
        print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
