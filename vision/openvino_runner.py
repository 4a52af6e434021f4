"""An OpenVINO IR detector in the runtime's throughput mode: several frames in flight.

ultralytics (8.4) runs OpenVINO models in LATENCY mode, synchronously, one frame at a
time (it dropped AsyncInferQueue after hangs, ultralytics issue #25923). On a small
CPU the THROUGHPUT hint does the same work in less CPU time (measured on 2 cores with
YOLO11n int8: 32 ms of CPU a frame against 43 ms) when two requests run at once, one
per stream. Around explicit OpenVINO infer requests (``start_async``/``wait``, no
AsyncInferQueue callbacks) this runner does ultralytics' pre- and post-processing in
OpenCV and NumPy, step for step (``LetterBox`` with ``auto=False``, BGR to RGB in
[0, 1], ``non_max_suppression`` with the predictor's arguments, ``scale_boxes``), so
its boxes are the predictor's boxes (``tests/test_pipeline_speed.py`` compares them
on real frames) without importing PyTorch: ``import torch``, which ultralytics'
helpers pull in, cost 1.7-2.2 s of CPU at every start of ``analyse``.

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

import cv2
import numpy as np
from numpy.typing import NDArray

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

    def submit(self, image: Image) -> RawPending:
        """Start inference on one BGR ``uint8`` image (any size: letterboxed like ultralytics)
        and return at once; blocks only while every inference request is busy.
        """
        padded = letterbox(image, self.imgsz)
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


PAD_VALUE = 114  # ultralytics' LetterBox padding grey


def letterbox(image: Image, size: tuple[int, int]) -> Image:
    """``image`` (H, W, 3) resized to fit ``size`` = (height, width), aspect ratio kept,
    centred on grey: ultralytics' ``LetterBox(size, auto=False)`` (same rounding of the
    resized size, bilinear resize, padding split by its -0.1/+0.1 rule).
    """
    h0, w0 = image.shape[:2]
    h, w = size
    r = min(h / h0, w / w0)
    new_w, new_h = max(round(w0 * r), 1), max(round(h0 * r), 1)
    if (w0, h0) != (new_w, new_h):
        image = np.asarray(cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR))
    dw, dh = (w - new_w) / 2, (h - new_h) / 2
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    padded = cv2.copyMakeBorder(
        image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3
    )
    return np.asarray(padded, dtype=np.uint8)


def scale_boxes(
    letterboxed: tuple[int, int], xyxy: NDArray[np.float32], shape: tuple[int, int]
) -> NDArray[np.float32]:
    """Boxes ``(N, 4)`` xyxy in the letterboxed picture (height, width) back in the
    original picture of ``shape`` (height, width), clipped to it: ultralytics'
    ``ops.scale_boxes`` (per-axis gain of the rounded resize, the letterbox's padding).
    """
    gain = min(letterboxed[0] / shape[0], letterboxed[1] / shape[1])
    new_h, new_w = (max(round(x * gain), 1) for x in shape)
    gain_y, gain_x = new_h / shape[0], new_w / shape[1]
    pad_x = round((letterboxed[1] - new_w) / 2 - 0.1)
    pad_y = round((letterboxed[0] - new_h) / 2 - 0.1)
    out = np.array(xyxy, np.float32)
    out[:, [0, 2]] = ((out[:, [0, 2]] - pad_x) / gain_x).clip(0, shape[1])
    out[:, [1, 3]] = ((out[:, [1, 3]] - pad_y) / gain_y).clip(0, shape[0])
    return out


def candidates(
    raw: NDArray[np.float32], confidence: float, classes: list[int]
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int64]]:
    """The boxes ultralytics' ``non_max_suppression`` considers (one picture, one label a box):
    ``raw`` is the model's ``(1, 4 + C, anchors)`` output (centre x, centre y, width, height
    in input pixels, then C class scores); a box keeps its best class if that scores above
    ``confidence`` and is one of ``classes``. Returns (xyxy ``(N, 4)``, confidence ``(N,)``,
    class id ``(N,)``) in anchor order.
    """
    pred = raw[0]
    cand = pred[:, pred[4:].max(axis=0) > confidence]
    cls = cand[4:].argmax(axis=0)
    wanted = np.isin(cls, classes)
    cand, cls = cand[:, wanted], cls[wanted]
    conf = cand[4:].max(axis=0) if cand.shape[1] else np.zeros(0, np.float32)
    cx, cy, w, h = cand[:4]
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return xyxy.astype(np.float32), conf.astype(np.float32), cls.astype(np.int64)


def nms(xyxy: NDArray[np.float32], confidence: NDArray[np.float32]) -> NDArray[np.intp]:
    """Indices of the boxes kept by class-agnostic non-maximum suppression, by falling score:
    of boxes overlapping by more than ``NMS_IOU`` (IoU) the best scored stays (OpenCV's
    ``NMSBoxes``: greedy by score, as torchvision's ``nms`` which ultralytics calls), at
    most ``MAX_DET``.
    """
    if len(confidence) == 0:
        return np.zeros(0, np.intp)
    rects = np.column_stack([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]]).astype(np.float64)
    # Score threshold 0: the candidates are already above the detector's confidence.
    keep = cv2.dnn.NMSBoxes(rects.tolist(), confidence.astype(np.float64).tolist(), 0.0, NMS_IOU)
    return np.asarray(keep, np.intp).reshape(-1)[:MAX_DET]


def postprocess(
    raw: np.ndarray,
    letterboxed: tuple[int, int],
    shape: tuple[int, int],
    *,
    confidence: float,
    classes: list[int],
    names: dict[int, str],
) -> Detections:
    """ultralytics' detection post-processing: non-maximum suppression of the raw output of
    a picture letterboxed to ``letterboxed`` (height, width), boxes back in the original
    picture's ``shape`` (height, width) pixels.
    """
    xyxy, conf, cls = candidates(raw, confidence, classes)
    keep = nms(xyxy, conf)
    if len(keep) == 0:
        return Detections.empty(names)
    return Detections(
        xyxy=scale_boxes(letterboxed, xyxy[keep], shape),
        confidence=conf[keep],
        class_id=cls[keep],
        class_names=names,
    )
