"""Accuracy of baywatch on composed scenes and on the sample clips, as a Markdown table.

    python bench/bench_accuracy.py [--seeds 0 1 2 3] [--duration 240] [--turnover 0 8]
                                   [--bitrates 80 150 300 1000] [--sweep-seeds 0]
                                   [--json accuracy.json]

For each turnover (least time between a departure and the next arrival in a bay) and
seed it composes a scene (occupancy.evaluation.scenes), analyses it at the default 2 frames per
second with the model in BAYWATCH_MODEL and evaluates it against its exact truth; then
it evaluates the four sample clips against sample_videos/truth/. Prints one row per
scene and the totals.

``--bitrates``: the composed scenes of ``--sweep-seeds`` are also re-encoded with ffmpeg
(H.264, constant bit rate in kbit/s, 2-s GOP: what a cellular CCTV uplink delivers) and
evaluated again, one row per bit rate; ``--degrade``: the same at 300 kbit/s with a
10-s GOP, half resolution, 5 fps, darker pictures, or 1-s frame gaps every 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
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

from occupancy.config.site import load_site  # noqa: E402
from occupancy.evaluation.evaluate import Report, check_against_site, evaluate, spans_from_store  # noqa: E402
from occupancy.evaluation.scenes import SceneSpec, compose_scene  # noqa: E402
from occupancy.evaluation.truth import load_truth  # noqa: E402
from occupancy.runtime.analysis import analyse, resolve_source  # noqa: E402
from occupancy.storage.store import Store  # noqa: E402
from vision.detector import Detector  # noqa: E402


def run(site_path: Path, truth_path: Path, detectors: dict[tuple[object, ...], Detector]) -> Report:
    site = load_site(site_path)
    truth = load_truth(truth_path)
    check_against_site(truth, site, str(truth_path))
    d = site.detector
    key = (*sorted(d.classes), d.confidence, d.imgsz)
    if key not in detectors:
        detectors[key] = Detector.for_site(site, os.environ["BAYWATCH_MODEL"])
    det = detectors[key]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/acc.db")
        result = analyse(resolve_source(None, site, site_path), site, store, detector=det)
        found, _ = spans_from_store(store, site, result.run_id)
        store.close()
    return evaluate(truth, found)


# Other degradations of real camera footage, each at 300 kbit/s: (label, ffmpeg -vf filter
# or None, GOP seconds, output frame rate or None, -fps_mode vfr).
DEGRADATIONS: dict[str, tuple[str | None, float, float | None, bool]] = {
    "GOP 10 s": (None, 10.0, None, False),
    "half resolution": ("scale=iw/2:-2,scale=iw*2:ih*2", 2.0, None, False),
    "5 fps": (None, 2.0, 5.0, False),
    "dark (brightness -0.25)": ("eq=brightness=-0.25", 2.0, None, False),
    "1-s frame gaps every 10 s": ("select='not(between(mod(t\\,10)\\,5\\,6))'", 2.0, None, True),
}


def reencode(
    site_path: Path,
    kbps: int,
    label: str = "",
    vf: str | None = None,
    gop_s: float = 2.0,
    fps_out: float | None = None,
    vfr: bool = False,
) -> Path:
    """The scene's video at ``kbps`` kbit/s (libx264 CBR) beside a site file for it."""
    import yaml

    doc = yaml.safe_load(site_path.read_text())
    src = site_path.parent / doc["source"]["uri"]
    tag = f"{kbps}k" + ("-" + "".join(c for c in label if c.isalnum()) if label else "")
    out = site_path.parent / f"{src.stem}-{tag}.mp4"
    fps = fps_out or doc["source"].get("fps") or 10
    rate = f"{kbps}k"
    extra: list[str] = []
    if vf:
        extra += ["-vf", vf]
    if fps_out:
        extra += ["-r", f"{fps_out:g}"]
    if vfr:
        extra += ["-fps_mode", "vfr"]
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src), *extra,
            "-c:v", "libx264", "-preset", "veryfast", "-b:v", rate, "-maxrate", rate,
            "-bufsize", f"{2 * kbps}k", "-g", str(round(gop_s * fps)), "-pix_fmt", "yuv420p",
            str(out),
        ],
        check=True,
    )  # fmt: skip
    doc["source"]["uri"] = out.name
    site = site_path.parent / f"site-{tag}.yaml"
    site.write_text(yaml.safe_dump(doc, sort_keys=False))
    return site


def fmt(x: float | None, pct: bool = True) -> str:
    if x is None:
        return "—"
    return f"{100 * x:.1f} %" if pct else f"{x:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--duration", type=float, default=240.0)
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--turnover", type=float, nargs="+", default=[0.0, 8.0])
    ap.add_argument("--bitrates", type=int, nargs="*", default=[80, 150, 300, 1000])
    ap.add_argument("--sweep-seeds", type=int, nargs="*", default=[0])
    ap.add_argument("--degrade", nargs="*", default=list(DEGRADATIONS), choices=list(DEGRADATIONS))
    ap.add_argument("--no-samples", action="store_true", help="skip the four sample clips")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if args.bitrates and shutil.which("ffmpeg") is None:
        ap.error("--bitrates needs ffmpeg on PATH")
    detectors: dict[tuple[object, ...], Detector] = {}
    rows: list[tuple[str, Report]] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for turnover in args.turnover:
            for seed in args.seeds:
                spec = SceneSpec(duration_s=args.duration, fps=args.fps, turnover_s=turnover)
                scene = compose_scene(spec, Path(tmp) / f"t{turnover:g}-s{seed}", seed)
                name = f"composed, turnover {turnover:g} s, seed {seed}"
                rows.append((name, run(scene.site_path, scene.truth_path, detectors)))
                print(f"{name}: F1 {rows[-1][1].f1:.3f}", file=sys.stderr)
                if seed not in args.sweep_seeds:
                    continue
                for kbps in args.bitrates:
                    site = reencode(scene.site_path, kbps)
                    label = f"{name}, H.264 {kbps} kbit/s"
                    rows.append((label, run(site, scene.truth_path, detectors)))
                    print(f"{label}: F1 {rows[-1][1].f1:.3f}", file=sys.stderr)
                for what in args.degrade:
                    vf, gop_s, fps_out, vfr = DEGRADATIONS[what]
                    site = reencode(scene.site_path, 300, what, vf, gop_s, fps_out, vfr)
                    label = f"{name}, {what}, 300 kbit/s"
                    rows.append((label, run(site, scene.truth_path, detectors)))
                    print(f"{label}: F1 {rows[-1][1].f1:.3f}", file=sys.stderr)
    for clip in () if args.no_samples else ("meva-a1c9", "meva-b7e2", "meva-c4f6", "intel-aisle"):
        site = ROOT / "sample_videos" / f"{clip}.yaml"
        rows.append(
            (f"sample {clip}", run(site, ROOT / "sample_videos/truth" / f"{clip}.json", detectors))
        )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; model "
        f"{Path(os.environ['BAYWATCH_MODEL']).name}; analysis at 2 fps; "
        f"{time.perf_counter() - t0:.0f} s in all\n"
    )
    print(
        "| scene | footage s | true / found / matched | precision | recall | F1 | "
        "occupancy accuracy (bays) | start err median / p90 s | end err median / p90 s | "
        "dwell err median / p90 s | double-parking recall |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in rows:
        print(
            f"| {name} | {r.duration_s:.0f} | {r.n_true} / {r.n_found} / {r.n_matched} | "
            f"{fmt(r.precision)} | {fmt(r.recall)} | {fmt(r.f1)} | {fmt(r.bay_accuracy)} | "
            f"{fmt(r.start_error.median_s, False)} / {fmt(r.start_error.p90_s, False)} | "
            f"{fmt(r.end_error.median_s, False)} / {fmt(r.end_error.p90_s, False)} | "
            f"{fmt(r.dwell_error.median_s, False)} / {fmt(r.dwell_error.p90_s, False)} | "
            f"{fmt(r.double_park_recall)} |"
        )
    if args.json is not None:
        args.json.write_text(json.dumps({name: r.as_dict() for name, r in rows}, indent=2))


if __name__ == "__main__":
    main()
