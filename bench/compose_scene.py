"""Compose a test scene with exact truth from the real frames in ../shared/footage.

    python bench/compose_scene.py OUT_DIR [--seed 0] [--duration 180] [--fps 10]
                                  [--size 1280x720]

Writes OUT_DIR/scene.mp4, OUT_DIR/site.yaml and OUT_DIR/truth.json, then prints
how to analyse and evaluate it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.progress import (  # noqa: E402
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from occupancy.evaluation.scenes import SceneSpec, compose_scene  # noqa: E402


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--duration", type=float, default=180.0, help="seconds")
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--size", type=_size, default=None, help="WxH, default 896x500")
    args = ap.parse_args()
    t0 = time.perf_counter()
    spec = SceneSpec(duration_s=args.duration, fps=args.fps, size=args.size)
    with Progress(
        TextColumn("composing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
    ) as bar:
        task = bar.add_task("frames", total=None)
        scene = compose_scene(
            spec,
            args.out_dir,
            args.seed,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    print(
        f"{scene.frames} frames, {len(scene.visits)} vehicles, {len(scene.truth.sessions)} true "
        f"sessions in {time.perf_counter() - t0:.1f} s\n"
        f"  baywatch evaluate {scene.truth_path} --site {scene.site_path}"
    )


if __name__ == "__main__":
    main()
