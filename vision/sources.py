"""Frame sources: a video file, a folder of frames, a live stream URL or a webcam.

Each yields the frames to analyse at the analysis rate, independent of the
footage's own frame rate, stamped with the footage timeline plus a start time
(recorded) or the wall clock (live). Every video is decoded by one layer,
``vision.decoding`` (PyAV): display rotation applied, presentation timestamps kept.

A live source watches frame arrival: when no frame has come for
``frame_timeout_s`` it reports ``SourceLost`` at once (stamped with the last good
frame), reopens the stream with exponential backoff, and reports ``SourceGap``
(the outage, lost to restored) when frames flow again.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vision.decoding import DecodeError, FramePlan, VideoProbe, decode_from, to_image
from vision.types import Frame, SourceGap, SourceLost

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://")
# Seconds without a frame after which a live source counts as lost; the commands pass
# BAYWATCH_LIVE_FRAME_TIMEOUT_S (occupancy.config.settings).
DEFAULT_FRAME_TIMEOUT_S = 5.0
# Seconds to wait, after a silence, for the error that shows returning frames were stale.
_STALE_PEEK_S = 0.5
# Seconds a stream may take to answer when it is (re)opened.
_OPEN_TIMEOUT_S = 10.0


class SourceError(RuntimeError):
    """The source cannot be read; the message is one line naming it."""


@dataclass(frozen=True)
class SourceInfo:
    """What a source is: a ``description`` for people, ``live`` or recorded, the native
    frame rate (fps) and duration (s) when known, ``frame_size`` = (width, height) in
    pixels when known, and a ``fingerprint`` of recorded content (never of file times).
    """

    description: str
    live: bool
    native_fps: float | None
    duration_s: float | None
    frame_size: tuple[int, int] | None  # width, height
    fingerprint: str  # identifies recorded footage across runs (content, never file times)


class FrameSource:
    """Base class: iterate to get ``Frame``s (and ``SourceLost``/``SourceGap`` for live ones).

    ``clock`` says where frame times come from: ``given`` (a start time was stated),
    ``creation_time`` (the container's recording time tag), ``file_mtime`` (the file's
    modification time, the last resort) or ``wall`` (live sources).
    """

    info: SourceInfo
    truncated: str | None = None  # set after iteration when recorded footage ended early
    clock: str = "given"

    def __iter__(self) -> Iterator[Frame | SourceGap | SourceLost]:
        raise NotImplementedError

    def expected_frames(self, analysis_fps: float) -> int | None:
        """How many frames an analysis at ``analysis_fps`` will see (for progress bars); None
        for a live source or an unknown duration.
        """
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


def _check_file(path: Path) -> None:
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise SourceError(f"{path}: file is empty")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise SourceError(
            f"{path}: a still image, not footage: give a video file, a stream or a folder of frames"
        )


class VideoFileSource(FrameSource):
    """A recorded video; ``start_s``/``end_s`` read only part of it (a chunk of a long file).

    Decoded with PyAV (``vision.decoding``): display rotation applied, frames stamped
    with their presentation timestamps. A part yields exactly the frames, times and
    indices that reading the whole file yields over that range, so chunks analysed
    apart line up with a whole-file run.
    """

    def __init__(
        self,
        path: Path,
        analysis_fps: float,
        start_ms: int,
        *,
        start_s: float = 0.0,
        end_s: float | None = None,
        fingerprint: str | None = None,
    ) -> None:
        if start_s < 0 or (end_s is not None and end_s <= start_s):
            raise SourceError(f"{path}: invalid time range {start_s} s to {end_s} s")
        self.start_s = start_s
        self.end_s = end_s
        _check_file(path)
        self.path = path
        self.analysis_fps = analysis_fps
        self.start_ms = start_ms
        try:
            self.probe = VideoProbe.open(path)
        except DecodeError as exc:
            raise SourceError(str(exc)) from None
        self.native_fps = self.probe.native_fps
        self.frame_count = self.probe.frame_count
        self._plan: FramePlan | None = None
        self.info = SourceInfo(
            description=str(path),
            live=False,
            native_fps=self.probe.native_fps,
            duration_s=self.probe.duration_s,
            frame_size=self.probe.frame_size,
            fingerprint=fingerprint or _file_fingerprint(path),
        )

    @property
    def plan(self) -> FramePlan:
        """The file's ``FramePlan`` (which frames are analysed, at which times), built on first
        use. Raises ``SourceError`` when the file cannot be demuxed.
        """
        if self._plan is None:
            try:
                self._plan = self.probe.plan(self.analysis_fps)
            except DecodeError as exc:
                raise SourceError(str(exc)) from None
        return self._plan

    def __iter__(self) -> Iterator[Frame]:
        plan = self.plan
        rotation = self.probe.rotation
        wanted = [
            p
            for p in plan.picked
            if plan.rel_s(p) + 1e-6 >= self.start_s
            and (self.end_s is None or plan.rel_s(p) + 1e-6 < self.end_s)
        ]
        last_wanted = wanted[-1] if wanted else None
        done = 0
        try:
            with av.open(str(self.path)) as c:
                c.streams.video[0].thread_type = "AUTO"
                for f in decode_from(c, self.start_s, plan.first_pts):
                    p = int(f.pts or 0)  # decode_from yields frames with a pts only
                    if last_wanted is None or p > last_wanted:
                        break
                    index = plan.picked.get(p)
                    if index is None or plan.rel_s(p) + 1e-6 < self.start_s:
                        continue
                    pos_ms = round(plan.rel_s(p) * 1000)
                    yield Frame(to_image(f, rotation), index, pos_ms, self.start_ms + pos_ms)
                    done += 1
        except av.FFmpegError as exc:
            why = " ".join(str(exc).split())
            self.truncated = f"{self.path}: decoding failed after {done} analysed frames ({why})"
            return
        if done < len(wanted) or self._short(plan):
            got = plan.rel_s(plan.pts[-1])
            total = self.info.duration_s or got
            self.truncated = (
                f"{self.path}: truncated or corrupt: decoded {got:.1f} s of {total:.1f} s"
            )

    def _short(self, plan: FramePlan) -> bool:
        """The demuxed frames stop well before the container's stated duration."""
        duration = self.info.duration_s
        if duration is None or self.end_s is not None:
            return False
        return plan.rel_s(plan.pts[-1]) < duration - max(1.0, 3 / self.native_fps)


def natural_key(path: Path) -> tuple[object, ...]:
    """Sort key reading digit runs as numbers: f2 before f10 (cameras rarely zero-pad)."""
    return tuple(
        int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)
    )


def _image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file's header, without decoding its pixels."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        with PILImage.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except (UnidentifiedImageError, OSError):
        return None


class ImageFolderSource(FrameSource):
    """Numbered frames in a folder, in natural order, all of one size, at a stated rate."""

    def __init__(self, folder: Path, fps: float | None, analysis_fps: float, start_ms: int) -> None:
        files = sorted(
            (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=natural_key
        )
        if not files:
            raise SourceError(
                f"{folder}: folder holds no image frames ({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        if fps is None:
            raise SourceError(
                f"{folder}: a folder of frames needs its frame rate (--folder-fps or source.fps)"
            )
        size = _image_size(files[0])
        if size is None:
            raise SourceError(f"{files[0]}: not a decodable image")
        # One calibration serves one frame size: a folder that changes size mid-way would be
        # analysed with the wrong zones from there on.
        for p in files[1:]:
            other = _image_size(p)
            if other is None:
                raise SourceError(f"{p}: not a decodable image")
            if other != size:
                raise SourceError(
                    f"{p}: frame is {other[0]}x{other[1]} but {files[0].name} is "
                    f"{size[0]}x{size[1]}; one source has one frame size"
                )
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
            frame_size=size,
            fingerprint=h.hexdigest(),
        )

    def __iter__(self) -> Iterator[Frame]:
        plan = FramePlan.build(
            list(range(len(self.files))), 1 / _fraction(self.fps), self.analysis_fps
        )
        for i, path in enumerate(self.files):
            n = plan.picked.get(i)
            if n is None:
                continue
            image = cv2.imread(str(path))
            if image is None:
                raise SourceError(f"{path}: not a decodable image")
            pos_ms = round(plan.rel_s(i) * 1000)
            yield Frame(np.asarray(image, np.uint8), n, pos_ms, self.start_ms + pos_ms)


def _fraction(x: float) -> Fraction:
    return Fraction(x).limit_denominator(1_000_000)


@dataclass(frozen=True)
class _Arrival:
    wall_s: float
    image: np.ndarray
    conn: int  # which connection of the reader delivered it
    stream_ms: int | None = None  # presentation time since the connection's first frame


@dataclass(frozen=True)
class _Down:
    wall_s: float
    reason: str
    conn: int


class LiveSource(FrameSource):
    """An RTSP/HTTP stream or a webcam, decoded by PyAV; frames are timed by the wall clock.

    A reader thread decodes and reconnects; iteration watches frame arrival. Silence
    longer than ``frame_timeout_s`` (or the stream closing) yields one ``SourceLost``
    stamped with the last good frame's time, when it is noticed; the first frame after
    yields ``SourceGap(lost, restored)``. ``give_up_after_s``: raise SourceError once
    the outage lasts that long (``None``: keep trying). ``decoder_threads``: FFmpeg's
    decoding threads for this stream (``None``: FFmpeg's choice).
    """

    clock = "wall"

    def __init__(
        self,
        target: str | int,
        analysis_fps: float,
        *,
        frame_timeout_s: float = DEFAULT_FRAME_TIMEOUT_S,
        max_backoff_s: float = 30.0,
        give_up_after_s: float | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        decoder_threads: int | None = None,
    ) -> None:
        if frame_timeout_s <= 0:
            raise SourceError(f"frame timeout must be positive, got {frame_timeout_s}")
        self.target = target
        self.analysis_fps = analysis_fps
        self.frame_timeout_s = frame_timeout_s
        self.max_backoff_s = max_backoff_s
        self.give_up_after_s = give_up_after_s
        self._now = clock
        self.sleep = sleep
        self.decoder_threads = decoder_threads
        self._stop = threading.Event()
        container = self._open()
        if container is None:
            raise SourceError(f"{self._label()}: cannot open stream")
        s = container.streams.video[0]
        cc = s.codec_context
        self._first: av.container.InputContainer | None = container
        self.info = SourceInfo(
            description=self._label(),
            live=True,
            native_fps=float(s.average_rate or 0) or None,
            duration_s=None,
            frame_size=(cc.width, cc.height) if cc.width and cc.height else None,
            fingerprint=hashlib.sha1(self._label().encode()).hexdigest(),
        )
        self._queue: queue.Queue[_Arrival | _Down] = queue.Queue(maxsize=4)
        self._reader: threading.Thread | None = None

    @property
    def stopped(self) -> bool:
        """Whether ``stop()`` was called."""
        return self._stop.is_set()

    def _label(self) -> str:
        return f"webcam {self.target}" if isinstance(self.target, int) else str(self.target)

    def _open(self) -> av.container.InputContainer | None:
        # The read timeout makes a stalled connection fail (and reconnect) instead of
        # blocking the reader forever. It is longer than the watchdog's, so the silence is
        # reported first and what the demuxer flushes on the error is known to be stale.
        timeout = (_OPEN_TIMEOUT_S, 2 * self.frame_timeout_s)
        try:
            if isinstance(self.target, int):
                c = av.open(f"/dev/video{self.target}", format="v4l2", timeout=timeout)
            else:
                opts = {"rtsp_transport": "tcp"} if self.target.startswith("rtsp") else {}
                c = av.open(self.target, options=opts, timeout=timeout)
        except (av.FFmpegError, OSError):
            return None
        if not c.streams.video:
            c.close()
            return None
        if self.decoder_threads is not None:
            # Before the first decode: PyAV opens the decoder then, with this thread count.
            c.streams.video[0].codec_context.thread_count = self.decoder_threads
        return c

    def stop(self) -> None:
        """Ask the reader thread to stop; iteration ends after the frame in hand. Thread-safe."""
        self._stop.set()

    def _put(self, item: _Arrival | _Down) -> None:
        # Live analysis wants the newest picture: when the consumer lags, drop the oldest.
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._queue.get_nowait()

    def _read(self) -> None:
        period = 1.0 / self.analysis_fps
        next_t = 0.0
        container = self._first
        self._first = None
        backoff = 0.5
        conn = 0
        while not self._stop.is_set():
            if container is None:
                self.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                container = self._open()
                conn += 1
                continue
            reason = "stream ended"
            try:
                s = container.streams.video[0]
                first_pts: int | None = None
                for pkt in container.demux(s):
                    if self._stop.is_set():
                        break
                    if pkt.size == 0:
                        # The end-of-stream flush: frames still inside the decoder are stale
                        # by now, and stamping them with the wall clock would fake a return.
                        continue
                    for f in pkt.decode():
                        if first_pts is None and f.pts is not None:
                            first_pts = f.pts
                        now = self._now()
                        if now + 1e-6 < next_t:
                            continue
                        rotation = int(getattr(f, "rotation", 0) or 0)
                        stream_ms = (
                            round(1000 * float((f.pts - first_pts) * f.time_base))
                            if f.pts is not None and first_pts is not None and f.time_base
                            else None
                        )
                        self._put(_Arrival(now, to_image(f, rotation), conn, stream_ms))
                        next_t = max(next_t + period, now)
                        backoff = 0.5
            except (av.FFmpegError, OSError) as exc:
                reason = " ".join(str(exc).split()) or type(exc).__name__
            finally:
                container.close()
            container = None
            if not self._stop.is_set():
                self._put(_Down(self._now(), reason, conn))

    def _peek(self, seconds: float) -> list[_Arrival | _Down]:
        out: list[_Arrival | _Down] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                out.append(self._queue.get(timeout=left))
            except queue.Empty:
                break
        return out

    def __iter__(self) -> Iterator[Frame | SourceGap | SourceLost]:
        self._reader = threading.Thread(
            target=self._read, name=f"read-{self._label()}", daemon=True
        )
        self._reader.start()
        opened_at = self._now()
        last_good = opened_at
        last_conn = 0
        lost_at: float | None = None
        n = 0
        held: list[_Arrival | _Down] = []
        while not self._stop.is_set():
            item: _Arrival | _Down | None
            if held:
                item = held.pop(0)
            else:
                try:
                    item = self._queue.get(timeout=min(0.2, self.frame_timeout_s / 4))
                except queue.Empty:
                    item = None
            now = self._now()
            if isinstance(item, _Arrival) and lost_at is not None and item.conn == last_conn:
                # Frames from the connection that went silent: a real return, or what the
                # demuxer flushes as the read times out (stale, and followed by its _Down)?
                held = [item, *self._peek(_STALE_PEEK_S)]
                if any(isinstance(h, _Down) and h.conn == item.conn for h in held):
                    held = [h for h in held if h.conn != item.conn]
                    continue
                item = held.pop(0)
            if isinstance(item, _Arrival):
                if lost_at is not None:
                    yield SourceGap(
                        round(lost_at * 1000), round(item.wall_s * 1000), "stream restored"
                    )
                    lost_at = None
                last_good = item.wall_s
                last_conn = item.conn
                yield Frame(
                    np.asarray(item.image, np.uint8),
                    n,
                    round((item.wall_s - opened_at) * 1000),
                    round(item.wall_s * 1000),
                    item.stream_ms,
                )
                n += 1
                continue
            silent = now - last_good >= self.frame_timeout_s
            if lost_at is None and (isinstance(item, _Down) or silent):
                # Noticed now; the camera was last seen at its last good frame.
                lost_at = last_good
                why = (
                    item.reason
                    if isinstance(item, _Down)
                    else (f"no frame for {self.frame_timeout_s:g} s")
                )
                yield SourceLost(round(lost_at * 1000), round(now * 1000), why)
            if (
                lost_at is not None
                and self.give_up_after_s is not None
                and now - lost_at > self.give_up_after_s
            ):
                self.stop()
                raise SourceError(
                    f"{self._label()}: stream lost for more than {self.give_up_after_s:.0f} s"
                )


def _creation_time_ms(path: Path) -> int | None:
    """The container's recording time tag (``creation_time``), if the recorder wrote one."""
    from datetime import datetime

    try:
        with av.open(str(path)) as c:
            tags = dict(c.metadata)
            tags.update(c.streams.video[0].metadata if c.streams.video else {})
    except av.FFmpegError:
        return None
    raw = tags.get("creation_time")
    if not raw:
        return None
    try:
        t = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None or t.year < 1990:  # 1970/1904 epochs mean "not set"
        return None
    return round(t.timestamp() * 1000)


def open_source(
    uri: str,
    *,
    analysis_fps: float,
    start_ms: int | None,
    folder_fps: float | None = None,
    give_up_after_s: float | None = None,
    watch: Sequence[np.ndarray] | None = None,
    frame_timeout_s: float = DEFAULT_FRAME_TIMEOUT_S,
) -> FrameSource:
    """Open ``uri``: a webcam index, a stream URL, a frame folder or a video file.

    ``watch``: the image polygons that matter (bays, lane zones). Given, a video
    file is decoded sparsely (keyframes, and whole GOPs only where they change).
    ``start_ms`` ``None``: recorded footage is timed by its container's recording
    time, else by the file's modification time; ``FrameSource.clock`` says which.
    Raises SourceError with one line naming the source.
    """
    if folder_fps is not None and not (math.isfinite(folder_fps) and folder_fps > 0):
        raise SourceError(f"folder frame rate must be a positive number, not {folder_fps:g}")
    if analysis_fps <= 0:
        raise SourceError(f"analysis rate must be positive, got {analysis_fps}")
    if uri.isdigit() or uri.lower().startswith(STREAM_SCHEMES):
        target: str | int = int(uri) if uri.isdigit() else uri
        return LiveSource(
            target, analysis_fps, give_up_after_s=give_up_after_s, frame_timeout_s=frame_timeout_s
        )
    path = Path(uri).expanduser()
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    clock = "given"
    if start_ms is None and path.is_file():
        start_ms = _creation_time_ms(path)
        clock = "creation_time"
    if start_ms is None:
        # No stated start and no recording time in the file: its modification time is the
        # last clue. It is said in the output and the run record; it never names the run.
        start_ms = round(path.stat().st_mtime * 1000)
        clock = "file_mtime"
    source: FrameSource
    if path.is_dir():
        source = ImageFolderSource(path, folder_fps, analysis_fps, start_ms)
    else:
        probe = VideoFileSource(path, analysis_fps, start_ms)
        if watch is not None:
            from vision.sparse import SparseVideoSource

            source = SparseVideoSource(path, analysis_fps, start_ms, watch, probe=probe)
        else:
            source = probe
    source.clock = clock
    return source
