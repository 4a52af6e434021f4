"""An OpenVINO IR detector in the runtime's throughput mode: several frames in flight.

ultralytics (8.4) runs OpenVINO models in LATENCY mode, synchronously, one frame at a
time (it dropped AsyncInferQueue after hangs, ultralytics issue #25923). On a small
CPU the THROUGHPUT hint does the same work in less CPU time (measured on 2 cores with
YOLO11n int8: 32 ms of CPU a frame against 43 ms) when two requests run at once, one
per stream. This runner keeps ultralytics' own pre- and post-processing (LetterBox,
``non_max_suppression``, ``scale_boxes``, same arguments as its predictor) around
explicit OpenVINO infer requests (``start_async``/``wait``, no AsyncInferQueue
callbacks), so its boxes are the predictor's boxes.

Requests are a pool: any thread may ``submit`` (it waits for a free request), so the
cameras of ``baywatch watch`` share the model's streams without a lock of their own.
Compiled models are cached in ``BAYWATCH_CACHE``/openvino (default
``~/.cache/baywatch/openvino``): later runs load the compiled blob instead of
compiling (a second or two of start-up).
"""

from __future__ import annotations

import os
import queue
from pathlib import Path
from typing import Any

import numpy as np

from vision.types import Detections, Image

NMS_IOU = 0.7  # ultralytics' predictor default (args.iou)
MAX_DET = 300  # ultralytics' predictor default (args.max_det)


def is_openvino_model(model: str) -> bool:
    """Whether ``model`` is an OpenVINO IR export: a folder holding an ``.xml`` or the
    ``.xml`` file itself.
    """
    p = Path(model).expanduser()
    return (p.is_dir() and any(p.glob("*.xml"))) or (p.suffix == ".xml" and p.is_file())


def cache_dir() -> Path | None:
    """Where compiled models are kept; None when it cannot be written."""
    root = os.environ.get("BAYWATCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "baywatch"
    )
    path = Path(root) / "openvino"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK) else None


class RawPending:
    """A frame in flight; ``result()`` waits for the model's raw output (1 x 84 x anchors)."""

    def __init__(self, runner: OpenVinoRunner, request: Any, shape: tuple[int, int]) -> None:
        self.runner, self.request, self.shape = runner, request, shape
        self.letterboxed = runner.imgsz
        self._raw: np.ndarray | None = None

    def result(self) -> np.ndarray:
        """The model's raw output tensor for the submitted image (waits for it); its request
        is returned to the pool.
        """
        if self._raw is None:
            try:
                self.request.wait()
                self._raw = np.array(self.request.get_output_tensor(0).data)  # copy: reused
            finally:
                self.runner.free.put(self.request)
        return self._raw


class OpenVinoRunner:
    """A compiled OpenVINO IR on the CPU, THROUGHPUT hint, with a pool of infer requests.

    Thread-safe: ``submit`` takes a free request (waiting for one if all are in flight).
    """

    def __init__(self, model: str, *, requests: int | None = None) -> None:
        from vision.telemetry import openvino_telemetry_off

        openvino_telemetry_off()  # before openvino is imported
        import openvino as ov
        from ultralytics.data.augment import LetterBox

        path = Path(model).expanduser()
        xml = path if path.suffix == ".xml" else next(path.glob("*.xml"))
        core = ov.Core()
        cache = cache_dir()
        if cache is not None:
            core.set_property({"CACHE_DIR": str(cache)})
        ov_model = core.read_model(str(xml))
        # Class names as ultralytics exported them next to the IR (metadata.yaml); {} if absent.
        self.names: dict[int, str] = {}
        meta = xml.parent / "metadata.yaml"
        if meta.is_file():
            import yaml

            doc = yaml.safe_load(meta.read_text()) or {}
            self.names = {int(k): str(v) for k, v in (doc.get("names") or {}).items()}
        if ov_model.input().get_partial_shape().is_dynamic:
            raise ValueError(f"{xml}: a dynamic-shape OpenVINO model; export it with a fixed imgsz")
        _, _, h, w = (int(d) for d in ov_model.input().shape)
        self.imgsz = (h, w)
        self.compiled = core.compile_model(ov_model, "CPU", {"PERFORMANCE_HINT": "THROUGHPUT"})
        n = requests or int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self.in_flight = max(1, n)
        self.free: queue.Queue[Any] = queue.Queue()
        for _ in range(self.in_flight):
            self.free.put(self.compiled.create_infer_request())
        # auto=False: a static model takes exactly imgsz (ultralytics' predictor does the same).
        self.letterbox = LetterBox((h, w), auto=False, stride=32)

    def submit(self, image: Image) -> RawPending:
        """Start inference on one BGR ``uint8`` image (any size: letterboxed like ultralytics)
        and return at once; blocks only while every inference request is busy.
        """
        padded = np.asarray(self.letterbox(image=image), dtype=np.uint8)
        # BGR HWC uint8 -> RGB CHW float32 in [0, 1], as ultralytics' predictor prepares it.
        x = np.ascontiguousarray(padded[..., ::-1].transpose(2, 0, 1))[None].astype(np.float32)
        x /= np.float32(255)
        request = self.free.get()
        try:
            request.start_async({0: x})
        except BaseException:
            self.free.put(request)
            raise
        return RawPending(self, request, (image.shape[0], image.shape[1]))


def postprocess(
    raw: np.ndarray,
    letterboxed: tuple[int, int],
    shape: tuple[int, int],
    *,
    confidence: float,
    classes: list[int],
    names: dict[int, str],
) -> Detections:
    """ultralytics' detection post-processing (NMS, boxes back to ``shape`` pixels)."""
    import torch
    from ultralytics.utils import nms, ops

    pred = nms.non_max_suppression(
        torch.from_numpy(raw),
        confidence,
        NMS_IOU,
        classes,
        # One box per object: a van seen as both "car" and "truck" must not become two.
        agnostic=True,
        max_det=MAX_DET,
    )[0]
    if len(pred) == 0:
        return Detections.empty(names)
    pred[:, :4] = ops.scale_boxes(letterboxed, pred[:, :4], shape)
    out = pred.numpy()
    return Detections(
        xyxy=out[:, :4].astype(np.float32),
        confidence=out[:, 4].astype(np.float32),
        class_id=out[:, 5].astype(np.int64),
        class_names=names,
    )
