"""vision.bytetrack gives ultralytics' BYTETracker's tracks, on detections of real footage.

The reference is ultralytics' own tracker (which imports PyTorch, as this test may); the
port must give, frame after frame, the same track ids for the same detections, and the
same boxes to float precision. Real detections of a composed busy kerb are replayed as
found, then with detections dropped and scores lowered at random so that tracks are lost,
found again, confirmed and removed, and low-score boxes take the second association.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from numpy.typing import NDArray

from tests.conftest import MODEL, needs_footage
from vision.bytetrack import BYTETracker, ByteTrackSettings
from vision.detector import Detector
from vision.types import Detections

CLASSES = ("car", "truck", "bus", "motorcycle")


class _BoxesView:
    """The slice of ultralytics' ``Boxes`` that its BYTETracker reads."""

    def __init__(
        self, xyxy: NDArray[np.float32], conf: NDArray[np.float32], cls: NDArray[np.float32]
    ):
        self.xyxy, self.conf, self.cls = xyxy, conf, cls
        wh = xyxy[:, 2:4] - xyxy[:, 0:2]
        self.xywh = np.column_stack([xyxy[:, 0:2] + wh / 2.0, wh]).astype(np.float32)

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, idx: NDArray[np.bool_]) -> _BoxesView:
        return _BoxesView(self.xyxy[idx], self.conf[idx], self.cls[idx])


@pytest.fixture(scope="module")
def detections() -> list[Detections]:
    """The detector's boxes on 40 s of a composed busy kerb at 2 analysed frames a second."""
    import tempfile

    import av

    from occupancy.evaluation.scenes import compose_scene, kerb_spec

    det = Detector(str(MODEL), vehicle_classes=CLASSES)
    out: list[Detections] = []
    with tempfile.TemporaryDirectory() as tmp:
        scene = compose_scene(kerb_spec("busy", 40.0), tmp, seed=1)
        with av.open(str(scene.video_path)) as c:
            for i, f in enumerate(c.decode(video=0)):
                if i % 12 == 0:
                    out.append(det.split(det.detect(f.to_ndarray(format="bgr24")))[0])
    return out


def _perturbed(dets: list[Detections], seed: int) -> list[Detections]:
    rng = np.random.default_rng(seed)
    out = []
    for d in dets:
        keep = rng.random(len(d)) > 0.25  # a quarter of the boxes missed
        conf = d.confidence * np.where(rng.random(len(d)) < 0.3, 0.4, 1.0)  # some low scores
        jitter = rng.normal(0, 3, d.xyxy.shape).astype(np.float32)
        out.append(
            Detections(
                (d.xyxy + jitter)[keep],
                conf.astype(np.float32)[keep],
                d.class_id[keep],
                d.class_names,
            )
        )
        if rng.random() < 0.1:  # now and then a frame with nothing
            out.append(Detections.empty(d.class_names))
    return out


@needs_footage
@pytest.mark.parametrize("seed", [None, 0, 1, 2])
def test_port_gives_ultralytics_tracks(detections: list[Detections], seed: int | None) -> None:
    from ultralytics.trackers.byte_tracker import BYTETracker as Reference

    frames = detections if seed is None else _perturbed(detections, seed)
    settings = ByteTrackSettings(track_buffer=10)
    ref = Reference(SimpleNamespace(**settings.__dict__))
    ref.max_frames_lost = settings.track_buffer
    ours = BYTETracker(settings)
    tracked = ids = 0
    for d in frames:
        cls = d.class_id.astype(np.float32)
        want = ref.update(_BoxesView(d.xyxy, d.confidence, cls)).reshape(-1, 8)
        wh = d.xyxy[:, 2:4] - d.xyxy[:, 0:2]
        xywh = np.column_stack([d.xyxy[:, 0:2] + wh / 2.0, wh]).astype(np.float32)
        got = ours.update(xywh, d.confidence, cls)
        assert got.shape == want.shape
        # Same tracks, same ids, same detections; boxes (Kalman states) to float precision.
        np.testing.assert_array_equal(got[:, 4:], want[:, 4:])
        np.testing.assert_allclose(got[:, :4], want[:, :4], atol=1e-3)
        tracked += len(got)
        ids = max(ids, int(got[:, 4].max(initial=0)))
    assert tracked >= 3 * len(detections)  # the parked row and passing traffic are tracked
    if seed is not None:
        assert len(ours.removed_stracks) > 0  # tracks were lost and dropped on the way
    assert ids >= 5
