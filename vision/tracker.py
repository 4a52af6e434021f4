"""Multi-object tracking with ByteTrack (ultralytics' algorithm, ``vision.bytetrack``), fed
our own detections.

The tracker runs at the analysis rate (a few frames per second), so its
lost-track buffer is set in seconds and converted to analysed frames.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from numpy.typing import NDArray

from vision.bytetrack import BYTETracker, ByteTrackSettings
from vision.types import Detections

# A box in an earlier frame is the same vehicle at the same place as a track's first
# confirmed box when their IoU is at least this: a parked vehicle's boxes overlap by 0.7-0.9
# from frame to frame even on heavily compressed footage; a vehicle driving at walking pace
# across the view moves a car's box by a third of its width in half a second.
EARLIER_IOU = 0.6
# Analysed frames in a row with no such box that still continue the chain backwards: the
# detector misses a faint vehicle in a frame now and then (a starved keyframe).
EARLIER_MISSES = 1


class VehicleTracker:
    """ByteTrack (ultralytics' ``BYTETracker``, ported without PyTorch) over the analysed frames of one source.

    ``lost_buffer_s`` is how long, in seconds of footage, a track unseen is kept before
    its id is dropped (ByteTrack's ``track_buffer``, converted to analysed frames at
    ``analysis_fps``); the pipeline sets it from the site's ``occupancy.grace_s``, so a
    vehicle hidden for less than the machine's grace period keeps its id. Thresholds are
    ultralytics' ``bytetrack.yaml`` defaults (Zhang et al., "ByteTrack", ECCV 2022), except
    that ``high`` (the detector's confidence threshold) starts and first-matches tracks:
    boxes between 0.1 and ``high`` only extend existing tracks (the second stage), so
    feed it the detector's weaker boxes too (``Detector.submit(..., low=True)``).

    ``earlier``: after each ``update(dets, t_ms)``, for each track reported for the first
    time, the boxes of the same vehicle in the frames before (oldest first): its first,
    unconfirmed sighting and the weaker boxes (down to the detector's low threshold, never
    a box of another confirmed track) chained backwards at IoU >= ``EARLIER_IOU``, with at
    most ``EARLIER_MISSES`` frame missing in a row (detections fed again unchanged are one
    frame), over at most the lost-track buffer. On
    footage whose first keyframe is starved of bits a parked vehicle scores under the
    new-track threshold for a second or two: it was there, and the occupancy machine
    judges those sightings by its rest rules. They start no track.
    """

    def __init__(
        self, analysis_fps: float, *, lost_buffer_s: float = 6.0, high: float = 0.25
    ) -> None:
        # The buffer is counted in analysed frames (ultralytics would scale it by fps / 30).
        settings = ByteTrackSettings(
            track_high_thresh=high,
            track_low_thresh=min(0.1, high),
            new_track_thresh=high,
            track_buffer=max(2, round(lost_buffer_s * analysis_fps)),
        )
        self._tracker = BYTETracker(settings)
        # (time, detections, indices held by confirmed tracks) of the last analysed frames.
        self._history: deque[tuple[int, Detections, NDArray[np.int64]]] = deque(
            maxlen=settings.track_buffer
        )
        self._reported: set[int] = set()
        self.earlier: dict[int, tuple[tuple[int, Detections], ...]] = {}

    def update(self, dets: Detections, t_ms: int | None = None) -> Detections:
        """Returns the detections that belong to a confirmed track, with ``tracker_id``.

        ``t_ms``: the frame's time (ms); with it, ``earlier`` holds the earlier boxes of
        the tracks reported for the first time (see the class docstring)."""
        wh = dets.xyxy[:, 2:4] - dets.xyxy[:, 0:2]
        xywh = np.column_stack([dets.xyxy[:, 0:2] + wh / 2.0, wh]).astype(np.float32)
        out = self._tracker.update(xywh, dets.confidence, dets.class_id.astype(np.float32))
        idx = out[:, 7].astype(np.int64)
        ids = out[:, 4].astype(np.int64)
        self.earlier = {}
        if t_ms is not None:
            for i, tid in zip(idx, ids, strict=True):
                if int(tid) not in self._reported:
                    chain = self._chain(dets.xyxy[i], int(tid), dets.class_names)
                    if chain:
                        self.earlier[int(tid)] = chain
            self._history.append((t_ms, dets, idx))
        # Ids the tracker still holds (ByteTrack never re-uses a removed one): constant memory.
        live = {t.track_id for t in self._tracker.tracked_stracks + self._tracker.lost_stracks}
        self._reported = (self._reported | {int(i) for i in ids}) & live
        if len(out) == 0:
            empty = Detections.empty(dets.class_names)
            return Detections(
                empty.xyxy, empty.confidence, empty.class_id, dets.class_names, empty.class_id
            )
        return Detections(
            xyxy=dets.xyxy[idx],
            confidence=dets.confidence[idx],
            class_id=dets.class_id[idx],
            class_names=dets.class_names,
            tracker_id=ids,
        )

    def _chain(
        self, box: NDArray[np.float32], tid: int, names: dict[int, str]
    ) -> tuple[tuple[int, Detections], ...]:
        """The boxes of earlier frames chained backwards from ``box`` (oldest first)."""
        found: list[tuple[int, Detections]] = []
        misses = 0
        newer: Detections | None = None
        for t, dets, held in reversed(self._history):
            # The same detections fed again (the analysis repeats them while the picture
            # does not change): one missed frame, however many times it was fed.
            repeat, newer = dets is newer, dets
            free = np.ones(len(dets), bool)
            free[held] = False
            iou = _iou(box, dets.xyxy) * free
            j = int(np.argmax(iou)) if len(iou) else -1
            if j < 0 or iou[j] < EARLIER_IOU:
                misses += 0 if repeat else 1
                if misses > EARLIER_MISSES:
                    break
                continue
            misses = 0
            box = dets.xyxy[j]
            found.append(
                (
                    t,
                    Detections(
                        dets.xyxy[j : j + 1],
                        dets.confidence[j : j + 1],
                        dets.class_id[j : j + 1],
                        names,
                        np.array([tid], np.int64),
                    ),
                )
            )
        return tuple(reversed(found))


def _iou(box: NDArray[np.float32], boxes: NDArray[np.float32]) -> NDArray[np.float64]:
    """IoU of one xyxy box with each of ``boxes`` (N, 4)."""
    if len(boxes) == 0:
        return np.zeros(0)
    w = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])
    h = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return np.asarray(inter / np.maximum(area + areas - inter, 1e-9), np.float64)
