"""Rebuild the sample footage from its public sources on a machine without ../shared.

    python sample_videos/fetch.py [--dest ../shared/footage]

Downloads Intel's clip as is, and re-extracts the MEVA excerpts from the original
MEVA videos (frames named in sample_videos/README.md, downscaled to the sizes the
site files use, JPEG quality 78), so the site files apply unchanged.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import httpx
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

INTEL = (
    "https://github.com/intel-iot-devkit/sample-videos/raw/"
    "57978890822836f2b4743852f04f62fc511757e4/car-detection.mp4"
)
MEVA_BASE = "https://mevadata-public-01.s3.amazonaws.com/drops-123-r13/2018-03-05/13/"
MEVA = {
    # clip folder: (original video, first frame, last frame, output size)
    "rvmot-a1c9": ("2018-03-05.13-15-00.13-20-00.bus.G340.r13.avi", 2813, 2962, (896, 504)),
    "rvmot-b7e2": ("2018-03-05.13-15-00.13-20-00.bus.G340.r13.avi", 3039, 3188, (896, 504)),
    "rvmot-c4f6": ("2018-03-05.13-20-01.13-25-01.school.G328.r13.avi", 3272, 3421, (896, 500)),
}


def download(url: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with (
        httpx.stream("GET", url, follow_redirects=True, timeout=60) as r,
        Progress(
            "[bold]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn()
        ) as bar,
    ):
        r.raise_for_status()
        task = bar.add_task(dest.name, total=int(r.headers.get("content-length", 0)) or None)
        with dest.open("wb") as f:
            for chunk in r.iter_bytes(1 << 16):
                f.write(chunk)
                bar.advance(task, len(chunk))


def extract(video: Path, first: int, last: int, size: tuple[int, int], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, first)
    for i in range(last - first + 1):
        ok, frame = cap.read()
        if not ok:
            raise SystemExit(f"error: {video.name}: ended before frame {first + i}")
        small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(out / f"frame-{i:04d}.jpg"), small, [cv2.IMWRITE_JPEG_QUALITY, 78])
    cap.release()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--dest", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "footage"
    )
    args = ap.parse_args()
    try:
        target = args.dest / "intel" / "car-detection.mp4"
        if not target.exists():
            download(INTEL, target)
        with tempfile.TemporaryDirectory() as tmp:
            for clip, (name, first, last, size) in MEVA.items():
                out = args.dest / "meva" / clip
                if out.exists() and len(list(out.glob("*.jpg"))) == last - first + 1:
                    continue
                video = Path(tmp) / name
                if not video.exists():
                    download(MEVA_BASE + name, video)
                extract(video, first, last, size, out)
    except httpx.HTTPError as exc:
        sys.exit(f"error: download failed: {exc}")
    print(f"sample footage ready in {args.dest}")


if __name__ == "__main__":
    main()
