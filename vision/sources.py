"""Frame sources: a video file, a folder of frames, a live stream URL or a webcam.

Each yields the frames to analyse at the analysis rate, independent of the
footage's own frame rate, stamped with the footage timeline plus a start time
(recorded) or the wall clock (live). A live source that drops is reopened with
exponential backoff and reports the outage as a ``SourceGap``.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vision.types import Frame, SourceGap

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://")


class SourceError(RuntimeError):
    """The source cannot be read; the message is one line naming it."""


@dataclass(frozen=True)
class SourceInfo:
    description: str
    live: bool
    native_fps: float | None
    duration_s: float | None
    frame_size: tuple[int, int] | None  # width, height
    fingerprint: str  # identifies recorded footage across runs


class FrameSource:
    """Base class: iterate to get ``Frame``s (and ``SourceGap``s for live sources)."""

    info: SourceInfo
    truncated: str | None = None  # set after iteration when recorded footage ended early

    def __iter__(self) -> Iterator[Frame | SourceGap]:
        raise NotImplementedError

    def expected_frames(self, analysis_fps: float) -> int | None:
        if self.info.duration_s is None:
            return None
        return max(1, math.ceil(self.info.duration_s * analysis_fps - 1e-9))


def _file_fingerprint(path: Path) -> str:
    h = hashlib.sha1()
    size = path.stat().st_size
    h.update(str(size).encode())
    with path.open("rb") as f:
        h.update(f.read(1 << 20))
        if size > 2 << 20:
            f.seek(-(1 << 20), os.SEEK_END)
            h.update(f.read())
    return h.hexdigest()


class VideoFileSource(FrameSource):
    """A recorded video; ``start_s``/``end_s`` read only part of it (a chunk of a long file).

    A part yields exactly the frames, times and indices that reading the whole file
    yields over that range, so chunks analysed apart line up with a whole-file run.
    """

    def __init__(
        self,
        path: Path,
        analysis_fps: float,
        start_ms: int,
        *,
        start_s: float = 0.0,
        end_s: float | None = None,
    ) -> None:
        if start_s < 0 or (end_s is not None and end_s <= start_s):
            raise SourceError(f"{path}: invalid time range {start_s} s to {end_s} s")
        self.start_s = start_s
        self.end_s = end_s
        if not path.exists():
            raise SourceError(f"{path}: no such file")
        if path.stat().st_size == 0:
            raise SourceError(f"{path}: file is empty")
        self.path = path
        self.analysis_fps = analysis_fps
        self.start_ms = start_ms
        cap = cv2.VideoCapture(str(path))
        try:
            if not cap.isOpened():
                raise SourceError(
                    f"{path}: not a video OpenCV/FFmpeg can decode (corrupt or truncated?)"
                )
            fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
            h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
            ok = cap.grab()
            if not ok:
                raise SourceError(f"{path}: contains no decodable frame (corrupt or truncated?)")
        finally:
            cap.release()
        if not 0 < fps <= 1000:
            raise SourceError(f"{path}: frame rate {fps} is unusable")
        self.native_fps = fps
        self.frame_count = count
        self.info = SourceInfo(
            description=str(path),
            live=False,
            native_fps=fps,
            duration_s=count / fps if count > 0 else None,
            frame_size=(w, h),
            fingerprint=_file_fingerprint(path),
        )

    def _first_index(self) -> int:
        return max(0, math.ceil(self.start_s * self.native_fps - 1e-6))

    def __iter__(self) -> Iterator[Frame]:
        cap = cv2.VideoCapture(str(self.path))
        period = 1.0 / self.analysis_fps
        next_t = 0.0
        i = 0
        n = 0
        first = self._first_index()
        if first > 0:
            # Replay the sampling arithmetic up to the range (no decoding), so the frames
            # picked from here on are the ones a whole-file read picks, then seek.
            while i < first:
                t = i / self.native_fps
                i += 1
                if t + 1e-6 < next_t:
                    continue
                n += 1
                next_t += period
                while next_t <= t:
                    next_t += period
            cap.set(cv2.CAP_PROP_POS_FRAMES, first)
        try:
            while True:
                t = i / self.native_fps
                if self.end_s is not None and t + 1e-6 >= self.end_s:
                    break
                # grab() demuxes and decodes, retrieve() only converts: skipped frames cost less.
                if not cap.grab():
                    break
                i += 1
                if t + 1e-6 < next_t:
                    continue
                ok, image = cap.retrieve()
                if not ok or image is None:
                    break
                pos_ms = round(t * 1000)
                yield Frame(np.ascontiguousarray(image), n, pos_ms, self.start_ms + pos_ms)
                n += 1
                next_t += period
                while next_t <= t:
                    next_t += period
        finally:
            cap.release()
        wanted = self.frame_count
        if self.end_s is not None:
            wanted = min(wanted, math.ceil(self.end_s * self.native_fps - 1e-6))
        if self.frame_count > 0 and i < wanted - max(2, self.frame_count // 100):
            self.truncated = (
                f"{self.path}: truncated or corrupt: decoded {i / self.native_fps:.1f} s of "
                f"{self.frame_count / self.native_fps:.1f} s"
            )


class ImageFolderSource(FrameSource):
    def __init__(self, folder: Path, fps: float | None, analysis_fps: float, start_ms: int) -> None:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise SourceError(
                f"{folder}: folder holds no image frames ({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        if fps is None:
            raise SourceError(
                f"{folder}: a folder of frames needs its frame rate (--folder-fps or source.fps)"
            )
        first = cv2.imread(str(files[0]))
        if first is None:
            raise SourceError(f"{files[0]}: not a decodable image")
        h = hashlib.sha1()
        for p in files:
            h.update(f"{p.name}:{p.stat().st_size};".encode())
        h.update(files[0].read_bytes()[: 1 << 16])
        self.files = files
        self.fps = fps
        self.analysis_fps = analysis_fps
        self.start_ms = start_ms
        self.info = SourceInfo(
            description=str(folder),
            live=False,
            native_fps=fps,
            duration_s=len(files) / fps,
            frame_size=(first.shape[1], first.shape[0]),
            fingerprint=h.hexdigest(),
        )

    def __iter__(self) -> Iterator[Frame]:
        period = 1.0 / self.analysis_fps
        next_t = 0.0
        n = 0
        for i, path in enumerate(self.files):
            t = i / self.fps
            if t + 1e-6 < next_t:
                continue
            image = cv2.imread(str(path))
            if image is None:
                raise SourceError(f"{path}: not a decodable image")
            pos_ms = round(t * 1000)
            yield Frame(np.asarray(image, np.uint8), n, pos_ms, self.start_ms + pos_ms)
            n += 1
            next_t += period
            while next_t <= t:
                next_t += period


class LiveSource(FrameSource):
    """An RTSP/HTTP stream or a webcam; frames are timed by the wall clock."""

    def __init__(
        self,
        target: str | int,
        analysis_fps: float,
        *,
        max_backoff_s: float = 30.0,
        give_up_after_s: float | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.target = target
        self.analysis_fps = analysis_fps
        self.max_backoff_s = max_backoff_s
        self.give_up_after_s = give_up_after_s
        self.clock = clock
        self.sleep = sleep
        self.stopped = False
        cap = self._open()
        if cap is None:
            raise SourceError(f"{self._label()}: cannot open stream")
        self._cap: cv2.VideoCapture | None = cap
        w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.info = SourceInfo(
            description=self._label(),
            live=True,
            native_fps=float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or None,
            duration_s=None,
            frame_size=(w, h) if w and h else None,
            fingerprint=hashlib.sha1(self._label().encode()).hexdigest(),
        )

    def _label(self) -> str:
        return f"webcam {self.target}" if isinstance(self.target, int) else str(self.target)

    def _open(self) -> cv2.VideoCapture | None:
        cap = cv2.VideoCapture(self.target)
        if not cap.isOpened():
            cap.release()
            return None
        return cap

    def stop(self) -> None:
        self.stopped = True

    def __iter__(self) -> Iterator[Frame | SourceGap]:
        period = 1.0 / self.analysis_fps
        opened_at = self.clock()
        next_t = opened_at
        n = 0
        cap = self._cap
        while not self.stopped:
            ok = cap is not None and cap.grab()
            now = self.clock()
            if ok and cap is not None:
                if now + 1e-6 < next_t:
                    continue
                ok, image = cap.retrieve()
                if ok and image is not None:
                    yield Frame(
                        np.asarray(image, np.uint8),
                        n,
                        round((now - opened_at) * 1000),
                        round(now * 1000),
                    )
                    n += 1
                    next_t = max(next_t + period, now)
                    continue
            # The stream dropped: reopen with exponential backoff, then report the gap.
            if cap is not None:
                cap.release()
            lost = now
            backoff = 0.5
            cap = None
            while cap is None and not self.stopped:
                if self.give_up_after_s is not None and self.clock() - lost > self.give_up_after_s:
                    raise SourceError(
                        f"{self._label()}: stream lost for more than {self.give_up_after_s:.0f} s"
                    )
                self.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                cap = self._open()
            if cap is not None:
                restored = self.clock()
                yield SourceGap(round(lost * 1000), round(restored * 1000), "stream dropped")
                next_t = restored
        if cap is not None:
            cap.release()


def open_source(
    uri: str,
    *,
    analysis_fps: float,
    start_ms: int | None,
    folder_fps: float | None = None,
    give_up_after_s: float | None = None,
    watch: Sequence[np.ndarray] | None = None,
) -> FrameSource:
    """Open ``uri``: a webcam index, a stream URL, a frame folder or a video file.

    ``watch``: the image polygons that matter (bays, lane zones). Given, a video
    file is decoded sparsely (keyframes, and whole GOPs only where they change).
    """
    if analysis_fps <= 0:
        raise SourceError(f"analysis rate must be positive, got {analysis_fps}")
    if uri.isdigit():
        return LiveSource(int(uri), analysis_fps, give_up_after_s=give_up_after_s)
    if uri.lower().startswith(STREAM_SCHEMES):
        return LiveSource(uri, analysis_fps, give_up_after_s=give_up_after_s)
    path = Path(uri).expanduser()
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    if start_ms is None:
        # Recorded footage with no stated start: the file's modification time is the best clue.
        start_ms = round(path.stat().st_mtime * 1000)
    if path.is_dir():
        return ImageFolderSource(path, folder_fps, analysis_fps, start_ms)
    if watch is not None:
        # Validate with OpenCV first (one clear error for junk), then decode sparsely.
        probe = VideoFileSource(path, analysis_fps, start_ms)
        from vision.sparse import SparseVideoSource

        return SparseVideoSource(path, analysis_fps, start_ms, watch, probe.info.fingerprint)
    return VideoFileSource(path, analysis_fps, start_ms)
