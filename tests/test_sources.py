"""Frame sources: analysis rate independent of footage rate, timing, bad files, reconnects."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.conftest import FOOTAGE, needs_footage
from vision.sources import LiveSource, SourceError, open_source
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
