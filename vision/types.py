"""Small immutable vision types, in the spirit of supervision's ``Detections``."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

Image = NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame chosen for analysis.

    ``pos_ms`` is the position in the footage (recorded) or since the stream
    opened (live); ``t_ms`` is the wall-clock time it shows, ms since the epoch.
    ``stream_ms`` (live only, when the stream has timestamps): its presentation time in
    the stream, ms since the stream's first frame on this connection: where in a served
    recording the frame is, whatever the network and decoding delays.
    """

    image: Image
    index: int
    pos_ms: int
    t_ms: int
    stream_ms: int | None = None


@dataclass(frozen=True, slots=True)
class SourceLost:
    """A live source went silent: its last good frame was at ``lost_ms`` (epoch ms), and
    the silence was noticed at ``detected_ms``. A ``SourceGap`` follows if it comes back."""

    lost_ms: int
    detected_ms: int
    reason: str


@dataclass(frozen=True, slots=True)
class SourceGap:
    """A live source stopped delivering frames between ``lost_ms`` and ``restored_ms``."""

    lost_ms: int
    restored_ms: int
    reason: str


@dataclass(frozen=True, slots=True)
class Detections:
    """N boxes in pixel ``xyxy``, with confidence, class and (after tracking) track id."""

    xyxy: NDArray[np.float32]
    confidence: NDArray[np.float32]
    class_id: NDArray[np.int64]
    class_names: dict[int, str] = field(default_factory=dict)
    tracker_id: NDArray[np.int64] | None = None

    @classmethod
    def empty(cls, class_names: dict[int, str] | None = None) -> Detections:
        """No boxes: ``xyxy`` ``(0, 4)`` ``float32``, ``confidence`` and ``class_id`` of length 0."""
        return cls(
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.float32),
            np.zeros(0, np.int64),
            class_names or {},
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def filter(self, mask: NDArray[np.bool_]) -> Detections:
        """The boxes where ``mask`` (a boolean array of length N) is True, ``tracker_id`` too."""
        return Detections(
            self.xyxy[mask],
            self.confidence[mask],
            self.class_id[mask],
            self.class_names,
            None if self.tracker_id is None else self.tracker_id[mask],
        )

    def names(self) -> list[str]:
        """Class name of each box, in order (the id as text when the model has no name for it)."""
        return [self.class_names.get(int(c), str(int(c))) for c in self.class_id]

    @property
    def bottom_center(self) -> NDArray[np.float64]:
        """Where a box meets the ground: the middle of its bottom edge."""
        x = (self.xyxy[:, 0] + self.xyxy[:, 2]) / 2.0
        return np.column_stack([x, self.xyxy[:, 3]]).astype(np.float64)
