"""Analysing a long recording in time chunks that give the same sessions as one pass.

A chunk owns the sessions that *start* in its range ``[lo, hi)``. It is analysed from
``lo - warmup`` so that the tracker and the occupancy machine have seen every vehicle
already at rest when its range begins (``warmup`` ≥ the longest minimum stationary time
+ grace); sessions starting in the warm-up belong to the chunk before. It reads on past
``hi`` for as long as a session it owns is still open, and for ``settle`` more, the time
a vehicle come to rest just before ``hi`` needs to be recognised as parked. So every
session is produced whole by exactly one chunk: none is lost at a cut, none doubled.

``plan_chunks`` cuts a recording; ``ChunkWindow`` is both the frame source and the
event sink of one chunk's ``analyse`` run; ``stitch`` joins the chunks' outputs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from occupancy.config.site import Site
from occupancy.domain.records import CurbEvent, EventType, OccupancySession
from vision.sources import FrameSource, VideoFileSource
from vision.types import Frame, SourceGap, SourceLost


@dataclass(frozen=True, slots=True)
class Chunk:
    """One time chunk of a recording, in seconds of footage: it owns the sessions that start
    in ``[start_s, end_s)`` (``end_s`` None: to the end) and is read from ``warmup_s``
    before its start (see the module docstring).
    """

    index: int
    start_s: float  # owned range, seconds of footage
    end_s: float | None  # None: to the end of the file
    warmup_s: float

    @property
    def read_from_s(self) -> float:
        """Where reading starts, in seconds of footage: ``warmup_s`` before the owned range."""
        return max(0.0, self.start_s - self.warmup_s)


def warmup_s(site: Site, analysis_fps: float) -> float:
    """Longest minimum stationary time + grace, plus two analysed frames of margin."""
    occ = site.occupancy
    longest = max(
        [occ.min_stationary_s]
        + [z.min_stationary_s for z in (*site.bays, *site.lane_zones) if z.min_stationary_s]
    )
    return longest + occ.grace_s + 2.0 / analysis_fps


def plan_chunks(
    duration_s: float, chunk_s: float, warmup: float, analysis_fps: float
) -> list[Chunk]:
    """Cut ``[0, duration_s)`` into chunks of about ``chunk_s``, cuts on the analysis grid."""
    if chunk_s <= 0:
        raise ValueError(f"chunk length must be positive, got {chunk_s}")
    period = 1.0 / analysis_fps
    step = max(period, round(chunk_s / period) * period)
    n = max(1, math.ceil(duration_s / step - 1e-9))
    return [
        Chunk(i, i * step, None if i == n - 1 else (i + 1) * step, 0.0 if i == 0 else warmup)
        for i in range(n)
    ]


@dataclass
class ChunkWindow(FrameSource):
    """One chunk's frames (stopping once its sessions are all closed) and its outputs."""

    inner: VideoFileSource
    chunk: Chunk
    settle_s: float
    events: list[CurbEvent] = field(default_factory=list)
    sessions: list[OccupancySession] = field(default_factory=list)
    owned_frames: int = 0  # frames in the owned range: over all chunks, a whole-file count
    last_ms: int | None = None
    _open: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.info = self.inner.info  # same fingerprint: the same run id as a whole-file run
        self.clock = self.inner.clock
        self.start_ms = self.inner.start_ms
        self.lo_ms = self.inner.start_ms + round(self.chunk.start_s * 1000)
        self.hi_ms = (
            None
            if self.chunk.end_s is None
            else self.inner.start_ms + round(self.chunk.end_s * 1000)
        )

    def owns(self, start_ms: int) -> bool:
        """Whether a session starting at ``start_ms`` (ms since the epoch) belongs to this chunk."""
        if self.chunk.index > 0 and start_ms < self.lo_ms:
            return False
        return self.hi_ms is None or start_ms < self.hi_ms

    # -- EventSink ---------------------------------------------------------------------

    def send(self, events: Sequence[CurbEvent], sessions: Sequence[OccupancySession]) -> None:
        """``EventSink``: collect a batch of output and keep track of the owned sessions still
        open (reading goes on past the chunk's end until they close).
        """
        for e in events:
            if e.event_type is EventType.PARK_START and self.owns(e.event_time):
                assert e.event_session_id is not None
                self._open.add(e.event_session_id)
        self.events.extend(events)
        for s in sessions:
            self._open.discard(s.session_id)
        self.sessions.extend(sessions)

    # -- FrameSource -------------------------------------------------------------------

    def __iter__(self) -> Iterator[Frame | SourceGap | SourceLost]:
        stop_after = None if self.hi_ms is None else self.hi_ms + round(self.settle_s * 1000)
        for item in self.inner:
            if stop_after is not None and item.t_ms >= stop_after and not self._open:
                return
            if isinstance(item, Frame) and self.owns(item.t_ms):
                self.owned_frames += 1
                self.last_ms = item.t_ms
            yield item
        self.truncated = self.inner.truncated

    def expected_frames(self, analysis_fps: float) -> int | None:
        """Unknown: a chunk stops when its sessions close, not at a fixed frame."""
        return None

    def owned(self) -> tuple[list[CurbEvent], list[OccupancySession]]:
        """The sessions this chunk owns and the events of those sessions (comms events of the
        warm-up and the tail are dropped: another chunk owns them).
        """
        keep = [s for s in self.sessions if self.owns(s.start_ms)]
        ids = {s.session_id for s in keep}
        return [e for e in self.events if e.event_session_id in ids], keep


def stitch(
    parts: Iterable[tuple[Sequence[CurbEvent], Sequence[OccupancySession]]],
) -> tuple[list[CurbEvent], list[OccupancySession]]:
    """All chunks' owned outputs in time order.

    Within a chunk a later record with the same id replaces the earlier one, as the store
    does; the same session owned by two chunks would be a planning bug.
    """
    events: dict[str, CurbEvent] = {}
    sessions: dict[str, OccupancySession] = {}
    for evs, sess in parts:
        mine = {s.session_id: s for s in sess}
        for sid, s in mine.items():
            if sid in sessions:
                raise AssertionError(f"session {sid} produced by two chunks")
            sessions[sid] = s
        for e in evs:
            events[e.event_id] = e
    return (
        sorted(events.values(), key=lambda e: (e.event_time, e.event_id)),
        sorted(sessions.values(), key=lambda s: (s.start_ms, s.session_id)),
    )
