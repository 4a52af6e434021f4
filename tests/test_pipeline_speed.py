"""The parallel pipeline gives exactly what the serial one gives: decode-ahead thread,
OpenVINO throughput runner, frames detected ahead; and --device fails in one line."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from occupancy.runtime.analysis import detect_ahead
from tests.conftest import MODEL, SAMPLES, needs_footage
from vision.detector import Detector, DeviceError, check_device
from vision.motion import MotionGate, region_mask
from vision.prefetch import prefetched
from vision.types import Frame, SourceGap

CLASSES = ("car", "truck", "bus", "motorcycle")


def test_prefetched_keeps_order_and_raises_where_the_source_failed() -> None:
    def source() -> Iterator[int]:
        yield from range(50)
        raise ValueError("truncated at 50")

    got: list[int] = []
    with pytest.raises(ValueError, match="truncated at 50"):
        for x in prefetched(source(), depth=3):
            got.append(x)
    assert got == list(range(50))


def test_prefetched_stops_its_thread_and_closes_the_source_when_left_early() -> None:
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            yield from range(10_000)
        finally:
            closed.set()

    before = threading.active_count()
    it = prefetched(source(), depth=4)
    assert [next(it) for _ in range(5)] == [0, 1, 2, 3, 4]
    it.close()  # what a break or an exception in the consumer does
    assert closed.wait(2.0)
    assert threading.active_count() == before


def _frames(path: Path, every: int, n: int) -> list[np.ndarray]:
    out = []
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % every == 0:
                out.append(f.to_ndarray(format="bgr24"))
            if len(out) == n:
                break
    return out


@pytest.fixture(scope="module")
def street() -> list[np.ndarray]:
    """Real frames of a composed busy kerb (moving cars, people, a parked row)."""
    import tempfile

    from occupancy.evaluation.scenes import compose_scene, kerb_spec

    with tempfile.TemporaryDirectory() as tmp:
        scene = compose_scene(kerb_spec("busy", 6.0), tmp, seed=0)
        return _frames(scene.video_path, 12, 12)


@needs_footage
def test_throughput_runner_gives_the_predictors_boxes(street: list[np.ndarray]) -> None:
    serial = Detector(str(MODEL), vehicle_classes=CLASSES, throughput=False)
    ahead = Detector(str(MODEL), vehicle_classes=CLASSES)
    assert serial.runner is None and ahead.runner is not None and ahead.in_flight >= 1
    pending = [ahead.submit(im) for im in street[: ahead.in_flight]]
    results = [p.result() for p in pending] + [ahead.detect(im) for im in street[ahead.in_flight :]]
    total = 0
    for im, got in zip(street, results, strict=True):
        want = serial.detect(im)
        assert len(got) == len(want)
        total += len(want)
        # Same pre- and post-processing around the same network: the same boxes (to 0.5 px;
        # the two OpenVINO modes may order float sums differently).
        np.testing.assert_allclose(got.xyxy, want.xyxy, atol=0.5)
        np.testing.assert_allclose(got.confidence, want.confidence, atol=0.01)
        assert (got.class_id == want.class_id).all()
    assert total >= 2 * len(street)  # the parked row is seen on every frame


@needs_footage
def test_detect_ahead_yields_in_order_what_detecting_one_by_one_yields(
    street: list[np.ndarray],
) -> None:
    det = Detector(str(MODEL), vehicle_classes=CLASSES)
    h, w = street[0].shape[:2]
    bays = [np.array([[0, 0], [w, 0], [w, h], [0, h]], float)]  # watch the whole picture
    # Each picture twice (the second unchanged: no detection), and an outage in the middle.
    items: list[Frame | SourceGap] = []
    for i, im in enumerate(street):
        items += [Frame(im, 2 * i, 0, 2 * i), Frame(im, 2 * i + 1, 0, 2 * i + 1)]
        if i == 5:
            items.append(SourceGap(10, 20, "test"))
    got = list(detect_ahead(items, MotionGate(region_mask((w, h), bays)), det))
    assert [item for item, _ in got] == items
    fresh = [(item, d) for item, d in got if d is not None]
    assert all(isinstance(item, Frame) and item.index % 2 == 0 for item, _ in fresh)
    assert len(fresh) >= len(street) // 2  # a moving street: most new pictures are detected
    after_gap = next(i for i, (item, _) in enumerate(got) if isinstance(item, SourceGap)) + 1
    assert got[after_gap][1] is not None  # after an outage, always look afresh
    for item, d in fresh:
        assert isinstance(item, Frame)
        want = det.submit(item.image, low=True).result()  # weak boxes too, for ByteTrack
        np.testing.assert_allclose(d.xyxy, want.xyxy, atol=0.5)
    # The detector's pool has every request back: a full window can be submitted again.
    handles = [det.submit(street[0]) for _ in range(det.in_flight)]
    assert [len(h.result()) for h in handles] == [len(det.detect(street[0]))] * len(handles)


def test_device_check_names_the_problem_in_one_line() -> None:
    import torch

    assert check_device("CPU", "yolo11n.pt") == "cpu"
    with pytest.raises(DeviceError, match="expected cpu, cuda or cuda:N"):
        check_device("tpu", "yolo11n.pt")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the no-CUDA message cannot be seen here")
    with pytest.raises(DeviceError, match="no CUDA device here"):
        check_device("cuda", "yolo11n.pt")


@needs_footage
def test_analyse_device_cuda_without_cuda_is_one_clear_line(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    from baywatch.cli import app

    res = CliRunner().invoke(
        app,
        [
            "analyse",
            "--site",
            str(SAMPLES / "meva-c4f6.yaml"),
            "--db",
            f"sqlite:///{tmp_path}/x.db",
            "--device",
            "cuda",
        ],
    )
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "no CUDA device here" in lines[0], res.output
    assert "Traceback" not in res.output
