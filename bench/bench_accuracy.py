"""Accuracy of baywatch on composed scenes and on the sample clips, as a Markdown table.

    python bench/bench_accuracy.py [--seeds 0 1 2 3] [--duration 240] [--turnover 0 8]
                                   [--bitrates 80 150 300 1000] [--sweep-seeds 0]
                                   [--gops 2 10] [--size 1280x720] [--exact-too]
                                   [--real-bitrates 80 150] [--json accuracy.json]

For each turnover (least time between a departure and the next arrival in a bay) and
seed it composes a scene (occupancy.evaluation.scenes), analyses it at the default 2 frames per
second with the model in BAYWATCH_MODEL and evaluates it against its exact truth; then
it evaluates the four sample clips against sample_videos/truth/. Prints one row per
scene and the totals.

``--bitrates``: the composed scenes of ``--sweep-seeds`` are also re-encoded with ffmpeg
(H.264, constant bit rate in kbit/s, 2-s GOP or each of ``--gops``: what a cellular CCTV
uplink delivers) and evaluated again, one row per bit rate (and GOP; ``--exact-too``:
also decoding every frame, not sparsely); ``--size 1280x720`` composes them at 720p;
``--real-bitrates``: the MEVA sample clips (real frames) re-encoded the same way;
``--degrade``: the same at 300 kbit/s with a 10-s GOP, half resolution, 5 fps, darker
pictures, or 1-s frame gaps every 10 s.
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


def run(
    site_path: Path,
    truth_path: Path,
    detectors: dict[tuple[object, ...], Detector],
    exact: bool = False,
) -> Report:
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
        result = analyse(
            resolve_source(None, site, site_path), site, store, detector=det, exact=exact
        )
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
    src = (site_path.parent / doc["source"]["uri"]).resolve()
    tag = f"{kbps}k" + ("-" + "".join(c for c in label if c.isalnum()) if label else "")
    fps = fps_out or doc["source"].get("fps") or 10
    if src.is_dir():  # a folder of numbered frames (the MEVA clips)
        rate = f"{doc['source'].get('fps') or 10:g}"
        inputs = ["-framerate", rate, "-pattern_type", "glob", "-i", str(src / "*.jpg")]
        out_dir = Path(tempfile.mkdtemp(prefix="reencode-"))
    else:
        inputs = ["-i", str(src)]
        out_dir = site_path.parent
    out = out_dir / f"{src.stem}-{tag}.mp4"
    bits = f"{kbps}k"
    extra: list[str] = []
    if vf:
        extra += ["-vf", vf]
    if fps_out:
        extra += ["-r", f"{fps_out:g}"]
    if vfr:
        extra += ["-fps_mode", "vfr"]
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-loglevel", "error", "-y", *inputs, *extra,
            "-c:v", "libx264", "-preset", "veryfast", "-b:v", bits, "-maxrate", bits,
            "-bufsize", f"{2 * kbps}k", "-g", str(round(gop_s * fps)), "-pix_fmt", "yuv420p",
            # one thread: libx264's threaded rate control is not reproducible run to run
            "-threads", "1", str(out),
        ],
        check=True,
    )  # fmt: skip
    doc["source"]["uri"] = str(out)
    doc["source"].pop("fps", None)
    site = out_dir / f"site-{tag}.yaml"
    site.write_text(yaml.safe_dump(doc, sort_keys=False))
    return site


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


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
    ap.add_argument("--gops", type=float, nargs="+", default=[2.0], help="GOPs (s) of --bitrates")
    ap.add_argument("--size", type=_size, default=None, help="composed scenes' WxH (896x500)")
    ap.add_argument(
        "--exact-too", action="store_true", help="also analyse --bitrates rows with --exact"
    )
    ap.add_argument(
        "--real-bitrates",
        type=int,
        nargs="*",
        default=[],
        help="re-encode the MEVA sample clips (real frames) at these kbit/s too",
    )
    ap.add_argument("--no-samples", action="store_true", help="skip the four sample clips")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if (args.bitrates or args.real_bitrates) and shutil.which("ffmpeg") is None:
        ap.error("--bitrates needs ffmpeg on PATH")
    detectors: dict[tuple[object, ...], Detector] = {}
    rows: list[tuple[str, Report]] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for turnover in args.turnover:
            for seed in args.seeds:
                spec = SceneSpec(
                    duration_s=args.duration, fps=args.fps, turnover_s=turnover, size=args.size
                )
                scene = compose_scene(spec, Path(tmp) / f"t{turnover:g}-s{seed}", seed)
                size = "" if args.size is None else f", {args.size[0]}x{args.size[1]}"
                name = f"composed{size}, turnover {turnover:g} s, seed {seed}"
                rows.append((name, run(scene.site_path, scene.truth_path, detectors)))
                print(f"{name}: F1 {rows[-1][1].f1:.3f}", file=sys.stderr)
                if seed not in args.sweep_seeds:
                    continue
                for kbps in args.bitrates:
                    for gop_s in args.gops:
                        site = reencode(scene.site_path, kbps, f"g{gop_s:g}", gop_s=gop_s)
                        label = f"{name}, H.264 {kbps} kbit/s" + (
                            "" if args.gops == [2.0] else f", GOP {gop_s:g} s"
                        )
                        for exact in (False, True) if args.exact_too else (False,):
                            tag = f"{label}, --exact" if exact else label
                            rows.append((tag, run(site, scene.truth_path, detectors, exact)))
                            print(f"{tag}: F1 {rows[-1][1].f1:.3f}", file=sys.stderr)
                for what in args.degrade:
                    vf, gop_s, fps_out, vfr = DEGRADATIONS[what]
                    site = reencode(scene.site_path, 300, what, vf, gop_s, fps_out, vfr)
                    label = f"{name}, {what}, 300 kbit/s"
                    rows.append((label, run(site, scene.truth_path, detectors)))
                    print(f"{label}: F1 {rows[-1][1].f1:.3f}", file=sys.stderr)
    for clip in ("meva-a1c9", "meva-b7e2", "meva-c4f6") if args.real_bitrates else ():
        site_path = ROOT / "sample_videos" / f"{clip}.yaml"
        truth_path = ROOT / "sample_videos/truth" / f"{clip}.json"
        for kbps in args.real_bitrates:
            for gop_s in args.gops:
                site = reencode(site_path, kbps, f"g{gop_s:g}", gop_s=gop_s)
                label = f"sample {clip}, H.264 {kbps} kbit/s, GOP {gop_s:g} s"
                for exact in (False, True) if args.exact_too else (False,):
                    tag = f"{label}, --exact" if exact else label
                    rows.append((tag, run(site, truth_path, detectors, exact)))
                    print(f"{tag}: F1 {rows[-1][1].f1:.3f}", file=sys.stderr)
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
