"""Footage → detections → tracks → occupancy sessions, stored as they happen (the orchestration).

``analyse`` is the one entry point used by the CLI, the HTTP batch jobs and the
benchmarks. Each batch of output is one database transaction together with the
run's progress, so a run stopped at any moment leaves a consistent database, and
ids are deterministic, so running it again completes the work without duplicates.

End to end, from a site file to the sessions table (a sample scene of this repository:
five parked cars and one double parked beside them, 5 s of footage; needs the footage
of ``sample_videos/README.md`` and ``BAYWATCH_MODEL``; run from the repository root;
``tests/test_analysis_example.py`` runs it)::

    >>> from pathlib import Path
    >>> from occupancy.config.site import load_site
    >>> from occupancy.runtime.analysis import analyse, resolve_source
    >>> from occupancy.storage.store import Store
    >>> from vision.detector import Detector
    >>> path = Path("sample_videos/meva-c4f6.yaml")
    >>> site = load_site(path)                      # validated site: camera, bays, calibration
    >>> store = Store("sqlite://")                  # an in-memory database
    >>> result = analyse(
    ...     resolve_source(None, site, path),       # the footage the site file names
    ...     site,
    ...     store,
    ...     detector=Detector.for_site(site),       # the site's classes, confidence, size
    ... )
    >>> sessions = store.sessions_frame()           # one row per session
    >>> sessions.kind.value_counts().sort_index().to_dict()
    {'double_park': 1, 'park': 5}
    >>> sorted(set((sessions.end_ms - sessions.start_ms) / 1000))   # dwell, seconds
    [4.5]
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from occupancy.config.settings import get_settings
from occupancy.config.site import Site, SiteError
from occupancy.domain.records import CurbEvent, OccupancySession, stable_id
from occupancy.domain.states import RunStatus
from occupancy.observe.machine import OccupancyMachine, Output, TrackObservation
from occupancy.observe.pipeline import (
    DEFAULT_ANALYSIS_FPS,
    check_frame_size,
    observations,
    prepare,
    resolve_start_ms,
)
from occupancy.observe.zones import Zone, zone_rows
from occupancy.storage.store import LEASE_RENEW_S, Store
from vision.detector import Detector
from vision.motion import MotionGate, region_mask
from vision.prefetch import DEFAULT_DEPTH, prefetched
from vision.sources import FrameSource, LiveSource, SourceError, open_source
from vision.sparse import SparseVideoSource
from vision.tiling import Tiler
from vision.tracker import VehicleTracker
from vision.types import Detections, Frame, SourceGap, SourceLost

_SETTLE_FRAMES = 3


class EventSink(Protocol):
    """Somewhere else events go as they are produced (e.g. the HTTP push client)."""

    def send(self, events: Sequence[CurbEvent], sessions: Sequence[OccupancySession]) -> None:
        """Take one batch of output, already committed to the store (in emission order)."""


class FrameObserver(Protocol):
    """Sees every analysed frame with its tracks and zone states (review video writer)."""

    def write(
        self, frame: Frame, vehicles: Detections, persons: Detections, machine: OccupancyMachine
    ) -> None:
        """See one analysed frame: its tracked vehicles and persons (pixels) and the machine
        after its step (``machine.views(frame.t_ms)``)."""

    def close(self) -> None:
        """The analysis ended (also on error): release what ``write`` opened."""


@dataclass(frozen=True)
class AnalysisResult:
    """What one ``analyse`` run did: its deterministic ``run_id``, the camera, the source's
    description, frames analysed, footage and wall-clock seconds, the sessions it
    closed, how many events it stored, the compiled zones, how many frames the detector
    actually ran on (the rest reused detections, ``MotionGate``) and the clock frame
    times came from.
    """

    run_id: str
    camera_id: str
    source: str
    frames_analysed: int
    footage_s: float
    wall_s: float
    sessions: tuple[OccupancySession, ...]
    events: int
    zones: tuple[Zone, ...]
    detector_runs: int = 0
    clock: str = "given"  # where frame times came from (vision.sources.FrameSource.clock)


ProgressFn = Callable[[int, int | None], None]


def run_id_for(site: Site, source: FrameSource, start_ms: int | None) -> str:
    """A run is its camera and its footage's content (and a stated start time, if any).

    A start guessed from the file (``source.clock`` other than ``given``) does not name
    the run: a copied or touched file is the same run, re-analysed, not a second one.
    """
    if source.info.live:
        return stable_id("run", site.camera_id, source.info.fingerprint, time.time_ns())
    if source.clock != "given":
        return stable_id("run", site.camera_id, source.info.fingerprint)
    return stable_id("run", site.camera_id, source.info.fingerprint, start_ms)


def analyse(
    source_uri: str,
    site: Site,
    store: Store,
    *,
    detector: Detector,
    analysis_fps: float = DEFAULT_ANALYSIS_FPS,
    start_ms: int | None = None,
    folder_fps: float | None = None,
    progress: ProgressFn | None = None,
    sink: EventSink | None = None,
    observer: FrameObserver | None = None,
    source: FrameSource | None = None,
    exact: bool = False,
    prefetch: int | None = None,
    frame_timeout_s: float | None = None,
    tile: bool = True,
) -> AnalysisResult:
    """Analyse one source for one site into ``store``; raises SourceError/SiteError.

    ``exact``: decode every frame and run the detector on every analysed frame.
    By default video files are decoded sparsely and the detector is skipped on
    frames where nothing changed around the zones (``vision.motion``).
    ``prefetch``: frames of recorded footage decoded ahead in a thread while the
    detector runs (default ``prefetch.DEFAULT_DEPTH``; 0: decode in this thread,
    the sparse source's keyframes too).
    A live source is never read ahead: its frames must be the newest.
    ``tile``: on recorded footage, detect the region around the zones of several frames
    in one inference (``vision.tiling``) where it fits; never with ``exact``.
    ``frame_timeout_s``: seconds without a frame after which a live source opened here
    counts as lost (default: the ``live_frame_timeout_s`` setting,
    ``BAYWATCH_LIVE_FRAME_TIMEOUT_S``); recorded footage has no such watchdog, however
    slowly it decodes.
    """
    proj, zones = prepare(site)
    start_ms = resolve_start_ms(start_ms, site)
    opened_here = source is None
    if source is None:
        source = open_source(
            source_uri,
            analysis_fps=analysis_fps,
            start_ms=start_ms,
            folder_fps=folder_fps or site.source.fps,
            watch=None if exact else [z.pixels for z in zones],
            frame_timeout_s=(
                get_settings().live_frame_timeout_s if frame_timeout_s is None else frame_timeout_s
            ),
        )
    check_frame_size(site, source)
    curb_rows, lane_rows = zone_rows(site, zones)
    store.upsert_zones(curb_rows)
    store.upsert_lane_zones(lane_rows)

    run_id = run_id_for(site, source, start_ms)
    first_ms = None if source.info.live else getattr(source, "start_ms", None)
    attempt = store.begin_run(
        run_id,
        device_id=site.camera_id,
        source=source.info.description,
        live=source.info.live,
        footage_start_ms=first_ms,
        settings={
            "analysis_fps": analysis_fps,
            "model": detector.model_name,
            "occupancy": site.occupancy.model_dump(),
            "clock": source.clock,
        },
    )
    machine = OccupancyMachine(
        zones,
        device_id=site.camera_id,
        run_id=run_id,
        stationary_tolerance_m=site.occupancy.stationary_tolerance_m,
        grace_s=site.occupancy.grace_s,
        to_lonlat=proj.point_to_lonlat,
    )
    tracker = VehicleTracker(
        analysis_fps, lost_buffer_s=max(2.0, site.occupancy.grace_s), high=detector.confidence
    )
    class_map = dict(site.detector.classes)
    total = source.expected_frames(analysis_fps)
    all_sessions: list[OccupancySession] = []
    n_events = 0
    frames = 0
    last_ms: int | None = None
    t_wall = time.perf_counter()
    status = RunStatus.INTERRUPTED
    gate = None
    if not exact and source.info.frame_size is not None:
        gate = MotionGate(region_mask(source.info.frame_size, [z.pixels for z in zones]))
    detections: tuple[Detections, Detections] | None = None
    detector_runs = 0
    tracked = persons = Detections.empty()
    seen: list[TrackObservation] = []
    settle = 0

    last_write = time.monotonic()

    def emit(out: Output, *, force: bool = False) -> None:
        nonlocal n_events, last_write
        # Progress is written at least every LEASE_RENEW_S: it renews this attempt's lease.
        force = force or time.monotonic() - last_write > LEASE_RENEW_S
        if out.events or out.sessions or force:
            last_write = time.monotonic()
            store.write_batch(
                out.events,
                out.sessions,
                attempt=attempt,
                run_progress=(run_id, last_ms or 0, frames),
            )
            if sink is not None and (out.events or out.sessions):
                sink.send(out.events, out.sessions)
            n_events += len(out.events)
            all_sessions.extend(out.sessions)

    depth = 0 if source.info.live else (DEFAULT_DEPTH if prefetch is None else prefetch)
    if depth == 0 and isinstance(source, SparseVideoSource):
        source.key_ahead = 0
    tiler = None
    # Several frames per inference: a file's frames submitted ahead, or (watch) the frames
    # of several cameras, live ones too, packed together by the detector.
    size = source.info.frame_size
    ahead = not source.info.live and detector.in_flight > 1
    if tile and not exact and size is not None and (ahead or detector.batches_across_sources):
        tiler = detector.tiler(size, [z.pixels for z in zones])
    try:
        for item, fresh in detect_ahead(prefetched(source, depth), gate, detector, tiler):
            if isinstance(item, SourceLost):
                emit(machine.comms_lost(item.lost_ms, item.detected_ms), force=True)
                continue
            if isinstance(item, SourceGap):
                emit(machine.gap(item.lost_ms, item.restored_ms))
                tracker = VehicleTracker(
                    analysis_fps,
                    lost_buffer_s=max(2.0, site.occupancy.grace_s),
                    high=detector.confidence,
                )
                continue
            if fresh is not None:
                detections = detector.split(fresh)
                detector_runs += 1
                settle = _SETTLE_FRAMES
            if settle > 0 and detections is not None:
                # The tracker confirms a new track on its second sighting: feed it the same
                # detections for a few frames after each change.
                settle -= 1
                vehicles, persons = detections
                tracked = tracker.update(vehicles, item.t_ms)
                seen = observations(
                    tracked, proj, class_map, source.info.frame_size, tracker.earlier
                )
            # Otherwise nothing changed around the zones and the tracks have settled: the same
            # vehicles stand where they stood, and the tracker and projection would only
            # repeat themselves. The state machine still sees every tick, so its timers run.
            last_ms = item.t_ms
            frames += 1
            emit(machine.step(item.t_ms, seen))
            if observer is not None:
                observer.write(item, tracked, persons, machine)
            if progress is not None:
                progress(frames, total)
        emit(machine.finish(), force=True)
        status = RunStatus.COMPLETE
    except KeyboardInterrupt:
        if source.info.live:
            # A live run has no "rest of the footage" to resume: Ctrl-C or SIGTERM ends it
            # as watch does, with open sessions closed as right-censored.
            emit(machine.finish(), force=True)
            store.finish_run(
                run_id,
                attempt,
                status=RunStatus.COMPLETE,
                footage_end_ms=last_ms,
                frames_analysed=frames,
            )
            status = RunStatus.COMPLETE
        raise
    finally:
        if opened_here and isinstance(source, LiveSource):
            source.stop()  # its reader thread would otherwise reconnect for ever
        if observer is not None:
            observer.close()
        if status is not RunStatus.COMPLETE:
            store.finish_run(
                run_id, attempt, status=status, footage_end_ms=last_ms, frames_analysed=frames
            )
    footage_s = frames / analysis_fps
    if source.info.duration_s is not None and not source.truncated:
        footage_s = source.info.duration_s
    if source.truncated:
        store.finish_run(
            run_id,
            attempt,
            status=RunStatus.FAILED,
            footage_end_ms=last_ms,
            frames_analysed=frames,
            error=source.truncated,
        )
        raise SourceError(source.truncated + f" (sessions up to {footage_s:.1f} s were stored)")
    store.finish_run(
        run_id, attempt, status=RunStatus.COMPLETE, footage_end_ms=last_ms, frames_analysed=frames
    )
    return AnalysisResult(
        run_id=run_id,
        camera_id=site.camera_id,
        source=source.info.description,
        frames_analysed=frames,
        footage_s=footage_s,
        wall_s=time.perf_counter() - t_wall,
        sessions=tuple(all_sessions),
        events=n_events,
        zones=tuple(zones),
        detector_runs=detector_runs,
        clock=source.clock,
    )


def detect_ahead(
    items: Iterable[Frame | SourceGap | SourceLost],
    gate: MotionGate | None,
    detector: Detector,
    tiler: Tiler | None = None,
) -> Iterator[tuple[Frame | SourceGap | SourceLost, Detections | None]]:
    """``items`` in order, each frame with fresh detections, or None where the watched
    region did not change since the last detection (the previous detections still hold).

    Detection is decided from the pictures alone (the motion gate, and always on the first
    frame and after a gap), so frames that need it are submitted ``detector.in_flight``
    ahead: with OpenVINO's throughput mode two frames are detected at once, one per core,
    while the state machine consumes the results in footage order. With a ``tiler``
    (``vision.tiling``) the zones' region of ``tiler.capacity`` frames is detected in one
    inference, so that many more frames are submitted ahead (``Detector.frames_ahead``;
    one at a time where the detector packs frames of several sources instead).
    """
    window = detector.frames_ahead(tiler)
    pending: deque[tuple[Frame | SourceGap | SourceLost, Any]] = deque()
    in_flight = 0
    look = True  # at the start and after an outage, look afresh

    def pop() -> tuple[Frame | SourceGap | SourceLost, Detections | None]:
        nonlocal in_flight
        item, handle = pending.popleft()
        if handle is None:
            return item, None
        in_flight -= 1
        return item, handle.result()

    it = iter(items)
    try:
        while True:
            try:
                item = next(it)
            except StopIteration:
                break
            except BaseException:
                # The footage failed (or was interrupted) here: what was read before still
                # counts, exactly as when frames are detected one by one.
                while pending:
                    yield pop()
                raise
            if isinstance(item, SourceGap | SourceLost):
                while pending:
                    yield pop()
                yield item, None
                look = look or isinstance(item, SourceGap)
                continue
            if gate is None or gate.changed(item.image) or look:
                handle = (
                    detector.submit(item.image, low=True)
                    if tiler is None
                    else detector.submit_tile(item.image, tiler, low=True)
                )
                pending.append((item, handle))
                in_flight += 1
                look = False
            else:
                pending.append((item, None))
            while pending and (pending[0][1] is None or in_flight >= window):
                yield pop()
        while pending:
            yield pop()
    finally:
        for _, handle in pending:  # hand unused requests back to the detector's pool
            if handle is not None:
                handle.result()


def resolve_source(cli_source: str | None, site: Site, site_path: Path) -> str:
    """The command line's source, else the site's, relative to the site file."""
    if cli_source:
        return cli_source
    if site.source.uri is None:
        raise SiteError(f"{site_path}: no SOURCE given and the site has no source.uri")
    uri = site.source.uri
    if uri.isdigit() or "://" in uri or Path(uri).is_absolute():
        return uri
    return str((site_path.parent / uri).resolve())
