"""Sparse decoding of recorded video: keyframes everywhere, whole GOPs only where it matters.

Decoding every frame of 25 fps 720p H.264 costs more than the rest of the
analysis. A keyframe decodes on its own, so this source first looks at the
keyframes only; where two consecutive keyframes show the same watched region,
nothing there changed in between worth more than the tracker's patience, and the
analysis frames of that group of pictures (GOP) reuse the first keyframe's
image. Where the region changed, the GOP is decoded in full (PyAV, threaded) and
sampled at the analysis rate like any other source.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

from vision.motion import MotionGate, region_mask, thumbnail
from vision.sources import FrameSource, SourceError, SourceInfo, _file_fingerprint
from vision.types import Frame, Image


class SparseVideoSource(FrameSource):
    def __init__(
        self,
        path: Path,
        analysis_fps: float,
        start_ms: int,
        watch: Sequence[np.ndarray],
        fingerprint: str | None = None,
    ) -> None:
        self.path = path
        self.analysis_fps = analysis_fps
        self.start_ms = start_ms
        self.gops_total = 0
        self.gops_decoded = 0
        try:
            with av.open(str(path)) as c:
                if not c.streams.video:
                    raise SourceError(f"{path}: holds no video stream")
                s = c.streams.video[0]
                fps = float(s.average_rate or s.guessed_rate or 0)
                duration = (
                    float(s.duration * s.time_base)
                    if s.duration and s.time_base
                    else (float(c.duration) / 1e6 if c.duration else None)
                )
                w, h = s.codec_context.width, s.codec_context.height
        except av.FFmpegError as exc:
            raise SourceError(f"{path}: not a video PyAV/FFmpeg can decode ({exc})") from None
        if not 0 < fps <= 1000:
            raise SourceError(f"{path}: frame rate {fps} is unusable")
        self.native_fps = fps
        self.gate = MotionGate(region_mask((w, h), watch))
        self.info = SourceInfo(
            description=str(path),
            live=False,
            native_fps=fps,
            duration_s=duration,
            frame_size=(w, h),
            fingerprint=fingerprint or _file_fingerprint(path),
        )

    def _keyframes(self) -> Iterator[tuple[float, Image]]:
        with av.open(str(self.path)) as c:
            s = c.streams.video[0]
            s.codec_context.skip_frame = "NONKEY"
            for f in c.decode(s):
                if f.time is not None:
                    yield float(f.time), np.asarray(f.to_ndarray(format="bgr24"), np.uint8)

    def _decode_range(
        self, c: av.container.InputContainer, t0: float, t1: float
    ) -> Iterator[tuple[float, av.VideoFrame]]:
        s = c.streams.video[0]
        assert s.time_base is not None
        c.seek(int(t0 / s.time_base), stream=s, backward=True, any_frame=False)
        for f in c.decode(s):
            if f.time is None:
                continue
            t = float(f.time)
            if t < t0 - 1e-6:
                continue
            if t >= t1 - 1e-6:
                break
            yield t, f  # converted to BGR only if the analysis samples it

    def __iter__(self) -> Iterator[Frame]:
        period = 1.0 / self.analysis_fps
        frame_dt = 1.0 / self.native_fps
        t_first: float | None = None
        next_t = 0.0
        n = 0
        full = av.open(str(self.path))
        full.streams.video[0].thread_type = "AUTO"

        def emit(t: float, image: Image | av.VideoFrame) -> Iterator[Frame]:
            # Exactly the sampling rule of VideoFileSource: the first frame at or after each tick.
            nonlocal next_t, n
            rel = t - (t_first or 0.0)
            if rel + 1e-6 < next_t:
                return
            if isinstance(image, av.VideoFrame):
                image = np.asarray(image.to_ndarray(format="bgr24"), np.uint8)
            pos_ms = round(rel * 1000)
            yield Frame(image, n, pos_ms, self.start_ms + pos_ms)
            n += 1
            next_t += period
            while next_t <= rel:
                next_t += period

        def fill_static(t0: float, t1: float, image: Image) -> Iterator[Frame]:
            # Same picture all GOP long: emit it at the frame times the analysis would have picked.
            base = t_first or 0.0
            while True:
                rel = math.ceil((next_t - 1e-6) / frame_dt) * frame_dt
                if base + rel >= t1 - 1e-6:
                    return
                yield from emit(max(base + rel, t0), image)

        try:
            prev: tuple[float, Image, NDArray[np.int16]] | None = None
            for t, image in self._keyframes():
                thumb = thumbnail(image, self.gate.mask.shape)
                if t_first is None:
                    t_first = t
                if prev is not None:
                    self.gops_total += 1
                    pt, pimg, pthumb = prev
                    if self.gate.differs(thumb, pthumb):
                        self.gops_decoded += 1
                        for ft, fimg in self._decode_range(full, pt, t):
                            yield from emit(ft, fimg)
                    else:
                        yield from fill_static(pt, t, pimg)
                prev = (t, image, thumb)
            if prev is None:
                raise SourceError(
                    f"{self.path}: contains no decodable frame (corrupt or truncated?)"
                )
            # The tail after the last keyframe has no keyframe to compare with: decode it.
            self.gops_total += 1
            self.gops_decoded += 1
            last_t = prev[0]
            for ft, fimg in self._decode_range(full, prev[0], math.inf):
                last_t = ft
                yield from emit(ft, fimg)
            duration = self.info.duration_s
            if duration is not None and last_t - (t_first or 0.0) < duration - max(
                1.0, 3 * frame_dt
            ):
                self.truncated = (
                    f"{self.path}: truncated or corrupt: decoded {last_t:.1f} s of {duration:.1f} s"
                )
        except av.FFmpegError as exc:
            self.truncated = f"{self.path}: decoding failed after {next_t:.1f} s ({exc})"
        finally:
            full.close()
