"""Sparse decoding of recorded video: keyframes everywhere, whole GOPs only where it matters.

Decoding every frame of 25 fps 720p H.264 costs more than the rest of the
analysis. A keyframe decodes on its own, so this source first looks at the
keyframes only; where two consecutive keyframes show the same watched region,
nothing there changed in between worth more than the tracker's patience, and the
analysis frames of that group of pictures (GOP) reuse the first keyframe's
image. Where the region changed, the GOP is decoded in full (PyAV, threaded).

The keyframe pass runs in its own thread, a few keyframes ahead of the GOP
decoding (``key_ahead``): a 3 Mbit/s 720p keyframe takes 18-26 ms to decode on a 2-core
x86 VM (``bench/bench_decode.py``), so on a quiet kerb that pass is most of the work, and on a busy one
it would otherwise sit in series with the decoding of every GOP.

Which frames are analysed, their indices and times come from the same
``FramePlan`` as ``VideoFileSource`` (``--exact``), and images get the same display
rotation: the two modes look at the same instants of the same picture.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

from vision.decoding import FramePlan, to_image
from vision.motion import MotionGate, region_mask, thumbnail
from vision.prefetch import prefetched
from vision.sources import FrameSource, SourceError, VideoFileSource
from vision.types import Frame, Image

KEY_AHEAD = 3  # keyframes decoded ahead: enough to hide one, 8 MB of 720p images


class SparseVideoSource(FrameSource):
    """A recorded video read sparsely (see the module docstring): the same frames and times
    as ``VideoFileSource`` with the same plan, but whole GOPs decoded only where the
    ``watch`` polygons (pixel ``(K, 2)`` arrays, the zones) changed between keyframes.
    """

    def __init__(
        self,
        path: Path,
        analysis_fps: float,
        start_ms: int,
        watch: Sequence[np.ndarray],
        *,
        probe: VideoFileSource | None = None,
        key_ahead: int = KEY_AHEAD,
    ) -> None:
        # The exact source validates the file (one clear error for junk) and owns the plan.
        self.exact = probe or VideoFileSource(path, analysis_fps, start_ms)
        self.path = path
        self.analysis_fps = analysis_fps
        self.start_ms = start_ms
        self.gops_total = 0
        self.gops_decoded = 0
        self.info = self.exact.info
        self.native_fps = self.exact.native_fps
        self.rotation = self.exact.probe.rotation
        assert self.info.frame_size is not None
        self.gate = MotionGate(region_mask(self.info.frame_size, watch))
        self.key_ahead = key_ahead  # 0: keyframes decoded in the consumer's thread

    def _keyframes(self) -> Iterator[tuple[int, Image, NDArray[np.int16]]]:
        with av.open(str(self.path)) as c:
            s = c.streams.video[0]
            s.codec_context.skip_frame = "NONKEY"
            for f in c.decode(s):
                if f.pts is not None:
                    image = to_image(f, self.rotation)
                    yield int(f.pts), image, thumbnail(image, self.gate.mask.shape)

    def _decode_range(
        self, c: av.container.InputContainer, p0: int, p1: float
    ) -> Iterator[tuple[int, av.VideoFrame]]:
        s = c.streams.video[0]
        c.seek(p0, stream=s, backward=True, any_frame=False)
        for f in c.decode(s):
            if f.pts is None or f.pts < p0:
                continue
            if f.pts >= p1:
                break
            yield int(f.pts), f  # converted to BGR only if the analysis samples it

    def __iter__(self) -> Iterator[Frame]:
        plan: FramePlan = self.exact.plan
        picked = plan.picked
        ordered = sorted(picked)
        full = av.open(str(self.path))
        full.streams.video[0].thread_type = "AUTO"
        decoded_to = -math.inf  # last pts emitted: every picked frame exactly once, in order

        def frame(p: int, image: Image | av.VideoFrame) -> Frame:
            if isinstance(image, av.VideoFrame):
                image = to_image(image, self.rotation)
            pos_ms = round(plan.rel_s(p) * 1000)
            return Frame(image, picked[p], pos_ms, self.start_ms + pos_ms)

        def static(p0: int, p1: float, image: Image) -> Iterator[Frame]:
            # Same picture all GOP long: emit it at the frames the analysis picks there.
            nonlocal decoded_to
            for p in ordered:
                if p0 <= p < p1 and p > decoded_to:
                    decoded_to = p
                    yield frame(p, image)

        def decoded(p0: int, p1: float) -> Iterator[Frame]:
            nonlocal decoded_to
            # Decode only up to the last frame the analysis picks in [p0, p1): at 2 fps in a
            # 2 s GOP of 25 fps that spares the last 11 of its 50 frames, and at a low rate a
            # GOP without a picked frame is not decoded at all. Same frames either way.
            i = bisect.bisect_left(ordered, max(p0, decoded_to + 1))
            if i == len(ordered) or ordered[i] >= p1:
                return
            last = ordered[bisect.bisect_left(ordered, p1) - 1]
            for p, f in self._decode_range(full, p0, min(p1, last + 1)):
                if p in picked and p > decoded_to:
                    decoded_to = p
                    yield frame(p, f)

        keys = prefetched(self._keyframes(), self.key_ahead, name="keyframes-ahead")
        try:
            prev: tuple[int, Image, NDArray[np.int16]] | None = None
            for p, image, thumb in keys:
                if prev is not None:
                    self.gops_total += 1
                    pp, pimg, pthumb = prev
                    if self.gate.differs(thumb, pthumb):
                        self.gops_decoded += 1
                        yield from decoded(pp, p)
                    else:
                        yield from static(pp, p, pimg)
                else:
                    # Frames before the first keyframe (an open GOP's leading pictures).
                    yield from decoded(plan.first_pts, p)
                prev = (p, image, thumb)
            if prev is None:
                raise SourceError(
                    f"{self.path}: contains no decodable frame (corrupt or truncated?)"
                )
            # The tail after the last keyframe has no keyframe to compare with: decode it.
            self.gops_total += 1
            self.gops_decoded += 1
            yield from decoded(prev[0], math.inf)
            missing = sum(1 for p in ordered if p > decoded_to)
            if missing or self.exact._short(plan):
                got = plan.rel_s(plan.pts[-1]) if not missing else plan.rel_s(int(decoded_to))
                total = self.info.duration_s or plan.rel_s(plan.pts[-1])
                self.truncated = (
                    f"{self.path}: truncated or corrupt: decoded {got:.1f} s of {total:.1f} s"
                )
        except av.FFmpegError as exc:
            why = " ".join(str(exc).split())
            self.truncated = f"{self.path}: decoding failed ({why})"
        finally:
            keys.close()  # stops the keyframe thread when the consumer leaves early
            full.close()
