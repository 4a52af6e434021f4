"""baywatch next to ultralytics' ParkingManagement on the same footage and model.

    python bench/bench_speed.py [--video V --site S] [--seconds 120] [--out bench/results]

Runs, each in its own process (so peak memory is its own):
  * baywatch (default settings: 2 analysed fps, sparse decoding, motion-gated detection);
  * baywatch --exact at the footage's own frame rate: the per-frame reference;
  * ultralytics.solutions.ParkingManagement on every frame, same model, same bays.
Reports footage-seconds per wall-second, analysed fps, peak RSS, and the share of
analysed seconds on which each method's per-bay occupancy agrees with the
per-frame reference. Writes Markdown and JSON. Without --video it composes a
typical fixed bay camera clip (1280x720, 25 fps, H.264, 2 s GOP, mostly static)
from real MEVA frames.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
os.environ.setdefault("YOLO_OFFLINE", "True")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")
os.environ.setdefault("BAYWATCH_MODEL", str(SHARED / "models/yolo11n_int8_openvino_model"))

SITE_720 = """camera_id: bench-720p
source: {{uri: {video}, start_time: "2026-03-05T08:00:00+01:00"}}
frame_size: [1280, 720]
calibration:
  control_points:
    - {{pixel: [0, 633], lonlat: [2.3600000, 48.8600000]}}
    - {{pixel: [1280, 633], lonlat: [2.3605730, 48.8600000]}}
    - {{pixel: [0, 489], lonlat: [2.3599591, 48.8601357]}}
    - {{pixel: [1280, 489], lonlat: [2.3606139, 48.8601357]}}
bays:
  - {{id: b1, pixels: [[560, 500], [740, 500], [740, 600], [560, 600]]}}
  - {{id: b2, pixels: [[750, 500], [900, 500], [900, 600], [750, 600]]}}
"""


def compose_clip(out: Path, seconds: int, seed: int = 0) -> None:
    """A real MEVA background at 720p with real parked-car pixels arriving, staying, leaving."""
    import av
    import cv2

    frame = cv2.imread(str(SHARED / "footage/meva/rvmot-c4f6/frame-0000.jpg"))
    car = cv2.resize(frame[371:431, 182:257], (107, 86))
    bg = cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(seed)
    # (arrive, leave, x) stays in bay b1 / b2; drive-ins take 4 s from the right edge.
    stays = [(20, 75, 600), (95, 110, 780), (120, 170, 780)]
    with av.open(str(out), "w") as c:
        st = c.add_stream("libx264", rate=25)
        st.width, st.height, st.pix_fmt = 1280, 720, "yuv420p"
        st.options = {"g": "50", "crf": "23", "preset": "veryfast"}
        for i in range(seconds * 25):
            t = i / 25
            img = bg.copy()
            for arrive, leave, x_stop in stays:
                if arrive - 4 <= t < leave + 4:
                    if t < arrive:
                        x = int(1280 - (t - arrive + 4) / 4 * (1280 - x_stop))
                    elif t < leave:
                        x = x_stop
                    else:
                        x = int(x_stop - (t - leave) / 4 * (x_stop + 107))
                    x0, x1 = max(0, x), min(1280, x + 107)
                    if x1 > x0:
                        img[480:566, x0:x1] = car[:, x0 - x : x1 - x]
            noise = rng.integers(-2, 3, img.shape, dtype=np.int16)
            img = np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)
            for p in st.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                c.mux(p)
        for p in st.encode():
            c.mux(p)


def occupancy_from_sessions(sessions: list[dict], bays: list[str], seconds: int) -> np.ndarray:
    occ = np.zeros((len(bays), seconds), bool)
    for s in sessions:
        if s["bay"] in bays:
            a, b = int(np.ceil(s["start_s"])), int(np.floor(s["end_s"]))
            occ[bays.index(s["bay"]), max(0, a) : max(0, min(seconds, b + 1))] = True
    return occ


def worker_baywatch(video: str, site_path: str, exact: bool) -> dict:
    from occupancy.config.site import load_site
    from occupancy.runtime.analysis import analyse
    from occupancy.storage.store import Store
    from vision.detector import Detector

    site = load_site(site_path)
    det = Detector.for_site(site, os.environ["BAYWATCH_MODEL"])
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/b.db")
        import av

        with av.open(video) as c:
            native = float(c.streams.video[0].average_rate)
        fps = native if exact else 2.0
        t0 = time.perf_counter()
        res = analyse(video, site, store, detector=det, analysis_fps=fps, exact=exact)
        wall = time.perf_counter() - t0
    start = round(site.source.start_time.timestamp() * 1000)  # type: ignore[union-attr]
    names = {z.key: z.local_id for z in res.zones}
    return {
        "wall_s": wall,
        "footage_s": res.footage_s,
        "frames": res.frames_analysed,
        "detector_runs": res.detector_runs,
        "sessions": [
            {
                "bay": names[s.curb_zone_id or ""],
                "start_s": (s.start_ms - start) / 1000,
                "end_s": (s.end_ms - start) / 1000,
            }
            for s in res.sessions
        ],
    }


def worker_parking(video: str, site_path: str) -> dict:
    import cv2
    from ultralytics import solutions

    from occupancy.config.site import load_site

    site = load_site(site_path)
    regions = [{"points": [list(map(int, p)) for p in b.pixels or []]} for b in site.bays]
    rpath = Path(video).with_suffix(".regions.json")
    rpath.write_text(json.dumps(regions))
    pm = solutions.ParkingManagement(
        model=os.environ["BAYWATCH_MODEL"], json_file=str(rpath), show=False, verbose=False
    )
    cap = cv2.VideoCapture(video)
    fps = cap.get(cv2.CAP_PROP_FPS)
    per_frame: list[list[bool]] = []
    polys = [np.array(r["points"], np.int32).reshape(-1, 1, 2) for r in regions]
    ok, im = cap.read()
    pm.process(im.copy())  # warm-up, as baywatch's detector does at load
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    t0 = time.perf_counter()
    while True:
        ok, im = cap.read()
        if not ok:
            break
        pm.process(im)
        # ParkingManagement's own rule: a region is occupied if a box centre lies in it.
        flags = []
        for poly in polys:
            hit = False
            for box in pm.boxes:
                x0, y0, x1, y1 = (float(v) for v in box)
                if cv2.pointPolygonTest(poly, ((x0 + x1) / 2, (y0 + y1) / 2), False) >= 0:
                    hit = True
                    break
            flags.append(hit)
        per_frame.append(flags)
    wall = time.perf_counter() - t0
    arr = np.array(per_frame, bool)
    seconds = int(len(arr) / fps)
    per_second = [
        arr[int(s * fps) : int((s + 1) * fps)].mean(axis=0) >= 0.5 for s in range(seconds)
    ]
    return {
        "wall_s": wall,
        "footage_s": len(arr) / fps,
        "frames": len(arr),
        "detector_runs": len(arr),
        "occupancy": np.array(per_second).T.tolist(),
        "bays": [b.id for b in site.bays],
    }


def run_worker(kind: str, video: Path, site: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", kind, "--video", str(video), "--site", str(site)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--video", type=Path)
    ap.add_argument("--site", type=Path)
    ap.add_argument("--seconds", type=int, default=180, help="length of the composed clip")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--worker", choices=["fast", "exact", "parking"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        if args.worker == "parking":
            res = worker_parking(str(args.video), str(args.site))
        else:
            res = worker_baywatch(str(args.video), str(args.site), exact=args.worker == "exact")
        res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(res))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    video, site = args.video, args.site
    if video is None:
        video = args.out / f"bay-720p-{args.seconds}s.mp4"
        if not video.exists():
            print(f"composing {video} ...", file=sys.stderr)
            compose_clip(video, args.seconds)
        site = args.out / "bay-720p.yaml"
        site.write_text(SITE_720.format(video=video))
    assert site is not None
    results = {k: run_worker(k, video, site) for k in ("fast", "exact", "parking")}
    bays = results["parking"]["bays"]
    seconds = int(results["exact"]["footage_s"])
    ref = occupancy_from_sessions(results["exact"]["sessions"], bays, seconds)
    occ = {
        "fast": occupancy_from_sessions(results["fast"]["sessions"], bays, seconds),
        "exact": ref,
        "parking": np.array(results["parking"]["occupancy"], bool)[:, :seconds],
    }
    label = {
        "fast": "baywatch (default: 2 fps, sparse decode, motion gate)",
        "exact": "baywatch --exact, every frame (reference)",
        "parking": "ultralytics ParkingManagement, every frame",
    }
    rows = []
    for k, r in results.items():
        agree = float((occ[k] == ref).mean())
        rows.append(
            {
                "method": label[k],
                "footage_s": round(r["footage_s"], 1),
                "wall_s": round(r["wall_s"], 2),
                "x_real_time": round(r["footage_s"] / r["wall_s"], 1),
                "analysed_fps": round(r["frames"] / r["wall_s"], 1),
                "detector_runs": r["detector_runs"],
                "peak_rss_mb": round(r["peak_rss_mb"]),
                "agreement_with_reference": round(agree, 4),
            }
        )
    speedup = results["parking"]["wall_s"] / results["fast"]["wall_s"]
    header = (
        f"Footage: {video.name}, {seconds} s; model {Path(os.environ['BAYWATCH_MODEL']).name}; "
        f"machine {platform.machine()} with {os.cpu_count()} cores. "
        f"baywatch is {speedup:.0f}x faster than ParkingManagement."
    )
    md = [
        header,
        "",
        "| method | footage s | wall s | × real time | analysed fps | detector runs | peak RSS MB | occupancy agreement with per-frame |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        md.append(
            f"| {r['method']} | {r['footage_s']} | {r['wall_s']} | {r['x_real_time']} | {r['analysed_fps']} | "
            f"{r['detector_runs']} | {r['peak_rss_mb']} | {r['agreement_with_reference'] * 100:.1f} % |"
        )
    text = "\n".join(md)
    print(text)
    (args.out / "speed.md").write_text(text + "\n")
    (args.out / "speed.json").write_text(
        json.dumps({"header": header, "rows": rows, "speedup_vs_parking": speedup}, indent=2)
    )


if __name__ == "__main__":
    main()
