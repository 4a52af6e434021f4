"""Analysis speed at default settings: analysed frames per second and footage-seconds
analysed per wall-second, for each sample scene (issue 2's speed figures).

    python bench/bench_analyse.py [--fps 2] [--repeat 3]

Prints a Markdown table; the model is BAYWATCH_MODEL (offline: ../shared/models).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
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
from occupancy.runtime.analysis import analyse, resolve_source  # noqa: E402
from occupancy.storage.store import Store  # noqa: E402
from vision.detector import Detector  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--fps", type=float, default=2.0, help="analysed frames per footage second")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    model = os.environ["BAYWATCH_MODEL"]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; model: {Path(model).name}; "
        f"analysis rate {args.fps} fps; best of {args.repeat}\n"
    )
    print("| scene | footage s | frames analysed | analysed fps | footage s per wall s |")
    print("|---|---:|---:|---:|---:|")
    detectors: dict[tuple[object, ...], Detector] = {}
    for path in sorted((ROOT / "sample_videos").glob("*.yaml")):
        site = load_site(path)
        d = site.detector
        key = (*sorted(d.classes), d.confidence, d.imgsz)
        if key not in detectors:
            detectors[key] = Detector.for_site(site, model)
        det = detectors[key]
        walls = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                store = Store(f"sqlite:///{tmp}/bench.db")
                t0 = time.perf_counter()
                res = analyse(
                    resolve_source(None, site, path),
                    site,
                    store,
                    detector=det,
                    analysis_fps=args.fps,
                )
                walls.append(time.perf_counter() - t0)
                store.close()
        wall = min(walls)
        print(
            f"| {path.stem} | {res.footage_s:.1f} | {res.frames_analysed} | "
            f"{res.frames_analysed / wall:.1f} | {res.footage_s / wall:.1f} |"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS {peak:.0f} MB (model, torch and OpenVINO included)")


if __name__ == "__main__":
    main()
