"""The one decoding layer (PyAV/FFmpeg) under every frame source: files, chunks and streams.

Two facts of a container that decoding must honour, whatever the mode:

* **Display matrix.** A camera mounted upside down records upside-down pixels and a
  180° display-rotation tag; players apply it, and so must we, or the detector sees
  vehicles upside down (and finds none) and the site's pixel polygons miss them.
  ``rotation`` is the counter-clockwise angle FFmpeg reports (``AVFrame`` display
  matrix side data, as ``ffprobe`` prints it), applied with ``np.rot90``.
* **Presentation timestamps.** Variable-frame-rate footage (phones, event-triggered
  cameras, dropped frames) has no fixed frame period: frame ``i`` is *not* at
  ``i / fps``. Every frame is stamped with its PTS relative to the first frame.

Which frames are analysed is one rule, the same for a whole read, a time range
(Ray chunks), sparse decoding and ``--exact``: a frame is picked when an analysis
tick (``k / analysis_fps`` seconds after the first frame) falls in the interval
since the previous frame, i.e. it is the first frame at or after that tick. The rule
needs only the frames' timestamps, which demuxing gives without decoding
(``FramePlan``), so any reader can tell which frames to convert and what index
each one has.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vision.types import Image

# Tolerance of the sampling rule (s): float PTS arithmetic must not move a frame to a tick.
_TICK_EPS = 1e-6


class DecodeError(RuntimeError):
    """The file cannot be decoded; the message is one line naming it."""


def rotate(image: Image, rotation: int) -> Image:
    """Apply a display rotation (degrees counter-clockwise, multiple of 90) to ``image``."""
    k = (round(rotation / 90)) % 4
    if k == 0:
        return image
    return np.ascontiguousarray(np.rot90(image, k))


def to_image(frame: av.VideoFrame, rotation: int) -> Image:
    """A decoded frame as displayed: BGR uint8 (H, W, 3), display rotation applied."""
    return rotate(np.asarray(frame.to_ndarray(format="bgr24"), np.uint8), rotation)


@dataclass(frozen=True)
class FramePlan:
    """Which frames of a file the analysis reads, from their timestamps alone.

    ``pts``: every frame's presentation timestamp in stream time-base units, sorted;
    ``picked``: pts → analysis index for the frames the sampling rule picks.
    """

    pts: tuple[int, ...]
    time_base: Fraction
    picked: dict[int, int]

    @property
    def first_pts(self) -> int:
        """The earliest presentation timestamp (time-base units)."""
        return self.pts[0]

    def rel_s(self, pts: int) -> float:
        """Seconds since the first frame."""
        return float((pts - self.pts[0]) * self.time_base)

    @classmethod
    def build(cls, pts: list[int], time_base: Fraction, analysis_fps: float) -> FramePlan:
        """The plan for frames with these presentation timestamps (``time_base`` units, any
        order, duplicates ignored): the first frame of each 1/``analysis_fps`` interval of
        time since the first frame is picked.
        """
        ordered = sorted(set(pts))
        picked: dict[int, int] = {}
        prev_tick: int | None = None
        t0 = ordered[0] if ordered else 0
        for p in ordered:
            tick = math.floor(float((p - t0) * time_base) * analysis_fps + _TICK_EPS)
            if prev_tick is None or tick > prev_tick:
                picked[p] = len(picked)
            prev_tick = tick
        return cls(tuple(ordered), time_base, picked)


@dataclass(frozen=True)
class VideoProbe:
    """What a video file holds, read once: rate, duration, displayed size, rotation."""

    path: Path
    native_fps: float
    duration_s: float | None
    frame_count: int
    frame_size: tuple[int, int]  # width, height as displayed (after rotation)
    rotation: int  # degrees counter-clockwise
    time_base: Fraction

    @classmethod
    def open(cls, path: Path) -> VideoProbe:
        """Probe ``path``; raises DecodeError (one line) for anything that is not a video."""
        try:
            with av.open(str(path)) as c:
                if not c.streams.video:
                    raise DecodeError(f"{path}: holds no video stream")
                s = c.streams.video[0]
                if s.time_base is None:
                    raise DecodeError(f"{path}: the video stream has no time base")
                first = next(iter(c.decode(s)), None)
                if first is None:
                    raise DecodeError(
                        f"{path}: contains no decodable frame (corrupt or truncated?)"
                    )
                rotation = int(getattr(first, "rotation", 0) or 0)
                fps = float(s.average_rate or s.guessed_rate or 0)
                duration = (
                    float(s.duration * s.time_base)
                    if s.duration and s.time_base
                    else (float(c.duration) / 1e6 if c.duration else None)
                )
                w, h = int(first.width), int(first.height)
                frames = int(s.frames or 0)
                tb = Fraction(s.time_base)
                single = c.format.name in {"image2", "png_pipe", "jpeg_pipe", "webp_pipe"}
        except av.FFmpegError as exc:
            why = " ".join(str(exc).split())
            raise DecodeError(f"{path}: not a video PyAV/FFmpeg can decode ({why})") from None
        if single:
            raise DecodeError(
                f"{path}: a still image, not footage: give a video file, a stream or a folder of frames"
            )
        if not 0 < fps <= 1000:
            raise DecodeError(f"{path}: frame rate {fps} is unusable")
        if rotation % 180:
            w, h = h, w
        return cls(path, fps, duration, frames, (w, h), rotation, tb)

    def plan(self, analysis_fps: float) -> FramePlan:
        """Demux (no decoding) every packet's timestamp and apply the sampling rule."""
        pts: list[int] = []
        try:
            with av.open(str(self.path)) as c:
                s = c.streams.video[0]
                for i, pkt in enumerate(c.demux(s)):
                    if pkt.size == 0:
                        continue  # the flush packet
                    p = pkt.pts if pkt.pts is not None else pkt.dts
                    if p is None:  # an elementary stream with no timing: assume the nominal rate
                        p = round(i / self.native_fps / self.time_base)
                    pts.append(int(p))
        except av.FFmpegError:
            pass  # a damaged tail: the plan covers what demuxes; decoding reports the truncation
        if not pts:
            raise DecodeError(f"{self.path}: contains no decodable frame (corrupt or truncated?)")
        return FramePlan.build(pts, self.time_base, analysis_fps)


def decode_from(
    container: av.container.InputContainer, start_s: float, first_pts: int
) -> Iterator[av.VideoFrame]:
    """Decoded frames from the keyframe at or before ``start_s`` (s after the first frame)."""
    s = container.streams.video[0]
    assert s.time_base is not None
    if start_s > 0:
        target = first_pts + int(start_s / s.time_base)
        container.seek(target, stream=s, backward=True, any_frame=False)
    for f in container.decode(s):
        if f.pts is not None:
            yield f
