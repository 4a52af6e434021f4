"""The review video: bays coloured by state, tracked vehicles, dwell timers, people blurred.

Written only when asked for (``--annotate``); otherwise baywatch keeps no frame.
People are blurred before anything is drawn, so no identifiable person reaches
the file; plates are not read, and vehicles are drawn as boxes only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from occupancy.domain.states import ZoneViewState
from occupancy.observe.machine import OccupancyMachine
from occupancy.observe.zones import Zone
from vision.types import Detections, Frame, Image

# Containers OpenCV's FFmpeg writer accepts the "mp4v" codec in (checked with OpenCV 5.0:
# .webm and anything else fail to open, which would only show once the analysis has begun).
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv")

# BGR colours per zone state.
STATE_COLOURS = {
    ZoneViewState.FREE: (80, 200, 80),
    ZoneViewState.ARRIVING: (0, 215, 255),
    ZoneViewState.OCCUPIED: (40, 40, 230),
    ZoneViewState.OVERSTAY: (200, 0, 200),
}


def blur_boxes(image: Image, boxes: np.ndarray, pad: float = 0.1) -> Image:
    """Blur each box (``(N, 4)`` pixel ``xyxy``) of a BGR ``uint8`` image in place, grown by
    ``pad`` of its size on each side, with a Gaussian kernel a third of its larger side
    (at least 15 px): strong enough that a face or a plate cannot be read. Returns the
    image.
    """
    h, w = image.shape[:2]
    for x1, y1, x2, y2 in boxes.astype(int):
        dx, dy = int((x2 - x1) * pad), int((y2 - y1) * pad)
        a, b = max(0, x1 - dx), max(0, y1 - dy)
        c, d = min(w, x2 + dx), min(h, y2 + dy)
        if c > a and d > b:
            k = max(15, ((max(c - a, d - b) // 3) | 1))
            image[b:d, a:c] = cv2.GaussianBlur(image[b:d, a:c], (k, k), 0)
    return image


class ReviewWriter:
    """Writes the review video (MP4, ``fps`` frames per second of footage, frame size of the
    source) of an analysis: zones filled by their ``ZoneViewState``, dwell timers,
    vehicles boxed, persons blurred. Opened on the first frame.
    """

    def __init__(self, path: Path, fps: float, zones: Sequence[Zone]) -> None:
        self.path = path
        self.fps = fps
        self.zones = list(zones)
        self._writer: cv2.VideoWriter | None = None

    def write(
        self, frame: Frame, vehicles: Detections, persons: Detections, machine: OccupancyMachine
    ) -> None:
        """Draw one analysed frame (BGR ``uint8``; boxes in its pixels) and append it. Persons
        are blurred first, so no identifiable person reaches the file.
        """
        img = blur_boxes(frame.image.copy(), persons.xyxy)
        views = machine.views(frame.t_ms)
        overlay = img.copy()
        for z in self.zones:
            v = views[z.key]
            colour = STATE_COLOURS[v.state]
            pts = z.pixels.astype(np.int32).reshape(-1, 1, 2)
            cv2.fillPoly(overlay, [pts], colour)
            cv2.polylines(img, [pts], True, colour, 2)
        img = np.asarray(cv2.addWeighted(overlay, 0.25, img, 0.75, 0), np.uint8)
        for z in self.zones:
            v = views[z.key]
            x, y = z.pixels.min(axis=0).astype(int)
            label = (
                z.name
                if v.state in (ZoneViewState.FREE, ZoneViewState.ARRIVING)
                else f"{z.name} {v.dwell_s:.0f}s"
            )
            cv2.putText(
                img, label, (x + 3, max(12, y + 14)), 0, 0.45, (255, 255, 255), 1, cv2.LINE_AA
            )
        names = vehicles.names()
        for i, (x1, y1, x2, y2) in enumerate(vehicles.xyxy.astype(int)):
            cv2.rectangle(img, (x1, y1), (x2, y2), (255, 200, 0), 1)
            tid = "" if vehicles.tracker_id is None else f"#{int(vehicles.tracker_id[i])} "
            cv2.putText(img, f"{tid}{names[i]}", (x1, max(10, y1 - 3)), 0, 0.4, (255, 200, 0), 1)
            cx, by = int((x1 + x2) / 2), int(y2)
            cv2.circle(img, (cx, by), 3, (255, 200, 0), -1)  # the ground footprint
        if self._writer is None:
            h, w = img.shape[:2]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = cv2.VideoWriter(
                str(self.path), cv2.VideoWriter.fourcc(*"mp4v"), self.fps, (w, h)
            )
            if not self._writer.isOpened():
                raise OSError(f"{self.path}: cannot write a video here")
        self._writer.write(img)

    def close(self) -> None:
        """Finish the file (nothing is written if no frame came)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
