"""Footage composed from the real Intel aisle clip: cars that stop in the aisle.

The clip's cars all drive through; holding one frame while a car is in the aisle makes
it stop there (the detector sees the real car, at rest), with exact times. The result
is a 12.5 fps H.264-free MPEG-4 file written with OpenCV, so no codec is needed.
"""

from __future__ import annotations

from pathlib import Path

import cv2

from tests.conftest import FOOTAGE, SAMPLES

CLIP = FOOTAGE / "intel" / "car-detection.mp4"
FPS = 12.5
# (first frame, last frame) of the original to play, or (frame, -count) to hold it.
TIMELINE = [
    (150, 207),  # empty aisle, then a car drives in ...
    (207, -112),  # ... and stops for 9 s (frame 207 = 16.56 s)
    (208, 240),  # it drives away
    (240, 320),  # empty aisle
    (320, 338),  # a second car drives in ...
    (338, -125),  # ... and stops for 10 s
    (339, 362),  # it leaves
    (100, 130),  # empty aisle
]


def stops() -> list[tuple[float, float]]:
    """(start, end) in seconds of each held frame in the composed clip: the true stops."""
    out, t = [], 0
    for a, b in TIMELINE:
        n = -b if b < 0 else b - a
        if b < 0:
            out.append((t / FPS, (t + n) / FPS))
        t += n
    return out


def compose(out: Path) -> Path:
    cap = cv2.VideoCapture(str(CLIP))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (w, h))
    for a, b in TIMELINE:
        if b < 0:
            for _ in range(-b):
                writer.write(frames[a])
        else:
            for i in range(a, b):
                writer.write(frames[i])
    writer.release()
    return out


def site_yaml(video: Path, camera_id: str = "intel-aisle-stops") -> str:
    """The Intel aisle site, pointing at ``video``, with the short clips' 3 s stops."""
    text = (SAMPLES / "intel-aisle.yaml").read_text()
    text = text.replace("camera_id: intel-aisle", f"camera_id: {camera_id}")
    text = text.replace("uri: ../../shared/footage/intel/car-detection.mp4", f"uri: {video}")
    return text + "occupancy:\n  min_stationary_s: 3\n  grace_s: 2\n"
