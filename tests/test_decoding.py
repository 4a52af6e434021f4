"""One decoding layer: rotated and variable-frame-rate clips give the right sessions, at the
right times, in the default (sparse) and ``--exact`` modes alike.

The clips are made here with ffmpeg from the composed Intel aisle footage
(tests/scale/composed.py: two cars stop in the aisle, at 16.56 s for 9 s and at
... s for 10 s of the original timeline): one stored upside down with a 180° display
rotation tag (a camera mounted upside down), one whose first 8 s run at a fifth of
the frame rate (variable frame rate: frame i is not at i / fps).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from occupancy.config.site import load_site
from occupancy.runtime.analysis import analyse
from occupancy.storage.store import Store
from tests.conftest import needs_footage
from tests.scale.composed import compose, site_yaml
from vision.decoding import VideoProbe
from vision.sources import VideoFileSource, open_source
from vision.types import Frame

pytestmark = [
    needs_footage,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed"),
]

# One analysed frame at 2 fps: the resolution of any session time.
FRAME_S = 0.5


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("decoding")
    raw = compose(d / "stops_raw.mp4")
    h264 = ["-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-pix_fmt", "yuv420p"]
    plain = d / "plain.mp4"
    ffmpeg("-i", str(raw), *h264, str(plain))
    flipped = d / "flipped.mp4"
    ffmpeg("-i", str(raw), "-vf", "hflip,vflip", *h264, str(flipped))
    # Same upside-down pixels, now tagged: players (and we) must turn them back.
    rotated = d / "rotated.mp4"
    ffmpeg("-i", str(flipped), "-c", "copy", "-metadata:s:v:0", "rotate=180", str(rotated))
    vfr = d / "vfr.mp4"
    ffmpeg(
        "-i", str(raw), "-vf", "select='if(lt(t,8),not(mod(n,5)),1)'", "-fps_mode", "vfr",
        *h264, str(vfr),
    )  # fmt: skip
    return {"plain": plain, "rotated": rotated, "vfr": vfr}


def spans(video: Path, tmp: Path, detector_factory, *, exact: bool) -> list[tuple[float, float]]:  # type: ignore[no-untyped-def]
    site_path = tmp / f"site-{video.stem}-{exact}.yaml"
    site_path.write_text(site_yaml(video))
    site = load_site(site_path)
    start = round(site.source.start_time.timestamp() * 1000)  # type: ignore[union-attr]
    store = Store(f"sqlite:///{tmp / f'{video.stem}-{exact}.db'}")
    det = detector_factory(tuple(site.detector.classes))
    result = analyse(str(video), site, store, detector=det, exact=exact)
    store.close()
    return sorted(((s.start_ms - start) / 1000, (s.end_ms - start) / 1000) for s in result.sessions)


def close(a: list[tuple[float, float]], b: list[tuple[float, float]], tol: float) -> bool:
    return len(a) == len(b) and all(
        abs(x0 - y0) <= tol and abs(x1 - y1) <= tol for (x0, x1), (y0, y1) in zip(a, b, strict=True)
    )


def test_the_display_rotation_is_applied_in_every_mode(clips: dict[str, Path]) -> None:
    probe = VideoProbe.open(clips["rotated"])
    assert probe.rotation % 360 in (180, -180 % 360) and probe.frame_size == (768, 432)
    plain = [f.image for f in VideoFileSource(clips["plain"], 1.0, 0) if isinstance(f, Frame)]
    exact = [f.image for f in VideoFileSource(clips["rotated"], 1.0, 0) if isinstance(f, Frame)]
    whole = [np.array([[0, 0], [768, 0], [768, 432], [0, 432]], float)]
    sparse_src = open_source(str(clips["rotated"]), analysis_fps=1.0, start_ms=0, watch=whole)
    sparse = [f.image for f in sparse_src if isinstance(f, Frame)]
    assert len(plain) == len(exact) == len(sparse) > 30
    # Upright again: the same picture as the clip that was never flipped (codec noise only).
    for a, b, c in zip(plain, exact, sparse, strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 4
        assert np.abs(a.astype(int) - c.astype(int)).mean() < 4


def test_variable_frame_rate_frames_are_stamped_with_their_timestamps(
    clips: dict[str, Path],
) -> None:
    plain = {f.pos_ms for f in VideoFileSource(clips["plain"], 2.0, 0) if isinstance(f, Frame)}
    vfr = [f.pos_ms for f in VideoFileSource(clips["vfr"], 2.0, 0) if isinstance(f, Frame)]
    # Before 8 s one frame in five is left (every 0.4 s); after, every frame (0.08 s).
    assert vfr[:6] == [0, 800, 1200, 1600, 2000, 2800]  # the first frame at or after each tick
    after = [t for t in vfr if t >= 8000]
    assert after and set(after) <= plain  # the same instants as the constant-rate clip
    assert abs(vfr[-1] - max(plain)) <= 80
    whole = [np.array([[0, 0], [768, 0], [768, 432], [0, 432]], float)]
    sparse = open_source(str(clips["vfr"]), analysis_fps=2.0, start_ms=0, watch=whole)
    assert [f.pos_ms for f in sparse if isinstance(f, Frame)] == vfr


def test_rotated_and_vfr_clips_give_the_same_sessions_in_both_modes(
    clips: dict[str, Path], tmp_path: Path, detector_factory
) -> None:  # type: ignore[no-untyped-def]
    truth = spans(clips["plain"], tmp_path, detector_factory, exact=True)
    # Two cars stop (the first also seen as a second, overlapping box): tests/scale.
    assert len(truth) == 3
    for name in ("rotated", "vfr"):
        exact = spans(clips[name], tmp_path, detector_factory, exact=True)
        default = spans(clips[name], tmp_path, detector_factory, exact=False)
        assert close(exact, truth, FRAME_S), (name, exact, truth)
        assert close(default, exact, FRAME_S), (name, default, exact)
