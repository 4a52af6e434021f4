"""``baywatch analyse``: footage and a site file in, stored sessions and a table out."""

from __future__ import annotations

import time
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from baywatch.console import (
    check_output_file,
    check_push,
    console,
    err_console,
    fail,
    progress_bar,
    sessions_table,
    sigterm_as_interrupt,
)
from occupancy.config.settings import get_settings
from occupancy.domain.lazy import lazy_import

if TYPE_CHECKING:
    import occupancy.config.site as site_mod
    import occupancy.storage.store as store_mod
    import vision.detector as detector_mod
    import vision.sources as sources_mod
else:
    site_mod = lazy_import("occupancy.config.site")
    store_mod = lazy_import("occupancy.storage.store")
    detector_mod = lazy_import("vision.detector")
    sources_mod = lazy_import("vision.sources")


if TYPE_CHECKING:  # the pipeline imports torch: only load it when a command runs
    from occupancy.runtime.analysis import AnalysisResult, EventSink
    from vision.detector import Detector

DEFAULT_ANALYSIS_FPS = 2.0


def run_analysis(
    source: str | None,
    site_path: Path,
    *,
    db: str | None,
    fps: float,
    annotate: Path | None,
    start: datetime | None,
    model: str | None,
    folder_fps: float | None,
    sink: EventSink | None = None,
    quiet: bool = False,
    detector: Detector | None = None,
    exact: bool = False,
    device: str = "cpu",
) -> tuple[site_mod.Site, AnalysisResult]:
    """Everything ``analyse`` does, raising the project's one-line errors."""
    from occupancy.observe.pipeline import prepare, resolve_start_ms
    from occupancy.runtime.analysis import analyse, resolve_source
    from occupancy.runtime.review import ReviewWriter
    from vision.detector import Detector

    site = site_mod.load_site(site_path)
    uri = resolve_source(source, site, site_path)
    if start is not None and start.tzinfo is None:
        raise site_mod.SiteError(
            "--start must include a UTC offset, e.g. 2026-03-05T08:00:00+01:00"
        )
    start_ms = resolve_start_ms(None if start is None else round(start.timestamp() * 1000), site)
    # Open the footage first: a bad source fails before a model is loaded.
    zones = prepare(site)[1]
    frames = sources_mod.open_source(
        uri,
        analysis_fps=fps,
        start_ms=start_ms,
        folder_fps=folder_fps or site.source.fps,
        watch=None if exact else [z.pixels for z in zones],
        frame_timeout_s=get_settings().live_frame_timeout_s,
    )
    if detector is None:  # before the store: a model that cannot load leaves no database
        detector = Detector.for_site(site, model, device=device)
    store = store_mod.Store(db or get_settings().db)
    observer = None
    if annotate is not None:
        observer = ReviewWriter(annotate, fps, zones)
    with progress_bar(quiet=quiet) as bar:
        task = bar.add_task(site.camera_id, total=None, rate="")
        t0 = time.perf_counter()

        def on_progress(done: int, total: int | None) -> None:
            rate = done / max(1e-9, time.perf_counter() - t0)
            bar.update(task, completed=done, total=total, rate=f"{rate:.1f} fps")

        result = analyse(
            uri,
            site,
            store,
            detector=detector,
            analysis_fps=fps,
            start_ms=start_ms,
            progress=on_progress,
            sink=sink,
            observer=observer,
            source=frames,
            exact=exact,
        )
    store.close()
    return site, result


class Backend(StrEnum):
    """Where ``baywatch analyse`` runs: in this process, or in chunks on a Ray cluster."""

    LOCAL = "local"
    RAY = "ray"


def _analyse_on_ray(
    sources: list[str],
    site: Path,
    db: str | None,
    fps: float,
    start: datetime | None,
    model: str | None,
    address: str | None,
    chunk: float,
    quiet: bool,
    annotate: Path | None,
    push: str | None,
    task_cpus: int,
) -> None:
    if annotate is not None or push is not None:
        fail("--annotate and --push work with --backend local only")
    from occupancy.runtime.ray_backend import RayBackendError

    try:
        with sigterm_as_interrupt():
            from baywatch.ray_cmd import run_ray_analysis

            run_ray_analysis(
                sources,
                site,
                db=db,
                fps=fps,
                start=start,
                model=model,
                address=address,
                chunk_s=chunk,
                quiet=quiet,
                cpus_per_task=task_cpus,
            )
    except (
        site_mod.SiteError,
        sources_mod.SourceError,
        detector_mod.ModelNotFoundError,
        store_mod.StoreError,
        RayBackendError,
    ) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted:[/] nothing of this Ray run was stored")
        raise typer.Exit(130) from None


def analyse_command(
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            help="video file, folder of frames, rtsp/http URL or webcam index; several recorded files of the camera are analysed one after the other with the model loaded once (or fanned out with --backend ray); default: the site's source.uri",
            metavar="[SOURCE]...",
        ),
    ] = None,
    site: Annotated[Path, typer.Option("--site", help="site description (YAML or JSON)")] = Path(
        "site.yaml"
    ),
    db: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy URL; default BAYWATCH_DB or sqlite:///baywatch.db"),
    ] = None,
    fps: Annotated[
        float, typer.Option("--fps", min=0.05, max=60, help="analysed frames per second of footage")
    ] = DEFAULT_ANALYSIS_FPS,
    annotate: Annotated[
        Path | None,
        typer.Option(
            help="write a review video (people blurred) to this .mp4/.m4v/.mov/.avi/.mkv file, checked before the run starts; nothing is written otherwise"
        ),
    ] = None,
    start: Annotated[
        datetime | None,
        typer.Option(
            help="wall-clock time of the first frame (recorded footage), ISO 8601 with offset"
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="YOLO weights; default: site detector.model, BAYWATCH_MODEL, yolo11n.pt"),
    ] = None,
    folder_fps: Annotated[
        float | None,
        typer.Option(help="frame rate of a folder of frames (else the site's source.fps)"),
    ] = None,
    push: Annotated[
        str | None, typer.Option(help="also push events to a baywatch server at this URL")
    ] = None,
    push_key: Annotated[
        str | None, typer.Option(envvar="BAYWATCH_PUSH_KEY", help="API key with the ingest scope")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    exact: Annotated[
        bool,
        typer.Option(
            "--exact",
            help="decode every frame and detect on every whole analysed frame (slower; the fast path skips unchanged ones and detects several frames' zone regions at once)",
        ),
    ] = False,
    device: Annotated[
        str,
        typer.Option(
            help="where the detector runs: cpu, or cuda / cuda:N (PyTorch weights on an NVIDIA GPU)"
        ),
    ] = "cpu",
    backend: Annotated[
        Backend, typer.Option(help="local: this process; ray: recorded files fanned across Ray")
    ] = Backend.LOCAL,
    address: Annotated[
        str | None,
        typer.Option(help="Ray cluster address (ray://host:10001 or auto); default: a local Ray"),
    ] = None,
    chunk: Annotated[
        float,
        typer.Option(
            min=10, help="--backend ray (always exact): cut files into chunks of this many seconds"
        ),
    ] = 600.0,
    task_cpus: Annotated[
        int, typer.Option(min=1, help="--backend ray: CPUs Ray gives each chunk's task")
    ] = 1,
) -> None:
    """Analyse footage of one camera into occupancy sessions and CDS events."""
    if not site.exists():
        fail(f"{site}: site file not found (give it with --site)")
    if annotate is not None and backend is Backend.LOCAL and len(sources or []) <= 1:
        # Checked before the run starts: a writer failing mid-run would leave it interrupted.
        from occupancy.runtime.review import VIDEO_SUFFIXES

        check_output_file(annotate, "--annotate", VIDEO_SUFFIXES, "the review video")
    check_push(push, push_key)
    if backend is Backend.RAY:
        _analyse_on_ray(
            sources or [],
            site,
            db,
            fps,
            start,
            model,
            address,
            chunk,
            quiet,
            annotate,
            push,
            task_cpus,
        )
        return
    todo: list[str | None] = list(sources) if sources else [None]
    shared: Detector | None = None
    if len(todo) > 1:
        shared = _detector_for_many(todo, site, start, annotate, model, device)
    sink = None
    if push is not None:
        try:
            from occupancy.runtime.push_client import PushClient
        except ImportError:
            fail(
                "--push needs the HTTP push client (occupancy.runtime.push_client), which is not installed"
            )
        sink = PushClient(push, push_key, Path(".baywatch-spool"))
    try:
        with sigterm_as_interrupt():
            for source in todo:
                site_obj, result = run_analysis(
                    source,
                    site,
                    db=db,
                    fps=fps,
                    annotate=annotate,
                    start=start,
                    model=model,
                    folder_fps=folder_fps,
                    sink=sink,
                    quiet=quiet,
                    exact=exact,
                    device=device,
                    detector=shared,
                )
                _print_result(site_obj, result)
    except (
        site_mod.SiteError,
        sources_mod.SourceError,
        detector_mod.ModelNotFoundError,
        detector_mod.DeviceError,
        store_mod.StoreError,
    ) as exc:
        fail(str(exc))
    except ValueError as exc:  # e.g. detector classes the model does not have
        fail(str(exc))
    except KeyboardInterrupt:
        err_console.print(
            "[yellow]interrupted:[/] what was analysed is stored; run the same command again to complete it"
        )
        raise typer.Exit(130) from None
    finally:
        if sink is not None:
            sink.close()


def _detector_for_many(
    sources: list[str | None],
    site: Path,
    start: datetime | None,
    annotate: Path | None,
    model: str | None,
    device: str,
) -> Detector:
    """Checks for several SOURCE files, then the one detector they share (loaded once)."""
    from vision.detector import Detector

    if start is not None:
        fail("--start gives one file's first frame: analyse several files without it")
    if annotate is not None:
        fail("--annotate writes one review video: give one SOURCE with it")
    for s in sources:
        p = Path(str(s)).expanduser()
        if not p.exists():
            fail(f"{s}: no such file")
        if not p.is_file():
            fail(f"{s}: not a video file (several SOURCEs must be recorded files)")
    try:
        site_obj = site_mod.load_site(site)
        if site_obj.source.start_time is not None:
            fail(
                f"{site}: source.start_time would give every file the same start; remove it "
                "(each file's modification time is used) or analyse one file at a time"
            )
        return Detector.for_site(site_obj, model, device=device)
    except (
        site_mod.SiteError,
        detector_mod.ModelNotFoundError,
        detector_mod.DeviceError,
        ValueError,
    ) as exc:
        fail(str(exc))


def _print_result(site_obj: site_mod.Site, result: AnalysisResult) -> None:
    speed = result.footage_s / max(result.wall_s, 1e-9)
    console.print(
        sessions_table(
            result.sessions,
            result.zones,
            site_obj.timezone,
            f"{site_obj.camera_id}: {len(result.sessions)} session(s) in {result.footage_s:.1f} s of footage "
            f"({result.frames_analysed} frames analysed, {speed:.1f}× real time)",
        )
    )
    clocks = {
        "creation_time": "times from the video's recording time (its creation_time tag)",
        "file_mtime": "times from the file's modification time: no --start, no source.start_time "
        "and no recording time in the file",
    }
    if result.clock in clocks:
        console.print(f"[yellow]clock:[/] {clocks[result.clock]}", highlight=False)
