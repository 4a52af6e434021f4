"""Several frames in one inference: the region around the zones, tiled on the model's input.

The detector's OpenVINO model is a fixed 640x640 network (the IR cannot be reshaped: its
attention layers have baked shapes). A 1280x720 frame letterboxed into it is scaled by
1/2 and is 44 % grey padding, and most of the rest is sky, buildings and far streets
that no zone looks at. What matters is the region around the zones (bays and the lanes
beside them) plus a margin for the vehicles standing in them, whose boxes rise above
the zone by their height. So, on recorded footage, ``Tiler`` takes that region out of
each frame as the whole-frame letterbox would show it (the frame resized exactly as
``openvino_runner.letterbox`` resizes it, so the very same pixels), and places the
regions of up to ``capacity`` consecutive frames on one grey 640x640 input, apart by a
grey gutter, each at the same position modulo the network's stride as in the whole
letterboxed frame (the anchor grid meets the picture as it does there): one inference
detects them all. Each box is given to the tile holding its centre, suppressed (NMS)
only against boxes of the same tile, clipped to the tile and mapped back to its
frame's pixels with the letterbox's own ``scale_boxes``.

On the busy kerb of ``bench/bench_speed.py`` the boxes in the zones are the whole-frame
boxes to the pixel. A vehicle straddling the region's edge is seen cut off there; the
margins (``TOP_MARGIN`` and the others, fractions of the frame) keep such vehicles out
of the zones, and the benchmark measures the agreement with the per-frame analysis,
which detects on whole frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from vision.openvino_runner import PAD_VALUE, scale_boxes
from vision.types import Image

# Margins around the zones' bounding box, as fractions of the frame's height or width. Above:
# a vehicle's box rises above the ground point that puts it in a zone by its height (a van
# near the camera: about a quarter of a 16:9 frame); sideways: half a vehicle's length; below:
# its front or rear bumper.
TOP_MARGIN = 0.25
SIDE_MARGIN = 0.10
BOTTOM_MARGIN = 0.06
GUTTER = 16  # grey pixels at least between tiles, so that no box spans two frames
STRIDE = 32  # the network's largest stride: its anchor grid repeats every 32 pixels


@dataclass(frozen=True)
class Tiler:
    """Where the zones' region is and where its tiles go on the model's input.

    ``frame_size``: (width, height) of the frames; ``resized``: (width, height) of a frame
    in the whole-frame letterbox, ``pad``: that letterbox's left and top padding;
    ``region``: (x0, y0, x1, y1) of the zones' region in the resized frame; ``origins``:
    the top-left corner of each tile on the ``canvas`` (height, width).
    """

    frame_size: tuple[int, int]
    resized: tuple[int, int]
    pad: tuple[int, int]
    region: tuple[int, int, int, int]
    origins: tuple[tuple[int, int], ...]
    canvas: tuple[int, int]

    @property
    def capacity(self) -> int:
        """How many frames one inference detects."""
        return len(self.origins)

    @property
    def crop(self) -> tuple[float, float, float, float]:
        """The region in frame pixels (x0, y0, x1, y1)."""
        gx, gy = self.resized[0] / self.frame_size[0], self.resized[1] / self.frame_size[1]
        x0, y0, x1, y1 = self.region
        return x0 / gx, y0 / gy, x1 / gx, y1 / gy

    @classmethod
    def for_zones(
        cls,
        frame_size: tuple[int, int],
        polygons: Sequence[NDArray[np.float64]],
        canvas: tuple[int, int],
    ) -> Tiler | None:
        """The tiling for zones ``polygons`` (pixel ``(K, 2)`` x, y arrays) in frames of
        ``frame_size`` (width, height) on a model input ``canvas`` (height, width); None when
        fewer than two regions fit (the zones cover most of the picture: whole frames it is).
        """
        w, h = frame_size
        if not polygons:
            return None
        pts = np.concatenate([np.asarray(p, float).reshape(-1, 2) for p in polygons])
        # The whole-frame letterbox (openvino_runner.letterbox): its size and padding.
        r = min(canvas[0] / h, canvas[1] / w)
        new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)
        pad_x = round((canvas[1] - new_w) / 2 - 0.1)
        pad_y = round((canvas[0] - new_h) / 2 - 0.1)
        gx, gy = new_w / w, new_h / h
        x0 = max(0, math.floor((pts[:, 0].min() - SIDE_MARGIN * w) * gx))
        y0 = max(0, math.floor((pts[:, 1].min() - TOP_MARGIN * h) * gy))
        x1 = min(new_w, math.ceil((pts[:, 0].max() + SIDE_MARGIN * w) * gx))
        y1 = min(new_h, math.ceil((pts[:, 1].max() + BOTTOM_MARGIN * h) * gy))
        tw, th = x1 - x0, y1 - y0
        if tw <= 0 or th <= 0:
            return None
        # Each tile in the phase the region has in the whole letterboxed frame (see above).
        phase_x, phase_y = (pad_x + x0) % STRIDE, (pad_y + y0) % STRIDE
        pitch_x = -(-(tw + GUTTER) // STRIDE) * STRIDE
        pitch_y = -(-(th + GUTTER) // STRIDE) * STRIDE
        xs = range(phase_x, canvas[1] - tw + 1, pitch_x)
        ys = range(phase_y, canvas[0] - th + 1, pitch_y)
        if len(xs) * len(ys) < 2:
            return None
        origins = tuple((ox, oy) for oy in ys for ox in xs)
        return cls((w, h), (new_w, new_h), (pad_x, pad_y), (x0, y0, x1, y1), origins, canvas)

    @property
    def tile_size(self) -> tuple[int, int]:
        """(width, height) of one tile, model pixels."""
        x0, y0, x1, y1 = self.region
        return x1 - x0, y1 - y0

    @property
    def phase(self) -> tuple[int, int]:
        """(x, y) of the region's corner in the whole letterboxed frame, modulo ``STRIDE``: a
        tile placed at an origin with this phase meets the anchor grid as the frame does."""
        return (self.pad[0] + self.region[0]) % STRIDE, (self.pad[1] + self.region[1]) % STRIDE

    def cut(self, image: Image) -> Image:
        """The region of ``image`` (a BGR frame of ``frame_size``), resized as the whole-frame
        letterbox resizes it: ``(tile height, tile width, 3)`` ``uint8``."""
        x0, y0, x1, y1 = self.region
        (w, h), (rw, rh) = self.frame_size, self.resized
        k = w // rw
        if k > 1 and (w, h) == (k * rw, k * rh) and image.shape[1::-1] == (w, h):
            # An integer scale (1280x720 -> 640x360): bilinear resizing maps output pixel
            # (x, y) to input (k x + (k-1)/2, k y + (k-1)/2), so the region's own pixels, cut
            # at (k x0, k y0), resize to exactly the whole frame's pixels there, four to ten
            # times cheaper (tests/test_tiling.py compares them).
            part = image[k * y0 : k * y1, k * x0 : k * x1]
            return np.asarray(cv2.resize(part, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR))
        if image.shape[1::-1] != self.resized:
            image = np.asarray(cv2.resize(image, self.resized, interpolation=cv2.INTER_LINEAR))
        return image[y0:y1, x0:x1]

    def compose(self, images: Sequence[Image]) -> Image:
        """The model input: the region of each of ``images`` (at most ``capacity`` BGR frames
        of ``frame_size``), resized as the letterbox resizes the whole frame, placed at
        ``origins`` on grey."""
        assert 0 < len(images) <= self.capacity
        canvas = np.full((*self.canvas, 3), PAD_VALUE, np.uint8)
        tw, th = self.tile_size
        for image, (ox, oy) in zip(images, self.origins, strict=False):
            canvas[oy : oy + th, ox : ox + tw] = self.cut(image)
        return canvas

    def split(
        self, xyxy: NDArray[np.float32], n: int
    ) -> list[tuple[NDArray[np.intp], NDArray[np.float32]]]:
        """For each of the first ``n`` tiles: the indices of the canvas boxes ``xyxy``
        (``(N, 4)``, model pixels) whose centre lies on it, and those boxes clipped to the
        tile and mapped to frame pixels."""
        return [self.boxes_at(origin, xyxy) for origin in self.origins[:n]]

    def boxes_at(
        self, origin: tuple[int, int], xyxy: NDArray[np.float32]
    ) -> tuple[NDArray[np.intp], NDArray[np.float32]]:
        """For a tile of this region placed at ``origin`` (x, y) on a canvas (anywhere, with
        this tiler's ``phase``): the indices of the canvas boxes ``xyxy`` (``(N, 4)``, model
        pixels) whose centre lies on it, and those boxes clipped to it and mapped to frame
        pixels (x1, y1, x2, y2)."""
        cx = (xyxy[:, 0] + xyxy[:, 2]) / 2
        cy = (xyxy[:, 1] + xyxy[:, 3]) / 2
        x0, y0, _, _ = self.region
        tw, th = self.tile_size
        ox, oy = origin
        idx = np.flatnonzero((cx >= ox) & (cx < ox + tw) & (cy >= oy) & (cy < oy + th))
        b = xyxy[idx].copy()
        # Tile pixels -> the whole letterboxed frame's pixels -> the frame's.
        b[:, [0, 2]] = b[:, [0, 2]].clip(ox, ox + tw) - ox + self.pad[0] + x0
        b[:, [1, 3]] = b[:, [1, 3]].clip(oy, oy + th) - oy + self.pad[1] + y0
        h, w = self.frame_size[1], self.frame_size[0]
        return idx, scale_boxes(self.canvas, b, (h, w))
