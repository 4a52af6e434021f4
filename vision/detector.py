"""The YOLO detector (ultralytics), restricted to vehicles and persons.

Model choice, most specific first: an explicit option, the site's
``detector.model``, ``BAYWATCH_MODEL``, then ``yolo11n.pt`` (which ultralytics
downloads when online). Persons are detected only so review videos can blur them.

Device: ``cpu`` (default) or ``cuda``/``cuda:N`` (PyTorch weights on an NVIDIA GPU).
An OpenVINO IR on the CPU runs in OpenVINO's throughput mode with several frames in
flight (``vision.openvino_runner``): ``submit`` frames ahead and collect ``result()``s
in order; ``detect`` is submit-then-wait.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from vision.types import Detections, Image

if TYPE_CHECKING:
    from occupancy.config.site import Site
    from vision.openvino_runner import OpenVinoRunner, RawPending
    from vision.tiling import Tiler

PERSON = "person"
# ByteTrack's second association stage (Zhang et al., "ByteTrack", ECCV 2022, and
# ultralytics' bytetrack.yaml track_low_thresh): boxes down to this confidence may extend
# a track that exists, never start one. Heavy compression lowers a parked vehicle's
# confidence under the site's threshold in some frames (measured on MEVA frames at
# 80 kbit/s: a fifth of the distant row's boxes fall to 0.10-0.25); dropping those boxes
# before the tracker ends its track and splits the stay.
TRACK_LOW_CONFIDENCE = 0.1


class ModelNotFoundError(RuntimeError):
    """No usable weights; the message names the setting to change."""


class DeviceError(RuntimeError):
    """The requested device cannot run this model here; the message says which and why."""


DEVICES = ("cpu", "cuda")


def check_device(device: str, model: str) -> str:
    """``device`` normalised (cpu, cuda, cuda:N); DeviceError when it cannot run ``model``."""
    d = device.strip().lower()
    kind, _, index = d.partition(":")
    if kind not in DEVICES or (index and not index.isdigit()) or (kind == "cpu" and index):
        raise DeviceError(f"--device {device!r}: expected cpu, cuda or cuda:N")
    if kind == "cpu":
        return "cpu"
    import torch

    if not torch.cuda.is_available():
        raise DeviceError(
            f"--device {device}: no CUDA device here (PyTorch {torch.__version__} sees none); "
            "use --device cpu"
        )
    n = torch.cuda.device_count()
    if index and int(index) >= n:
        raise DeviceError(f"--device {device}: this machine has {n} CUDA device(s)")
    from vision.openvino_runner import is_openvino_model

    if is_openvino_model(model):
        raise DeviceError(
            f"--device {device}: {model} is an OpenVINO model, which runs on the CPU; "
            "give PyTorch weights (.pt) with --model for a CUDA device"
        )
    return d


class Pending(Protocol):
    """A detection in progress: ``result()`` waits for its Detections."""

    def result(self) -> Detections:
        """The frame's Detections (waits for them)."""
        ...


class _Done:
    """A detection already computed (synchronous backends)."""

    def __init__(self, dets: Detections) -> None:
        self.dets = dets

    def result(self) -> Detections:
        return self.dets


# Weight files ultralytics loads for detection (a folder: OpenVINO, NCNN, SavedModel ...).
MODEL_SUFFIXES = frozenset(
    {".pt", ".torchscript", ".onnx", ".engine", ".tflite", ".pb", ".mlmodel", ".mnn", ".xml"}
)


# Import name -> the pip package that provides it, for the runtimes ultralytics imports only
# when it first runs an exported model (ultralytics.nn.autobackend).
RUNTIME_PACKAGES = {
    "ai_edge_litert": "ai-edge-litert",
    "tflite_runtime": "tflite-runtime",
    "tensorflow": "tensorflow",
    "onnxruntime": "onnxruntime",
    "tensorrt": "tensorrt",
    "coremltools": "coremltools",
    "MNN": "MNN",
    "openvino": "openvino",
    "paddle": "paddlepaddle",
    "ncnn": "ncnn",
}


def missing_runtime(model: str, exc: ModuleNotFoundError) -> ModelNotFoundError:
    """The one-line error for an exported ``model`` whose runtime module is not installed."""
    module = (exc.name or "").split(".")[0] or str(exc)
    package = RUNTIME_PACKAGES.get(module, module.replace("_", "-"))
    kind = Path(model).suffix or "this"
    return ModelNotFoundError(
        f"model {model!r}: {kind} models need the Python package {package!r} (module "
        f"{module!r}), which is not installed: pip install {package}, or use a .pt or "
        "OpenVINO (*_openvino_model) model"
    )


def resolve_model(explicit: str | None, site_model: str | None, env_default: str) -> str:
    """The weights to load: the explicit option, else the site's ``detector.model``, else
    ``env_default`` (``BAYWATCH_MODEL``); the first one that is set wins.
    """
    return explicit or site_model or env_default


def _offline() -> bool:
    return os.environ.get("YOLO_OFFLINE", "").lower() in {"1", "true", "yes"}


def _looks_local(model: str) -> bool:
    return os.sep in model or "/" in model or model.endswith(("_model", ".onnx", ".tflite"))


def load_model(model: str) -> Any:
    """Load YOLO weights, with one clear error when they cannot be found or fetched."""
    hint = "set --model, the site's detector.model, or BAYWATCH_MODEL to a local weights file"
    path = Path(model).expanduser()
    if not path.exists() and (_looks_local(model) or _offline()):
        why = (
            "no such file"
            if _looks_local(model)
            else "not found locally and offline (YOLO_OFFLINE)"
        )
        raise ModelNotFoundError(f"model {model!r}: {why}; {hint}")
    if path.is_file() and path.suffix.lower() not in MODEL_SUFFIXES:
        raise ModelNotFoundError(
            f"model {model!r}: {path.suffix or 'this file'} is not a model format "
            f"({', '.join(sorted(MODEL_SUFFIXES))} or an exported *_model folder); {hint}"
        )
    from vision.telemetry import openvino_telemetry_off

    openvino_telemetry_off()  # ultralytics may import openvino
    from ultralytics import YOLO  # heavy import, only when a model is needed

    try:
        return YOLO(str(path) if path.exists() else model, task="detect")
    except Exception as exc:  # ultralytics raises many types for missing/undownloadable weights
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelNotFoundError(f"model {model!r} could not be loaded ({first}); {hint}") from None


class Detector:
    """Runs a YOLO model on one frame and keeps the classes that matter."""

    def __init__(
        self,
        model: str,
        *,
        vehicle_classes: Iterable[str],
        confidence: float = 0.25,
        imgsz: int = 640,
        loaded: Any | None = None,
        device: str = "cpu",
        throughput: bool = True,
        runner: OpenVinoRunner | None = None,
        warm_up: bool = True,
    ) -> None:
        # ``loaded``: weights already loaded (``load_model(model)``), shared with other
        # detectors; then nothing is loaded and no warm-up inference is run here.
        # ``runner``: an OpenVINO throughput runner shared the same way (watch's cameras).
        # ``warm_up=False``: the model was warmed up already (a shared runner).
        self.model_name = model
        self.device = check_device(device, model)
        self.runner = runner
        if runner is None and loaded is None and throughput and self.device == "cpu":
            from vision.openvino_runner import OpenVinoRunner, is_openvino_model

            if is_openvino_model(model):
                self.runner = OpenVinoRunner(model)
        self._model = loaded
        try:
            self._init_classes(model, vehicle_classes)
            self.confidence = confidence
            self.imgsz = imgsz
            self._pack: _Pack | None = None
            if loaded is None and warm_up:
                # The first inference imports and compiles lazily (seconds); pay it here, not
                # mid-run.
                self.detect(np.zeros((imgsz, imgsz, 3), np.uint8))
        except ModuleNotFoundError as exc:  # an exported model's runtime, imported late
            raise missing_runtime(model, exc) from None

    def _init_classes(self, model: str, vehicle_classes: Iterable[str]) -> None:
        if self.runner is not None and self.runner.names:
            # The class names come with the IR: ultralytics' YOLO object is not needed (asking
            # it for names would compile a second copy of the model, a second of start-up).
            self.names: dict[int, str] = dict(self.runner.names)
        else:
            self.names = {int(k): str(v) for k, v in self.model.names.items()}
        by_name = {v: k for k, v in self.names.items()}
        wanted = set(vehicle_classes)
        unknown = sorted(wanted - set(by_name))
        if unknown:
            raise ValueError(
                f"detector.classes: {', '.join(map(repr, unknown))} not classes of model {model!r}"
            )
        self.vehicle_ids = sorted(by_name[n] for n in wanted)
        self.person_id = by_name.get(PERSON)
        self.class_ids = self.vehicle_ids + ([self.person_id] if self.person_id is not None else [])

    @classmethod
    def for_site(
        cls,
        site: Site,
        model_override: str | None = None,
        *,
        loaded: Any | None = None,
        device: str = "cpu",
        runner: OpenVinoRunner | None = None,
    ) -> Detector:
        """The detector a site describes: its classes, confidence and inference size.

        Weights: ``model_override`` (a ``--model`` option), else the site's
        ``detector.model``, else ``BAYWATCH_MODEL`` (``resolve_model``). Raises
        ``ModelNotFoundError`` when they cannot be loaded and ``ValueError`` when the
        site names a class the model does not have.
        """
        from occupancy.config.settings import get_settings

        spec = site.detector
        return cls(
            resolve_model(model_override, spec.model, get_settings().model),
            vehicle_classes=spec.classes.keys(),
            confidence=spec.confidence,
            imgsz=spec.imgsz,
            loaded=loaded,
            device=device,
            runner=runner,
        )

    @property
    def model(self) -> Any:
        """ultralytics' YOLO object, loaded on first use (the OpenVINO runner needs none)."""
        if self._model is None:
            self._model = load_model(self.model_name)
        return self._model

    @property
    def in_flight(self) -> int:
        """How many frames may be submitted before the first result is collected."""
        return 1 if self.runner is None else self.runner.in_flight

    batches_across_sources = False
    """Whether frames of several sources share inferences (``watch``'s cameras): then a
    source's frames are tiled one at a time even when live (see ``frames_ahead``)."""

    def frames_ahead(self, tiler: Tiler | None) -> int:
        """How many frames to submit before collecting the first result: ``in_flight``
        inferences, of ``tiler.capacity`` frames each when tiled."""
        return max(1, self.in_flight) * (1 if tiler is None else tiler.capacity)

    @property
    def low_confidence(self) -> float:
        """The least confidence of the boxes ``submit(..., low=True)`` keeps for the tracker."""
        return min(self.confidence, TRACK_LOW_CONFIDENCE)

    def submit(self, image: Image, *, low: bool = False) -> _Done | _Pending:
        """Start detecting ``image``; the handle's ``result()`` gives its Detections.

        ``low``: keep boxes down to ``low_confidence`` (for ByteTrack's second stage, see
        ``TRACK_LOW_CONFIDENCE``) instead of ``confidence``; ``split`` keeps only persons at
        ``confidence`` or more.
        """
        conf = self.low_confidence if low else self.confidence
        if self.runner is not None:
            return _Pending(self, self.runner.submit(image), conf)
        return _Done(self._predict(image, conf))

    def tiler(self, frame_size: tuple[int, int], polygons: list[np.ndarray]) -> Tiler | None:
        """How frames of ``frame_size`` (width, height) whose zones are ``polygons`` (pixel
        ``(K, 2)`` arrays) can be detected several at a time (``vision.tiling``); None when
        they cannot: not an OpenVINO runner, or the zones' region too large to tile."""
        if self.runner is None:
            return None
        from vision.tiling import Tiler

        return Tiler.for_zones(frame_size, polygons, self.runner.imgsz)

    def submit_tile(self, image: Image, tiler: Tiler, *, low: bool = False) -> Pending:
        """Start detecting the zones' region of ``image`` (a frame of ``tiler.frame_size``)
        together with the frames submitted next: their crops share one inference when
        ``tiler.capacity`` of them are in, or when a ``result()`` is asked for first.
        Boxes are in ``image``'s pixels, as ``detect`` gives them, for vehicles whose box
        centre lies in the region (``tiler.crop``). ``low``: as for ``submit``.
        """
        conf = self.low_confidence if low else self.confidence
        pack = self._pack
        if pack is None or pack.started or pack.tiler is not tiler or pack.confidence != conf:
            pack = self._pack = _Pack(self, tiler, conf)
        return pack.add(image)

    def detect(self, image: Image) -> Detections:
        """Detect vehicles and persons in one BGR image.

        ``image`` is an ``(H, W, 3)`` ``uint8`` array in OpenCV's BGR order, any size (the
        model letterboxes it to ``imgsz``). Returns ``Detections`` with N boxes in that
        image's pixel frame: ``xyxy`` ``(N, 4)`` ``float32`` (x1, y1, x2, y2; origin top
        left, x right, y down), ``confidence`` ``(N,)`` ``float32`` at least
        ``self.confidence``, ``class_id`` ``(N,)`` ``int64`` (the model's COCO ids, only
        ``self.class_ids``); no ``tracker_id``. Non-maximum suppression is class-agnostic,
        so one vehicle gives one box. Blocks until the result is ready (``submit`` does not).
        """
        return self.submit(image).result()

    def _predict(self, image: Image, conf: float) -> Detections:
        result = self.model.predict(
            image,
            conf=conf,
            imgsz=self.imgsz,
            classes=self.class_ids,
            # One box per object: a van seen as both "car" and "truck" must not become two vehicles.
            agnostic_nms=True,
            device=self.device,
            verbose=False,
        )[0]
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return Detections.empty(self.names)
        return Detections(
            xyxy=boxes.xyxy.cpu().numpy().astype(np.float32),
            confidence=boxes.conf.cpu().numpy().astype(np.float32),
            class_id=boxes.cls.cpu().numpy().astype(np.int64),
            class_names=self.names,
        )

    def split(self, dets: Detections) -> tuple[Detections, Detections]:
        """(vehicles, persons); persons only at ``confidence`` or more (vehicles' weaker
        boxes are for the tracker, see ``submit``)."""
        is_person = (
            dets.class_id == self.person_id
            if self.person_id is not None
            else np.zeros(len(dets), bool)
        )
        return dets.filter(~is_person), dets.filter(
            is_person & (dets.confidence >= self.confidence)
        )


class _Pending:
    """A frame in the OpenVINO runner: its raw output, post-processed for this detector."""

    def __init__(self, detector: Detector, raw: RawPending, confidence: float) -> None:
        self.detector, self.raw, self.confidence = detector, raw, confidence

    def result(self) -> Detections:
        from vision.openvino_runner import postprocess

        d = self.detector
        return postprocess(
            self.raw.result(),
            self.raw.letterboxed,
            self.raw.shape,
            confidence=self.confidence,
            classes=d.class_ids,
            names=d.names,
        )


class _Pack:
    """Frames whose crops share one inference (``Detector.submit_tile``)."""

    def __init__(self, detector: Detector, tiler: Tiler, confidence: float) -> None:
        self.detector, self.tiler, self.confidence = detector, tiler, confidence
        self.images: list[Image] = []
        self.raw: RawPending | None = None
        self.results: list[Detections] | None = None
        self.count = 0

    @property
    def started(self) -> bool:
        return self.raw is not None

    def add(self, image: Image) -> _Tile:
        self.images.append(image)
        tile = _Tile(self, len(self.images) - 1)
        if len(self.images) == self.tiler.capacity:
            self.start()
        return tile

    def start(self) -> None:
        runner = self.detector.runner
        assert runner is not None and self.raw is None
        self.raw = runner.submit(self.tiler.compose(self.images))
        self.count = len(self.images)
        self.images = []  # the canvas holds what is needed: no frame is kept

    def result(self, i: int) -> Detections:
        if self.results is None:
            from vision.openvino_runner import MAX_DET, candidates, nms

            if self.raw is None:
                self.start()
            assert self.raw is not None
            d = self.detector
            xyxy, conf, cls = candidates(self.raw.result(), self.confidence, d.class_ids)
            self.results = []
            for idx, boxes in self.tiler.split(xyxy, self.count):
                # Suppression within a tile only: boxes of two frames never compete.
                keep = nms(xyxy[idx], conf[idx])[:MAX_DET]
                self.results.append(
                    Detections(boxes[keep], conf[idx][keep], cls[idx][keep], d.names)
                    if len(keep)
                    else Detections.empty(d.names)
                )
        return self.results[i]


class _Tile:
    """One frame's share of a ``_Pack``."""

    def __init__(self, pack: _Pack, index: int) -> None:
        self.pack, self.index = pack, index

    def result(self) -> Detections:
        return self.pack.result(self.index)
