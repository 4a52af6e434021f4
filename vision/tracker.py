"""Multi-object tracking with ultralytics' ByteTrack, fed our own detections.

The tracker runs at the analysis rate (a few frames per second), so its
lost-track buffer is set in seconds and converted to analysed frames.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from numpy.typing import NDArray
from ultralytics.trackers.byte_tracker import BYTETracker

from vision.types import Detections


class _BoxesView:
    """The slice of ultralytics' ``Boxes`` interface that BYTETracker reads."""

    def __init__(
        self, xyxy: NDArray[np.float32], conf: NDArray[np.float32], cls: NDArray[np.float32]
    ):
        self.xyxy = xyxy
        self.conf = conf
        self.cls = cls
        wh = xyxy[:, 2:4] - xyxy[:, 0:2]
        self.xywh = np.column_stack([xyxy[:, 0:2] + wh / 2.0, wh]).astype(np.float32)

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, idx: NDArray[np.bool_]) -> _BoxesView:
        return _BoxesView(self.xyxy[idx], self.conf[idx], self.cls[idx])


class VehicleTracker:
    """ByteTrack (ultralytics' ``BYTETracker``) over the analysed frames of one source.

    ``lost_buffer_s`` is how long, in seconds of footage, a track unseen is kept before
    its id is dropped (ByteTrack's ``track_buffer``, converted to analysed frames at
    ``analysis_fps``); the pipeline sets it from the site's ``occupancy.grace_s``, so a
    vehicle hidden for less than the machine's grace period keeps its id. Thresholds are
    ultralytics' ``bytetrack.yaml`` defaults (Zhang et al., "ByteTrack", ECCV 2022).
    """

    def __init__(self, analysis_fps: float, *, lost_buffer_s: float = 6.0) -> None:
        args = SimpleNamespace(
            track_high_thresh=0.25,
            track_low_thresh=0.1,
            new_track_thresh=0.25,
            track_buffer=max(2, round(lost_buffer_s * analysis_fps)),
            match_thresh=0.8,
            fuse_score=True,
        )
        self._tracker = BYTETracker(args)
        # BYTETracker scales its buffer by frame_rate/30; it is given analysed frames directly.
        self._tracker.max_frames_lost = args.track_buffer

    def update(self, dets: Detections) -> Detections:
        """Returns the detections that belong to a confirmed track, with ``tracker_id``."""
        view = _BoxesView(dets.xyxy, dets.confidence, dets.class_id.astype(np.float32))
        out = self._tracker.update(view)
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
