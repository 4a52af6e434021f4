"""``baywatch watch SITES_DIR``: follow every camera of a folder of site files, live."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from baywatch.console import check_push, console, err_console, fail
from occupancy.config.settings import get_settings
from occupancy.domain.lazy import lazy_import

if TYPE_CHECKING:
    import occupancy.config.site as site_mod
    import occupancy.storage.store as store_mod
    import vision.detector as detector_mod
else:
    site_mod = lazy_import("occupancy.config.site")
    store_mod = lazy_import("occupancy.storage.store")
    detector_mod = lazy_import("vision.detector")


def _print_problems(sites_dir: Path) -> None:
    from occupancy.runtime.watch import load_sites

    for problem in load_sites(sites_dir)[1]:
        err_console.print(f"[yellow]skipped:[/] {problem}", highlight=False)


def watch_command(
    sites_dir: Annotated[
        Path, typer.Argument(help="folder of site files (YAML/JSON), one per camera")
    ],
    db: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy URL; default BAYWATCH_DB or sqlite:///baywatch.db"),
    ] = None,
    fps: Annotated[
        float,
        typer.Option("--fps", min=0.05, max=30, help="analysed frames per second, per camera"),
    ] = 2.0,
    model: Annotated[
        str | None, typer.Option(help="YOLO weights shared by all cameras; default BAYWATCH_MODEL")
    ] = None,
    device: Annotated[
        str, typer.Option(help="where the shared detector runs: cpu, or cuda / cuda:N")
    ] = "cpu",
    metrics_port: Annotated[
        int, typer.Option(min=0, max=65535, help="port of /metrics and /healthz (0: any free)")
    ] = 9108,
    metrics_host: Annotated[str, typer.Option(help="address /metrics listens on")] = "127.0.0.1",
    max_backoff: Annotated[
        float, typer.Option(min=0.5, help="longest wait between reconnection attempts, seconds")
    ] = 30.0,
    push: Annotated[
        str | None, typer.Option(help="also push events to a baywatch server at this URL")
    ] = None,
    push_key: Annotated[
        str | None, typer.Option(envvar="BAYWATCH_PUSH_KEY", help="API key with the ingest scope")
    ] = None,
) -> None:
    """Follow every camera in SITES_DIR live, several per process, sharing one model."""
    from occupancy.runtime.watch import WatchService

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    check_push(push, push_key)
    push_factory = None
    if push is not None:
        try:
            from occupancy.runtime.push_client import PushClient
        except ImportError:
            fail(
                "--push needs the HTTP push client (occupancy.runtime.push_client), which is not installed"
            )
        spool = Path(".baywatch-spool")

        def push_factory(camera_id: str) -> PushClient:
            return PushClient(push, push_key, spool / camera_id)

    try:
        store = store_mod.Store(db or get_settings().db)
        service = WatchService(
            sites_dir,
            store,
            model=model or get_settings().model,
            device=device,
            analysis_fps=fps,
            metrics_port=metrics_port,
            metrics_host=metrics_host,
            max_backoff_s=max_backoff,
            push_factory=push_factory,
        )
    except site_mod.SiteError as exc:
        if "no usable site file" in str(exc):
            _print_problems(sites_dir)
        fail(str(exc))
    except (
        store_mod.StoreError,
        detector_mod.ModelNotFoundError,
        detector_mod.DeviceError,
    ) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"metrics port {metrics_host}:{metrics_port}: {exc.strerror}")
    for problem in service.problems:
        err_console.print(f"[yellow]skipped:[/] {problem}", highlight=False)
    done = threading.Event()

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    service.start()
    console.print(
        f"watching {len(service.cameras)} camera(s); metrics on "
        f"http://{metrics_host}:{service.port}/metrics, health on /healthz; Ctrl-C stops"
    )
    done.wait()
    console.print("stopping: closing sessions and runs")
    service.stop()
    store.close()
