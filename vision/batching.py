"""Frames of many cameras in one inference: their zone regions packed on one model input.

``baywatch watch`` follows many cameras with one model. Detecting each camera's frames
one whole frame at a time spends a full 640x640 inference (about 30 ms of CPU for
YOLO11n int8 on this machine's cores) on a picture that is half grey letterbox and
mostly street no zone looks at. ``vision.tiling`` already cuts, from one file's frames,
the region around the zones (resized exactly as the whole-frame letterbox resizes it)
and places several on one input at the whole frame's anchor phase; here the regions
come from *different* cameras, each with its own ``Tiler`` (own frame size, zones and
so region size and phase), as their frames arrive:

* ``ShelfPacker`` places regions of any size left to right in rows (shelves) on the
  canvas, each at an origin congruent to its own phase modulo the network's stride and
  at least ``GUTTER`` grey pixels from the others;
* ``CrossCameraBatcher`` keeps one open canvas; a camera's ``submit`` puts its frame's
  region on it and returns a handle at once. The canvas is detected (one inference,
  in a worker thread: as many workers as the OpenVINO runner has requests) when the
  next region does not fit, when no further region of the same size would, when it
  holds as many regions as there are cameras (``register``), or ``max_wait_s`` after
  its first region arrived, whichever comes first: a camera waits at most that long for
  others to share its inference. Boxes go to the tile holding
  their centre, with each camera's own confidence and classes, suppressed (NMS) only
  within their tile, and mapped back to that camera's frame pixels
  (``Tiler.boxes_at``), so a camera gets what ``Detector.submit_tile`` gives it alone.

``tests/test_batching.py`` checks, on real frames, that a camera's boxes in its zones
are those it gets alone (same vehicles, IoU >= 0.9).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from vision.openvino_runner import MAX_DET, PAD_VALUE, OpenVinoRunner, candidates, nms
from vision.tiling import GUTTER, STRIDE, Tiler
from vision.types import Detections, Image

# How long a region waits for others before its canvas is detected anyway (s). At 2
# analysed fps a camera offers a frame every 0.5 s; 16 cameras fill a six-region canvas
# in about 0.2 s. Waiting longer packs fuller canvases (less CPU), shorter lowers the
# latency from frame to stored event; a quarter of a second is small beside the seconds
# of dwell the occupancy rules count (occupancy.min_stationary_s, grace_s).
BATCH_WAIT_S = 0.25


def _aligned(at_least: int, phase: int) -> int:
    """The least x >= ``at_least`` with x = ``phase`` (mod STRIDE)."""
    return at_least + (phase - at_least) % STRIDE


class ShelfPacker:
    """Places rectangles on a canvas of ``size`` (height, width), in rows, each at an origin
    of a given phase modulo ``STRIDE``, ``GUTTER`` pixels at least apart."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.height, self.width = size
        self._row_top = 0  # the current shelf's top edge
        self._row_bottom = 0  # the lowest edge of a rectangle on the current shelf
        self._x = 0  # where the next rectangle of the current shelf may start

    def place(
        self, size: tuple[int, int], phase: tuple[int, int], *, commit: bool = True
    ) -> tuple[int, int] | None:
        """The origin (x, y) for a rectangle of ``size`` (width, height) at ``phase`` (x, y),
        or None when it no longer fits; ``commit=False`` only asks."""
        w, h = size
        ox, top = _aligned(self._x, phase[0]), self._row_top
        bottom = self._row_bottom
        if ox + w > self.width:  # a new shelf under the current one
            top = self._row_bottom + GUTTER if self._row_bottom else 0
            ox, bottom = _aligned(0, phase[0]), 0
        oy = _aligned(top, phase[1])
        if ox + w > self.width or oy + h > self.height:
            return None
        if commit:
            self._row_top, self._x = top, ox + w + GUTTER
            self._row_bottom = max(bottom, oy + h)
        return ox, oy


@dataclass(eq=False)
class BatchedTile:
    """One camera frame's share of a canvas; ``result()`` waits for its Detections."""

    tiler: Tiler
    origin: tuple[int, int]
    crop: Image | None
    confidence: float
    classes: Sequence[int]
    names: dict[int, str]
    done: threading.Event = field(default_factory=threading.Event)
    detections: Detections | None = None
    error: BaseException | None = None

    def result(self) -> Detections:
        """The frame's boxes (its frame's pixels, confidence above ``confidence``, only
        ``classes``); re-raises the inference's error, if it failed."""
        self.done.wait()
        if self.error is not None:
            raise self.error
        assert self.detections is not None
        return self.detections


@dataclass(eq=False)
class _Canvas:
    packer: ShelfPacker
    opened_at: float
    tiles: list[BatchedTile] = field(default_factory=list)


class CrossCameraBatcher:
    """One OpenVINO runner shared by many cameras, their regions packed per inference.

    Thread-safe: any camera's thread may ``submit``. ``busy_s`` adds up the seconds canvases
    spent between their submission to the runner and their results; ``inferences`` and
    ``tiles`` count what was detected (tiles / inferences: frames per inference).
    """

    def __init__(self, runner: OpenVinoRunner, *, max_wait_s: float = BATCH_WAIT_S) -> None:
        self.runner = runner
        self.max_wait_s = max_wait_s
        self.busy_s = 0.0
        self.inferences = 0
        self.tiles = 0
        self.sources = 0
        self._cond = threading.Condition()
        self._open: _Canvas | None = None
        self._closed = False
        self._workers = ThreadPoolExecutor(max(1, runner.in_flight), "batch-detect")
        self._timer = threading.Thread(target=self._expire, name="batch-timer", daemon=True)
        self._timer.start()

    def register(self) -> None:
        """Count one more source (camera) submitting frames: a canvas holding as many regions
        as there are sources is detected at once (one frame per camera and analysis tick
        is what a canvas can expect before ``max_wait_s``)."""
        with self._cond:
            self.sources += 1

    def submit(
        self,
        tiler: Tiler,
        image: Image,
        *,
        confidence: float,
        classes: Sequence[int],
        names: dict[int, str],
    ) -> BatchedTile:
        """Put the zones' region of ``image`` (a BGR ``uint8`` frame of ``tiler.frame_size``)
        on the open canvas; returns at once. Boxes: vehicles with confidence above
        ``confidence`` and class in ``classes``, in ``image``'s pixels. Raises RuntimeError
        after ``close``."""
        crop = tiler.cut(image)  # outside the lock: the resize is the costly part
        size, phase = tiler.tile_size, tiler.phase
        with self._cond:
            if self._closed:
                raise RuntimeError("the cross-camera batcher is closed")
            canvas = self._open
            origin = None if canvas is None else canvas.packer.place(size, phase)
            if canvas is None or origin is None:
                if canvas is not None:
                    self._seal()
                canvas = self._open = _Canvas(ShelfPacker(self.runner.imgsz), time.monotonic())
                origin = canvas.packer.place(size, phase)
                self._cond.notify_all()  # the timer has a new deadline
                if origin is None:
                    raise ValueError(f"a zone region of {size} does not fit the model's input")
            tile = BatchedTile(tiler, origin, crop, confidence, tuple(classes), names)
            canvas.tiles.append(tile)
            full = canvas.packer.place(size, phase, commit=False) is None
            if full or len(canvas.tiles) >= self.sources > 0:
                self._seal()  # full for regions of this size, or every camera is in
        return tile

    def close(self) -> None:
        """Detect what is on the open canvas and stop; waits for the inferences in flight."""
        with self._cond:
            self._closed = True
            if self._open is not None:
                self._seal()
            self._cond.notify_all()
        self._workers.shutdown(wait=True)

    def _seal(self) -> None:
        """Hand the open canvas to a worker (the caller holds the lock)."""
        canvas, self._open = self._open, None
        if canvas is not None and canvas.tiles:
            self._workers.submit(self._detect, canvas.tiles)

    def _expire(self) -> None:
        with self._cond:
            while not self._closed:
                if self._open is None:
                    self._cond.wait()
                    continue
                left = self._open.opened_at + self.max_wait_s - time.monotonic()
                if left <= 0:
                    self._seal()
                else:
                    self._cond.wait(left)

    def _detect(self, tiles: list[BatchedTile]) -> None:
        try:
            canvas = np.full((*self.runner.imgsz, 3), PAD_VALUE, np.uint8)
            for t in tiles:
                assert t.crop is not None
                (ox, oy), (tw, th) = t.origin, t.tiler.tile_size
                canvas[oy : oy + th, ox : ox + tw] = t.crop
                t.crop = None  # the canvas holds what is needed: no frame is kept
            t0 = time.perf_counter()
            raw = self.runner.submit(canvas).result()
            self.busy_s += time.perf_counter() - t0
            self.inferences += 1
            self.tiles += len(tiles)
            # The loosest threshold and every camera's classes; each tile then keeps its own.
            low = min(t.confidence for t in tiles)
            wanted = sorted({c for t in tiles for c in t.classes})
            xyxy, conf, cls = candidates(raw, low, wanted)
            for t in tiles:
                idx, boxes = t.tiler.boxes_at(t.origin, xyxy)
                mine = (conf[idx] > t.confidence) & np.isin(cls[idx], t.classes)
                idx, boxes = idx[mine], boxes[mine]
                # Suppression within a tile only: boxes of two frames never compete.
                keep = nms(xyxy[idx], conf[idx])[:MAX_DET]
                t.detections = (
                    Detections(boxes[keep], conf[idx][keep], cls[idx][keep], t.names)
                    if len(keep)
                    else Detections.empty(t.names)
                )
        except BaseException as exc:  # every waiting camera hears of it
            for t in tiles:
                t.error = exc
        finally:
            for t in tiles:
                t.done.set()
