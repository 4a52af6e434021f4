"""Batch analysis on a Ray cluster: recorded files, long ones cut into chunks, fanned out.

Each chunk is one Ray task running the ordinary ``analyse`` into a throwaway in-memory
store; the driver stitches the chunks (``occupancy.observe.chunks``) and writes every file's
events and sessions to the real store as one run, with the run id a local analysis of
that file gets. The sessions are therefore identical to ``--backend local --exact`` (the local fast path
skips detection on frames where nothing changed, reusing earlier detections: state a
chunk cut in the middle of a file cannot reproduce; each chunk is then the costlier
exact analysis, the price of spreading it over machines).

Workers load the detector once per process and keep it. On a remote cluster the
footage and model paths must be readable from the workers (shared storage), and the
project's packages are shipped with the job.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from occupancy.config.site import Site
from occupancy.domain.records import CurbEvent, OccupancySession
from occupancy.domain.states import RunStatus
from occupancy.observe.chunks import Chunk, ChunkWindow, plan_chunks, stitch, warmup_s
from occupancy.observe.pipeline import prepare
from occupancy.observe.zones import zone_rows
from occupancy.runtime.analysis import run_id_for
from occupancy.storage.store import Store
from vision.sources import SourceError, VideoFileSource

DEFAULT_CHUNK_S = 600.0
_PACKAGES = ("baywatch", "occupancy", "vision", "api", "optimiser")


class RayBackendError(RuntimeError):
    """Ray is missing or the cluster cannot be reached; one line."""


@dataclass(frozen=True)
class FileJob:
    """One recorded video of one camera."""

    path: str
    site: Site
    start_ms: int
    clock: str = "given"  # where start_ms came from (vision.sources.FrameSource.clock)


@dataclass(frozen=True)
class ChunkOutput:
    """What one chunk's analysis produced: its owned events and sessions, frames analysed
    (warm-up and tail included) and within its owned range, its last frame time (ms since
    the epoch) and wall-clock seconds.
    """

    job: int
    chunk: Chunk
    events: tuple[CurbEvent, ...]
    sessions: tuple[OccupancySession, ...]
    frames: int  # analysed, warm-up and tail included
    owned_frames: int
    last_ms: int | None
    wall_s: float


@dataclass(frozen=True)
class FileResult:
    """One file analysed in chunks: the run, how many chunks, frames (as one pass would
    count them, and with the chunks' overlaps), footage seconds, the stitched sessions
    and how many events were stored.
    """

    path: str
    camera_id: str
    run_id: str
    chunks: int
    frames_analysed: int  # as many as one local pass analyses
    frames_processed: int  # chunks' warm-ups and tails included: the cost of cutting
    footage_s: float
    sessions: tuple[OccupancySession, ...]
    events: int


_DETECTORS: dict[tuple[Any, ...], Any] = {}


def _detector(model: str, site: Site) -> Any:
    """One detector per worker process and class set: loading costs about a second."""
    from vision.detector import Detector

    key = (
        model,
        tuple(sorted(site.detector.classes)),
        site.detector.confidence,
        site.detector.imgsz,
    )
    if key not in _DETECTORS:
        _DETECTORS[key] = Detector.for_site(site, model)
    return _DETECTORS[key]


def analyse_chunk(
    job_index: int, job: FileJob, chunk: Chunk, model: str, analysis_fps: float
) -> ChunkOutput:
    """Analyse one chunk of one file (runs in a Ray worker, or here)."""
    from occupancy.runtime.analysis import analyse

    t0 = time.perf_counter()
    inner = VideoFileSource(Path(job.path), analysis_fps, job.start_ms, start_s=chunk.read_from_s)
    inner.clock = job.clock
    window = ChunkWindow(inner, chunk, settle_s=warmup_s(job.site, analysis_fps))
    scratch = Store("sqlite://")
    result = analyse(
        job.path,
        job.site,
        scratch,
        detector=_detector(model, job.site),
        analysis_fps=analysis_fps,
        start_ms=job.start_ms,
        source=window,
        sink=window,
        # Every frame decoded and detected: the fast path's motion gate reuses detections
        # from before a cut, which a chunk cannot know. Ray's sessions equal `--exact`'s.
        exact=True,
    )
    scratch.close()
    events, sessions = window.owned()
    return ChunkOutput(
        job_index,
        chunk,
        tuple(events),
        tuple(sessions),
        result.frames_analysed,
        window.owned_frames,
        window.last_ms,
        time.perf_counter() - t0,
    )


def plan(jobs: Sequence[FileJob], chunk_s: float, analysis_fps: float) -> list[list[Chunk]]:
    """The chunks of each file (``occupancy.observe.chunks.plan_chunks``), ``chunk_s``
    seconds of footage each. Raises ``SourceError`` for a file of unknown duration.
    """
    out = []
    for job in jobs:
        src = VideoFileSource(Path(job.path), analysis_fps, job.start_ms)
        if src.info.duration_s is None:
            raise SourceError(f"{job.path}: unknown duration, cannot cut it into chunks")
        out.append(
            plan_chunks(
                src.info.duration_s, chunk_s, warmup_s(job.site, analysis_fps), analysis_fps
            )
        )
    return out


def init_ray(address: str | None, num_cpus: int | None = None) -> None:
    """Join the cluster at ``address`` (or start a local one) with this project's code."""
    try:
        import ray
    except ImportError as exc:
        raise RayBackendError("--backend ray needs Ray: pip install 'baywatch[ray]'") from exc
    if ray.is_initialized():
        return
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k.startswith(("YOLO_", "BAYWATCH_"))}
    if address is None:
        # A local cluster runs this very checkout.
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p
        )
        runtime_env: dict[str, Any] = {"env_vars": env}
    else:
        import importlib

        runtime_env = {
            "env_vars": env,
            "py_modules": [importlib.import_module(p) for p in _PACKAGES],
        }
    try:
        ray.init(
            address=address,
            num_cpus=num_cpus if address is None else None,
            runtime_env=runtime_env,
            include_dashboard=False,
            logging_level=logging.ERROR,
            log_to_driver=False,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayBackendError(f"cannot reach the Ray cluster at {address!r}: {exc}") from exc


def run(
    jobs: Sequence[FileJob],
    store: Store,
    *,
    model: str,
    analysis_fps: float,
    chunk_s: float = DEFAULT_CHUNK_S,
    address: str | None = None,
    num_cpus: int | None = None,
    cpus_per_task: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> list[FileResult]:
    """Analyse ``jobs`` on Ray and store each file's sessions as one complete run.

    ``cpus_per_task``: Ray gives a task that many CPUs (and sets ``OMP_NUM_THREADS``
    to it, which the detector's threads follow): on nodes with many cores, a few
    multi-core tasks per node waste less memory on models than one task per core.
    """
    import ray

    if cpus_per_task < 1:
        raise ValueError(f"cpus_per_task must be at least 1, got {cpus_per_task}")
    plans = plan(jobs, chunk_s, analysis_fps)
    init_ray(address, num_cpus)
    remote = ray.remote(num_cpus=cpus_per_task, max_retries=2)(analyse_chunk)
    pending = [
        remote.remote(j, jobs[j], c, model, analysis_fps)
        for j, chunks in enumerate(plans)
        for c in chunks
    ]
    total = len(pending)
    outputs: list[ChunkOutput] = []
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        try:
            outputs.extend(ray.get(done))
        except ray.exceptions.RayTaskError as exc:
            cause = exc.as_instanceof_cause()
            raise cause if isinstance(cause, SourceError) else exc from None
        if progress is not None:
            progress(len(outputs), total)
    return [
        _store_file(store, j, job, [o for o in outputs if o.job == j], model, analysis_fps)
        for j, job in enumerate(jobs)
    ]


def _store_file(
    store: Store,
    j: int,
    job: FileJob,
    outputs: list[ChunkOutput],
    model: str,
    analysis_fps: float,
) -> FileResult:
    src = VideoFileSource(Path(job.path), analysis_fps, job.start_ms)
    src.clock = job.clock
    _, zones = prepare(job.site)
    curb_rows, lane_rows = zone_rows(job.site, zones)
    store.upsert_zones(curb_rows)
    store.upsert_lane_zones(lane_rows)
    run_id = run_id_for(job.site, src, job.start_ms)
    attempt = store.begin_run(
        run_id,
        device_id=job.site.camera_id,
        source=src.info.description,
        live=False,
        footage_start_ms=job.start_ms,
        settings={
            "analysis_fps": analysis_fps,
            "model": model,
            "occupancy": job.site.occupancy.model_dump(),
            "backend": "ray",
            "clock": job.clock,
            "chunks": len(outputs),
        },
    )
    events, sessions = stitch((o.events, o.sessions) for o in outputs)
    duration = src.info.duration_s or 0.0
    frames = sum(o.owned_frames for o in outputs)
    last_ms = max((o.last_ms for o in outputs if o.last_ms is not None), default=None)
    store.write_batch(events, sessions, attempt=attempt)
    store.finish_run(
        run_id, attempt, status=RunStatus.COMPLETE, footage_end_ms=last_ms, frames_analysed=frames
    )
    return FileResult(
        job.path,
        job.site.camera_id,
        run_id,
        len(outputs),
        frames,
        sum(o.frames for o in outputs),
        duration,
        tuple(sessions),
        len(events),
    )
