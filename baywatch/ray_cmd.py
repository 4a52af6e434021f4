"""``baywatch analyse --backend ray``: recorded files of one site fanned across Ray."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from baywatch.console import console, progress_bar, sessions_table
from occupancy.config.settings import get_settings
from occupancy.domain.lazy import lazy_import

if TYPE_CHECKING:
    import occupancy.config.site as site_mod
    import occupancy.observe.pipeline as pipeline_mod
    import occupancy.runtime.analysis as analysis_mod
    import occupancy.storage.store as store_mod
    import vision.sources as sources_mod
else:
    site_mod = lazy_import("occupancy.config.site")
    pipeline_mod = lazy_import("occupancy.observe.pipeline")
    analysis_mod = lazy_import("occupancy.runtime.analysis")
    store_mod = lazy_import("occupancy.storage.store")
    sources_mod = lazy_import("vision.sources")


def run_ray_analysis(
    sources: list[str],
    site_path: Path,
    *,
    db: str | None,
    fps: float,
    start: datetime | None,
    model: str | None,
    address: str | None,
    chunk_s: float,
    quiet: bool,
    cpus_per_task: int = 1,
) -> None:
    """Analyse recorded files in time chunks on Ray (``address``: a cluster, else a local
    one), ``chunk_s`` seconds of footage each; store the stitched sessions as one run
    per file. Raises the project's one-line errors (``SiteError``, ``SourceError``,
    ``StoreError``) for bad input.
    """
    from occupancy.runtime import ray_backend
    from vision.detector import resolve_model
    from vision.sources import VideoFileSource

    site = site_mod.load_site(site_path)
    if start is not None and start.tzinfo is None:
        raise site_mod.SiteError(
            "--start must include a UTC offset, e.g. 2026-03-05T08:00:00+01:00"
        )
    uris = sources or [analysis_mod.resolve_source(None, site, site_path)]
    if len(uris) > 1 and start is not None:
        raise site_mod.SiteError(
            "--start applies to one file; several files start at their own times"
        )
    jobs = []
    for uri in uris:
        start_ms = None if start is None else round(start.timestamp() * 1000)
        if start_ms is None and len(uris) == 1 and site.source.start_time is not None:
            start_ms = round(site.source.start_time.timestamp() * 1000)
        # open_source checks the file and, with no start known, times it by the file (its clock).
        src = sources_mod.open_source(
            uri, analysis_fps=fps, start_ms=start_ms, folder_fps=site.source.fps
        )
        if not isinstance(src, VideoFileSource):
            raise sources_mod.SourceError(
                f"{uri}: --backend ray analyses recorded video files only"
            )
        jobs.append(ray_backend.FileJob(str(src.path), site, src.start_ms, src.clock))
    chosen = resolve_model(model, site.detector.model, get_settings().model)
    if Path(chosen).expanduser().exists():
        chosen = str(Path(chosen).expanduser().resolve())  # workers start elsewhere
    store = store_mod.Store(db or get_settings().db)
    t0 = time.perf_counter()
    with progress_bar(quiet=quiet) as bar:
        task = bar.add_task(f"{site.camera_id} on Ray", total=None, rate="")

        def on_progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, rate="chunks")

        results = ray_backend.run(
            jobs,
            store,
            model=chosen,
            analysis_fps=fps,
            chunk_s=chunk_s,
            address=address,
            cpus_per_task=cpus_per_task,
            progress=on_progress,
        )
    store.close()
    wall = time.perf_counter() - t0
    _, zones = pipeline_mod.prepare(site)
    for r in results:
        console.print(
            sessions_table(
                r.sessions,
                zones,
                site.timezone,
                f"{r.path}: {len(r.sessions)} session(s) in {r.footage_s:.1f} s of footage "
                f"({r.chunks} chunk(s), {r.frames_analysed} frames analysed)",
            )
        )
    footage = sum(r.footage_s for r in results)
    console.print(
        f"{len(results)} file(s), {footage:.1f} s of footage in {wall:.1f} s "
        f"({footage / max(wall, 1e-9):.1f}× real time)"
    )
