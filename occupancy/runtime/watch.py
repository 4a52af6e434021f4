"""The live multi-camera service behind ``baywatch watch SITES_DIR``.

One process follows every camera described in a folder of site files, each in its own
thread, all sharing ONE loaded detector model. With an OpenVINO model (the CPU default)
it runs without PyTorch and the zone regions of several cameras' frames share one
inference (``vision.batching``); PyTorch weights detect one frame at a time under a
lock (the model already uses every core for one frame).
A stream that drops is reopened with backoff by ``LiveSource`` and the outage stored
as CDS ``comms_lost``/``comms_restored``; a camera that cannot be opened, a bad site
file or a failing analysis is reported and retried, and never stops the others.

Events go to the store (and, with a push URL, to the baywatch server through the
API's push client). ``/metrics`` serves Prometheus metrics (frames analysed, lag,
reconnects, per camera) and ``/healthz`` a JSON summary.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)

from occupancy.config.settings import get_settings
from occupancy.config.site import Site, SiteError, load_site
from occupancy.domain.records import CurbEvent, EventType, OccupancySession
from occupancy.domain.states import CameraState
from occupancy.observe.machine import OccupancyMachine
from occupancy.runtime.analysis import EventSink, analyse, resolve_source
from occupancy.storage.store import Store
from vision.batching import BATCH_WAIT_S, CrossCameraBatcher
from vision.detector import Detector, Pending, check_device, load_model
from vision.sources import STREAM_SCHEMES, FrameSource, LiveSource, SourceError, open_source
from vision.tiling import Tiler
from vision.types import Detections, Frame, Image

log = logging.getLogger(__name__)
SITE_SUFFIXES = (".yaml", ".yml", ".json")
# One decoding thread per stream: watch already decodes its cameras side by side, one
# reader thread each, so FFmpeg's own threads per stream (three per camera by default
# here) add threads and hand-offs, not cores; decoding a 720p25 stream takes about a
# twentieth of a core (bench/bench_watch.py reports the decoding share).
DECODER_THREADS = 1


# -- one model for every camera --------------------------------------------------------


class SharedModel:
    """A detector model loaded once; ``detector(site)`` gives each camera its view of it.

    An OpenVINO model on the CPU runs without PyTorch (``vision.openvino_runner``) and the
    cameras' frames share inferences: the zone regions of several cameras' frames packed
    on one model input (``vision.batching``; ``batch_wait_s``: how long a frame waits for
    others; ``batch=False``: each camera's frames whole, one per inference, as before
    batching, for comparison). Other weights (PyTorch, a CUDA device) are ultralytics'
    model, one frame at a time under a lock.
    """

    def __init__(
        self,
        model: str,
        device: str = "cpu",
        *,
        batch: bool = True,
        batch_wait_s: float = BATCH_WAIT_S,
    ) -> None:
        from vision.openvino_runner import OpenVinoRunner, is_openvino_model

        self.model_name = model
        self.device = check_device(device, model)
        self.runner: OpenVinoRunner | None = None
        self.batcher: CrossCameraBatcher | None = None
        self.model: Any = None
        if self.device == "cpu" and is_openvino_model(model):
            self.runner = OpenVinoRunner(model)
            self.runner.submit(np.zeros((*self.runner.imgsz, 3), np.uint8)).result()  # warm-up
            if batch:
                self.batcher = CrossCameraBatcher(self.runner, max_wait_s=batch_wait_s)
        else:
            self.model = load_model(model)
        self.lock = threading.Lock()
        self._busy_s = 0.0

    @property
    def busy_s(self) -> float:
        """Seconds the model spent detecting: busy_s / wall time = the model's load (1 =
        saturated; with an OpenVINO runner, saturated at its number of requests in flight)."""
        return self._busy_s + (0.0 if self.batcher is None else self.batcher.busy_s)

    def add_busy(self, seconds: float) -> None:
        """Count ``seconds`` of detection outside the batcher."""
        self._busy_s += seconds

    def detector(self, site: Site) -> Detector:
        """A camera's detector (its site's classes and thresholds) over the shared model."""
        return SharedDetector(self, site)

    def close(self) -> None:
        """Detect what waits for company and stop the batcher's threads."""
        if self.batcher is not None:
            self.batcher.close()


class SharedDetector(Detector):
    """A camera's classes and thresholds over the shared model."""

    def __init__(self, shared: SharedModel, site: Site) -> None:
        # The service's model (its --model), not the site's detector.model: one model for all.
        super().__init__(
            shared.model_name,
            vehicle_classes=site.detector.classes.keys(),
            confidence=site.detector.confidence,
            imgsz=site.detector.imgsz,
            loaded=shared.model,
            device=shared.device,
            runner=shared.runner,
            warm_up=False,
        )
        self.shared = shared
        self._registered = False

    @property
    def batches_across_sources(self) -> bool:  # type: ignore[override]
        """True with the OpenVINO runner: this camera's frames share inferences with the
        others' (``vision.batching``)."""
        return self.shared.batcher is not None

    def frames_ahead(self, tiler: Tiler | None) -> int:
        """One frame at a time per camera (see the comment)."""
        # The cameras together fill the runner's requests and the batcher's canvases; a
        # camera holding frames back to fill a canvas of its own would add its frame period
        # (0.5 s at 2 fps) of latency per frame, and could deadlock with the next camera.
        return 1

    def submit_tile(self, image: Image, tiler: Tiler, *, low: bool = False) -> Pending:
        """The zones' region of ``image`` on the shared batcher's canvas with other cameras'
        (``Detector.submit_tile`` without a batcher)."""
        batcher = self.shared.batcher
        if batcher is None:
            return super().submit_tile(image, tiler, low=low)
        if not self._registered:  # this camera is one of the batcher's sources from now on
            batcher.register()
            self._registered = True
        return batcher.submit(
            tiler,
            image,
            confidence=self.low_confidence if low else self.confidence,
            classes=self.class_ids,
            names=self.names,
        )

    def detect(self, image: Image) -> Detections:
        """``Detector.detect``, serialised with the other cameras on the shared model (or
        through the shared OpenVINO runner), adding its time to the model's ``busy_s``.
        """
        if self.runner is not None:  # the runner's request pool shares the model
            t0 = time.perf_counter()
            try:
                return super().detect(image)
            finally:
                self.shared.add_busy(time.perf_counter() - t0)
        with self.shared.lock:
            t0 = time.perf_counter()
            try:
                return super().detect(image)
            finally:
                self.shared.add_busy(time.perf_counter() - t0)


# -- sites -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CameraSpec:
    """One camera of the sites folder: its site file, the parsed site and its source URI."""

    path: Path
    site: Site
    uri: str


def load_sites(folder: Path) -> tuple[list[CameraSpec], list[str]]:
    """Every camera in ``folder``; bad files become one-line problems, not failures."""
    if not folder.is_dir():
        raise SiteError(f"{folder}: not a folder of site files")
    cameras: list[CameraSpec] = []
    problems: list[str] = []
    seen: dict[str, Path] = {}
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in SITE_SUFFIXES):
        try:
            site = load_site(path)
            uri = resolve_source(None, site, path)
        except SiteError as exc:
            problems.append(str(exc))
            continue
        if site.camera_id in seen:
            problems.append(f"{path}: camera_id {site.camera_id!r} is also {seen[site.camera_id]}")
            continue
        seen[site.camera_id] = path
        cameras.append(CameraSpec(path, site, uri))
    return cameras, problems


# -- metrics ---------------------------------------------------------------------------


class Metrics:
    """The service's Prometheus metrics, per camera: frames analysed, lag (s), reconnects,
    up (1 while frames arrive), events by type, and analysis errors.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.frames = Counter("baywatch_frames_analysed", "Frames analysed", ["camera"], registry=r)
        self.lag = Gauge(
            "baywatch_lag_seconds",
            "Seconds from a frame's capture to the end of its analysis",
            ["camera"],
            registry=r,
        )
        self.reconnects = Counter(
            "baywatch_reconnects",
            "Streams reopened after a drop or failure",
            ["camera"],
            registry=r,
        )
        self.up = Gauge("baywatch_camera_up", "1 while frames arrive", ["camera"], registry=r)
        self.events = Counter(
            "baywatch_events", "CDS events produced", ["camera", "event_type"], registry=r
        )
        self.errors = Counter(
            "baywatch_camera_errors",
            "Analyses that failed and were restarted",
            ["camera"],
            registry=r,
        )


# -- one camera ------------------------------------------------------------------------


@dataclass
class CameraStatus:
    """One camera as ``/healthz`` reports it: its ``CameraState``, frames analysed, the last
    frame's time (ms since the epoch), reconnects, comms losses, the last error and the
    run ids it produced.
    """

    camera_id: str
    state: CameraState = CameraState.STARTING
    frames: int = 0
    last_frame_ms: int | None = None
    reconnects: int = 0
    comms_lost: int = 0
    last_error: str | None = None
    runs: list[str] = field(default_factory=list)


class _Tee:
    """Counts events for the metrics, then passes them on to the push client, if any."""

    def __init__(self, runner: CameraRunner, push: EventSink | None) -> None:
        self.runner, self.push = runner, push

    def send(self, events: Sequence[CurbEvent], sessions: Sequence[OccupancySession]) -> None:
        self.runner.on_events(events)
        if self.push is not None:
            self.push.send(events, sessions)


class _Observer:
    def __init__(self, runner: CameraRunner) -> None:
        self.runner = runner

    def write(
        self, frame: Frame, vehicles: Detections, persons: Detections, machine: OccupancyMachine
    ) -> None:
        self.runner.on_frame(frame)

    def close(self) -> None:
        pass


class CameraRunner(threading.Thread):
    """The thread that follows one camera: analyses its source with ``analyse`` and, when it
    fails or the stream ends, reopens it with exponential backoff (0.5 s doubling up to
    ``max_backoff_s``) until ``stop``. A recorded file is analysed once.
    """

    def __init__(
        self,
        spec: CameraSpec,
        *,
        store: Store,
        model: SharedModel,
        metrics: Metrics,
        analysis_fps: float,
        max_backoff_s: float,
        push: EventSink | None,
    ) -> None:
        super().__init__(name=f"camera-{spec.site.camera_id}", daemon=True)
        self.spec = spec
        self.store = store
        self.model = model
        self.metrics = metrics
        self.analysis_fps = analysis_fps
        self.max_backoff_s = max_backoff_s
        self.push = push
        self.status = CameraStatus(spec.site.camera_id)
        self._stop_event = threading.Event()
        self._source: FrameSource | None = None
        self._lock = threading.Lock()
        cam = spec.site.camera_id
        metrics.up.labels(cam).set(0)
        metrics.frames.labels(cam)
        metrics.reconnects.labels(cam)

    @property
    def camera_id(self) -> str:
        """The site's ``camera_id``."""
        return self.spec.site.camera_id

    def stop(self) -> None:
        """Ask the thread to end; a live stream is stopped at once. Thread-safe."""
        self._stop_event.set()
        with self._lock:
            if isinstance(self._source, LiveSource):
                self._source.stop()

    def on_frame(self, frame: Frame) -> None:
        """Count an analysed frame and its lag (s from capture to now)."""
        now = time.time()
        self.status.frames += 1
        self.status.last_frame_ms = frame.t_ms
        self.status.state = CameraState.UP
        self.metrics.frames.labels(self.camera_id).inc()
        self.metrics.lag.labels(self.camera_id).set(max(0.0, now - frame.t_ms / 1000))
        self.metrics.up.labels(self.camera_id).set(1)

    def on_events(self, events: Sequence[CurbEvent]) -> None:
        """Count events by type; a ``comms_lost`` marks the camera down until its next frame, a
        ``comms_restored`` counts a reconnection.
        """
        for e in events:
            self.metrics.events.labels(self.camera_id, str(e.event_type)).inc()
            if e.event_type is EventType.COMMS_LOST:
                # Stored when the silence is noticed, not when the stream returns: the
                # camera is down from now until its next frame.
                self.status.comms_lost += 1
                self.status.state = CameraState.DOWN
                self.metrics.up.labels(self.camera_id).set(0)
            if e.event_type is EventType.COMMS_RESTORED:
                self._reconnected()

    def _reconnected(self) -> None:
        self.status.reconnects += 1
        self.metrics.reconnects.labels(self.camera_id).inc()

    def _open(self) -> FrameSource:
        uri = self.spec.uri
        if uri.isdigit() or uri.lower().startswith(STREAM_SCHEMES):
            target: str | int = int(uri) if uri.isdigit() else uri
            return LiveSource(
                target,
                self.analysis_fps,
                max_backoff_s=self.max_backoff_s,
                frame_timeout_s=get_settings().live_frame_timeout_s,
                decoder_threads=DECODER_THREADS,
            )
        return open_source(
            uri,
            analysis_fps=self.analysis_fps,
            start_ms=None,
            folder_fps=self.spec.site.source.fps,  # a folder of frames says its rate
        )

    def run(self) -> None:
        """The thread's loop (see the class docstring)."""
        backoff = 0.5
        first = True
        detector: Detector | None = None
        while not self._stop_event.is_set():
            self.status.state = CameraState.CONNECTING if first else CameraState.RECONNECTING
            try:
                if detector is None:
                    detector = self.model.detector(self.spec.site)
                source = self._open()
                with self._lock:
                    self._source = source
                if self._stop_event.is_set():
                    break
                if not first:
                    self._reconnected()
                first = False
                backoff = 0.5
                result = analyse(
                    self.spec.uri,
                    self.spec.site,
                    self.store,
                    detector=detector,
                    analysis_fps=self.analysis_fps,
                    source=source,
                    sink=_Tee(self, self.push),
                    observer=_Observer(self),
                )
                self.status.runs.append(result.run_id)
                if not source.info.live:
                    self.status.state = CameraState.FINISHED  # a recorded file: analysed once
                    return
            except (SourceError, SiteError, ValueError) as exc:
                self._failed(str(exc))
            except Exception as exc:  # a bug or a database outage: this camera only
                log.exception("camera %s failed", self.camera_id)
                self._failed(f"{type(exc).__name__}: {exc}")
                self.metrics.errors.labels(self.camera_id).inc()
            self.metrics.up.labels(self.camera_id).set(0)
            if self._stop_event.wait(backoff):
                break
            backoff = min(backoff * 2, self.max_backoff_s)
        self.status.state = CameraState.STOPPED
        self.metrics.up.labels(self.camera_id).set(0)

    def _failed(self, message: str) -> None:
        self.status.last_error = message
        self.status.state = CameraState.FAILED
        log.warning("%s", message)


# -- the service -----------------------------------------------------------------------


class WatchService:
    """Every camera of a sites folder, one thread each, one model, one HTTP endpoint.

    ``batch``/``batch_wait_s``: whether the cameras' frames share inferences, and how long
    (s) a frame waits for others (``SharedModel``).
    """

    def __init__(
        self,
        sites_dir: Path,
        store: Store,
        *,
        model: str,
        device: str = "cpu",
        analysis_fps: float = 2.0,
        metrics_port: int | None = 9108,
        metrics_host: str = "127.0.0.1",
        max_backoff_s: float = 30.0,
        push_factory: Callable[[str], EventSink] | None = None,
        batch: bool = True,
        batch_wait_s: float = BATCH_WAIT_S,
    ) -> None:
        self.cameras, self.problems = load_sites(sites_dir)
        if not self.cameras:
            raise SiteError(f"{sites_dir}: no usable site file")
        self.store = store
        self.metrics = Metrics()
        self.model = SharedModel(model, device, batch=batch, batch_wait_s=batch_wait_s)
        Gauge(
            "baywatch_model_busy_seconds",
            "Seconds the shared model spent detecting (its rate is the model's load; 1 = saturated)",
            registry=self.metrics.registry,
        ).set_function(lambda: self.model.busy_s)
        self.started = time.time()
        self.runners = [
            CameraRunner(
                spec,
                store=store,
                model=self.model,
                metrics=self.metrics,
                analysis_fps=analysis_fps,
                max_backoff_s=max_backoff_s,
                push=None if push_factory is None else push_factory(spec.site.camera_id),
            )
            for spec in self.cameras
        ]
        self._http: ThreadingHTTPServer | None = None
        if metrics_port is not None:
            self._http = ThreadingHTTPServer((metrics_host, metrics_port), self._handler())
            self._http.daemon_threads = True

    @property
    def port(self) -> int | None:
        """The port ``/metrics`` and ``/healthz`` listen on (None: no HTTP server)."""
        return None if self._http is None else int(self._http.server_address[1])

    def start(self) -> None:
        """Start every camera's thread and the HTTP server."""
        for r in self.runners:
            r.start()
        if self._http is not None:
            threading.Thread(target=self._http.serve_forever, daemon=True, name="http").start()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop every camera, waiting ``timeout_s`` seconds in all for their threads; flush the
        push clients; stop the HTTP server.
        """
        for r in self.runners:
            r.stop()
        deadline = time.monotonic() + timeout_s
        for r in self.runners:
            r.join(max(0.0, deadline - time.monotonic()))
            close = getattr(r.push, "close", None)
            if close is not None:
                close()  # the push client flushes what it spooled
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        self.model.close()

    def health(self) -> dict[str, Any]:
        """The ``/healthz`` document: ``ok`` (some camera is up), uptime (s), each camera's
        state, frames, age of its last frame (s), reconnects, comms losses and last
        error, and the problems found in the sites folder.
        """
        now_ms = time.time() * 1000
        cams = []
        for r in self.runners:
            s = r.status
            cams.append(
                {
                    "camera_id": s.camera_id,
                    "state": s.state,
                    "frames_analysed": s.frames,
                    "last_frame_age_s": None
                    if s.last_frame_ms is None
                    else round((now_ms - s.last_frame_ms) / 1000, 1),
                    "reconnects": s.reconnects,
                    "comms_lost": s.comms_lost,
                    "last_error": s.last_error,
                }
            )
        return {
            "ok": any(c["state"] == "up" for c in cams),
            "uptime_s": round(time.time() - self.started, 1),
            "cameras": cams,
            "site_problems": list(self.problems),
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    body = generate_latest(service.metrics.registry)
                    self._send(200, CONTENT_TYPE_LATEST, body)
                elif self.path == "/healthz":
                    h = service.health()
                    self._send(200 if h["ok"] else 503, "application/json", json.dumps(h).encode())
                else:
                    self._send(404, "text/plain", b"not found: try /metrics or /healthz\n")

            def _send(self, code: int, ctype: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # scrapes every few seconds would drown the log

        return Handler
