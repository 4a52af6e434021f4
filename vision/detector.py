"""The YOLO detector (ultralytics), restricted to vehicles and persons.

Model choice, most specific first: an explicit option, the site's
``detector.model``, ``BAYWATCH_MODEL``, then ``yolo11n.pt`` (which ultralytics
downloads when online). Persons are detected only so review videos can blur them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vision.types import Detections, Image

if TYPE_CHECKING:
    from occupancy.config.site import Site

PERSON = "person"


class ModelNotFoundError(RuntimeError):
    """No usable weights; the message names the setting to change."""


def resolve_model(explicit: str | None, site_model: str | None, env_default: str) -> str:
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
    ) -> None:
        # ``loaded``: weights already loaded (``load_model(model)``), shared with other
        # detectors; then nothing is loaded and no warm-up inference is run here.
        self.model_name = model
        self.model = load_model(model) if loaded is None else loaded
        self.names: dict[int, str] = {int(k): str(v) for k, v in self.model.names.items()}
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
        self.confidence = confidence
        self.imgsz = imgsz
        if loaded is None:
            # The first inference imports and compiles lazily (seconds); pay it here, not mid-run.
            self.detect(np.zeros((imgsz, imgsz, 3), np.uint8))

    @classmethod
    def for_site(
        cls, site: Site, model_override: str | None = None, *, loaded: Any | None = None
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
        )

    def detect(self, image: Image) -> Detections:
        result = self.model.predict(
            image,
            conf=self.confidence,
            imgsz=self.imgsz,
            classes=self.class_ids,
            # One box per object: a van seen as both "car" and "truck" must not become two vehicles.
            agnostic_nms=True,
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
        """(vehicles, persons)."""
        is_person = (
            dets.class_id == self.person_id
            if self.person_id is not None
            else np.zeros(len(dets), bool)
        )
        return dets.filter(~is_person), dets.filter(is_person)
