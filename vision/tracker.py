"""Multi-object tracking with ByteTrack (ultralytics' algorithm, ``vision.bytetrack``), fed
our own detections.

The tracker runs at the analysis rate (a few frames per second), so its
lost-track buffer is set in seconds and converted to analysed frames.
"""

from __future__ import annotations

import numpy as np

from vision.bytetrack import BYTETracker, ByteTrackSettings
from vision.types import Detections


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

    def update(self, dets: Detections) -> Detections:
        """Returns the detections that belong to a confirmed track, with ``tracker_id``."""
        wh = dets.xyxy[:, 2:4] - dets.xyxy[:, 0:2]
        xywh = np.column_stack([dets.xyxy[:, 0:2] + wh / 2.0, wh]).astype(np.float32)
        out = self._tracker.update(xywh, dets.confidence, dets.class_id.astype(np.float32))
        if len(out) == 0:
            empty = Detections.empty(dets.class_names)
            return Detections(
                empty.xyxy, empty.confidence, empty.class_id, dets.class_names, empty.class_id
            )
        idx = out[:, 7].astype(np.int64)
        return Detections(
            xyxy=dets.xyxy[idx],
            confidence=dets.confidence[idx],
            class_id=dets.class_id[idx],
            class_names=dets.class_names,
            tracker_id=out[:, 4].astype(np.int64),
        )
