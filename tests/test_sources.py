"""Frame sources: analysis rate independent of footage rate, timing, bad files, reconnects."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import FOOTAGE, needs_footage
from vision.motion import MotionGate, region_mask
from vision.sources import LiveSource, SourceError, open_source
from vision.sparse import SparseVideoSource
from vision.types import Frame, SourceGap

CLIP = FOOTAGE / "intel" / "car-detection.mp4"
FRAMES = FOOTAGE / "meva" / "rvmot-a1c9"


@needs_footage
def test_folder_of_frames_at_its_own_rate() -> None:
    src = open_source(str(FRAMES), analysis_fps=2, start_ms=1_000_000, folder_fps=30)
    frames = [f for f in src if isinstance(f, Frame)]
    assert [f.pos_ms for f in frames] == [500 * i for i in range(10)]
    assert frames[3].t_ms == 1_000_000 + 1500
    assert src.info.frame_size == (896, 504)


@needs_footage
def test_video_file_sampled_at_the_analysis_rate() -> None:
    src = open_source(str(CLIP), analysis_fps=1, start_ms=0)
    times = [f.pos_ms for f in src if isinstance(f, Frame)]
    assert len(times) == 31  # 30.2 s at 12.5 fps, one frame per second
    assert times[:3] == [0, 1040, 2000]  # nearest frames at or after each second (80 ms apart)
    assert src.truncated is None


@needs_footage
def test_truncated_video_is_reported(tmp_path: Path) -> None:
    data = CLIP.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError) as exc:
        src = open_source(str(cut), analysis_fps=2, start_ms=0)
        list(src)
        if src.truncated:
            raise SourceError(src.truncated)
    assert "cut.mp4" in str(exc.value)


def test_missing_corrupt_and_empty_inputs(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        open_source(str(tmp_path / "nope.mp4"), analysis_fps=2, start_ms=0)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00not a video\xff" * 1000)
    with pytest.raises(SourceError, match=r"junk.mp4: .*(decode|decodable)"):
        open_source(str(junk), analysis_fps=2, start_ms=0)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match="empty"):
        open_source(str(empty), analysis_fps=2, start_ms=0)
    (tmp_path / "frames").mkdir()
    with pytest.raises(SourceError, match="no image frames"):
        open_source(str(tmp_path / "frames"), analysis_fps=2, start_ms=0, folder_fps=10)


def test_unreachable_stream_is_one_clear_error() -> None:
    with pytest.raises(SourceError, match="cannot open stream"):
        open_source("rtsp://127.0.0.1:9/none", analysis_fps=2, start_ms=None)


@needs_footage
def test_live_source_reopens_and_reports_the_gap() -> None:
    """A file read as a 'stream' ends; the source reopens it and records the outage."""
    clock = [1000.0]
    sleeps: list[float] = []

    def now() -> float:
        clock[0] += 0.04  # every grab takes 40 ms of wall time
        return clock[0]

    def sleep(s: float) -> None:
        sleeps.append(s)
        clock[0] += s

    src = LiveSource(str(CLIP), 2.0, clock=now, sleep=sleep)
    items = []
    for item in src:
        items.append(item)
        if (
            sum(isinstance(i, SourceGap) for i in items) == 1
            and isinstance(item, Frame)
            and len(items) > 5
            and isinstance(items[-2], SourceGap)
        ):
            src.stop()
    gaps = [i for i in items if isinstance(i, SourceGap)]
    frames = [i for i in items if isinstance(i, Frame)]
    assert len(gaps) == 1 and gaps[0].restored_ms > gaps[0].lost_ms
    assert sleeps and sleeps[0] == 0.5  # backoff starts at half a second
    assert frames[0].t_ms >= 1_000_000  # wall-clock time, not a frame counter
    assert all(b.t_ms > a.t_ms for a, b in itertools.pairwise(frames))
    assert frames[-1].t_ms >= gaps[0].restored_ms


@needs_footage
def test_live_frames_carry_their_place_in_the_stream() -> None:
    """``Frame.stream_ms``: a live frame's presentation time since the stream's first frame,
    whatever the wall clock says (here a clock that runs twice as fast as the footage)."""
    clock = [1000.0]

    def now() -> float:
        clock[0] += 0.16  # two frame periods of the 12.5 fps clip per decoded frame
        return clock[0]

    src = LiveSource(str(CLIP), 2.0, clock=now, sleep=lambda s: None, decoder_threads=1)
    frames: list[Frame] = []
    for item in src:
        if isinstance(item, Frame):
            frames.append(item)
        if len(frames) == 8:
            src.stop()
    file_ms = {f.index: f.pos_ms for f in open_source(str(CLIP), analysis_fps=25, start_ms=0)}
    stream = [f.stream_ms for f in frames]
    assert stream[0] == 0
    # On the clip's own frame instants (80 ms apart), forward; the wall clock, which runs
    # faster than the footage, moves on by more than the stream between frames.
    assert all(s is not None and s % 80 == 0 for s in stream), stream
    assert all(s in file_ms.values() for s in stream if s is not None)
    steps = np.diff(np.array(stream, float))
    walls = np.diff(np.array([f.t_ms for f in frames], float))
    assert np.all(steps > 0) and np.all(walls > steps), (steps, walls)


@needs_footage
@pytest.mark.parametrize(
    "watch",
    [
        [np.array([[0, 0], [768, 0], [768, 432], [0, 432]], float)],  # the whole frame
        [np.array([[0, 100], [140, 100], [140, 330], [0, 330]], float)],  # one bay at the side
    ],
    ids=["whole-frame", "one-bay"],
)
def test_sparse_decoding_samples_the_same_instants(watch: list[np.ndarray]) -> None:
    """Sparse decoding changes what is decoded, never when the analysis looks."""
    full = [
        f.pos_ms for f in open_source(str(CLIP), analysis_fps=2, start_ms=0) if isinstance(f, Frame)
    ]
    src = open_source(str(CLIP), analysis_fps=2, start_ms=0, watch=watch)
    assert isinstance(src, SparseVideoSource)
    sparse = [f.pos_ms for f in src if isinstance(f, Frame)]
    assert sparse == full
    assert src.gops_total == 7
    assert 1 <= src.gops_decoded <= src.gops_total
    assert src.truncated is None


@needs_footage
def test_keyframes_decoded_ahead_give_the_same_frames_and_stop_with_the_consumer() -> None:
    """The keyframe thread changes when keyframes are decoded, never what is emitted."""
    import threading

    watch = [np.array([[0, 100], [140, 100], [140, 330], [0, 330]], float)]

    def frames(key_ahead: int) -> list[tuple[int, int, bytes]]:
        src = open_source(str(CLIP), analysis_fps=2, start_ms=0, watch=watch)
        assert isinstance(src, SparseVideoSource)
        src.key_ahead = key_ahead
        out = [(f.index, f.pos_ms, f.image.tobytes()) for f in src if isinstance(f, Frame)]
        assert src.truncated is None
        return out

    serial, ahead = frames(0), frames(3)
    assert len(serial) > 20
    assert ahead == serial  # same frames, same instants, same pixels

    src = open_source(str(CLIP), analysis_fps=2, start_ms=0, watch=watch)
    it = iter(src)
    next(it)
    it.close()  # the consumer leaves after one frame: the keyframe thread must end too
    assert not [t for t in threading.enumerate() if t.name == "keyframes-ahead"]


def test_motion_gate_ignores_noise_and_sees_a_vehicle() -> None:
    rng = np.random.default_rng(1)
    base = rng.integers(60, 200, (360, 640, 3), dtype=np.uint8)
    mask = region_mask(
        (640, 360), [np.array([[200, 150], [400, 150], [400, 300], [200, 300]], float)]
    )
    gate = MotionGate(mask)
    assert gate.changed(base)  # the first frame is always new
    noisy = np.clip(base.astype(int) + rng.integers(-4, 5, base.shape), 0, 255).astype(np.uint8)
    assert not gate.changed(noisy)
    car = base.copy()
    car[200:260, 250:350] = 30  # a dark vehicle-sized blob in the bay
    assert gate.changed(car)
    outside = base.copy()
    outside[0:40, 0:60] = 255  # something far from the bay
    gate2 = MotionGate(mask)
    gate2.changed(base)
    assert not gate2.changed(outside)


def _write_frames(folder: Path, names: list[str], sizes: dict[str, tuple[int, int]]) -> None:
    import cv2

    folder.mkdir()
    for i, name in enumerate(names):
        w, h = sizes.get(name, (64, 48))
        img = np.full((h, w, 3), i % 256, np.uint8)  # each frame's index as its grey level
        cv2.imwrite(str(folder / name), img)


def test_numbered_frames_are_read_in_natural_order(tmp_path: Path) -> None:
    names = [f"f{i}.png" for i in range(1, 26)]  # f1 … f25, not zero-padded
    _write_frames(tmp_path / "frames", names, {})
    src = open_source(str(tmp_path / "frames"), analysis_fps=10, start_ms=0, folder_fps=10)
    frames = [f for f in src if isinstance(f, Frame)]
    # String order would read f1, f10, f11, …, f19, f2, f20, …: grey levels out of order.
    assert [int(f.image[0, 0, 0]) for f in frames] == list(range(25))
    assert [f.pos_ms for f in frames[:3]] == [0, 100, 200]


def test_a_folder_whose_frame_size_changes_is_refused(tmp_path: Path) -> None:
    names = [f"f{i}.png" for i in range(1, 6)]
    _write_frames(tmp_path / "frames", names, {"f4.png": (80, 48)})
    with pytest.raises(SourceError, match=r"f4.png: frame is 80x48 but f1.png is 64x48"):
        open_source(str(tmp_path / "frames"), analysis_fps=2, start_ms=0, folder_fps=10)


def test_a_still_image_is_not_footage(tmp_path: Path) -> None:
    import cv2

    still = tmp_path / "still.jpg"
    cv2.imwrite(str(still), np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(SourceError, match=r"still.jpg: a still image, not footage"):
        open_source(str(still), analysis_fps=2, start_ms=0)
    # Renamed to look like a video, it is still one picture.
    disguised = tmp_path / "still.mp4"
    disguised.write_bytes(still.read_bytes())
    with pytest.raises(SourceError, match=r"still.mp4: a still image"):
        open_source(str(disguised), analysis_fps=2, start_ms=0)
