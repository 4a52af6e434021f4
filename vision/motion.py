"""Cheap change detection on the watched region, to skip decoding and detection.

A fixed bay camera mostly films nothing happening. Comparing small grey
thumbnails of the region around the bays (a few hundred microseconds) tells
whether anything there changed since the last analysed frame; when nothing did,
the previous detections still hold and the detector need not run.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from vision.types import Image

THUMB_WIDTH = 192


def region_mask(
    frame_size: tuple[int, int], polygons: Sequence[np.ndarray], margin_frac: float = 0.06
) -> NDArray[np.bool_]:
    """Thumbnail-sized mask of the polygons, grown by a margin so approaching vehicles count."""
    w, h = frame_size
    tw = THUMB_WIDTH
    th = max(1, round(h * tw / w))
    mask = np.zeros((th, tw), np.uint8)
    scale = np.array([tw / w, th / h])
    for poly in polygons:
        cv2.fillPoly(mask, [np.round(np.asarray(poly) * scale).astype(np.int32)], 255)
    grow = max(1, round(margin_frac * tw))
    grown = cv2.dilate(mask, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    return np.asarray(grown > 0)


def thumbnail(image: Image, mask_shape: tuple[int, int]) -> NDArray[np.int16]:
    """The small grey, blurred picture ``MotionGate`` compares: ``image`` (BGR ``uint8``,
    any size) resized to ``mask_shape`` = (height, width); ``int16`` so that differences
    do not wrap.
    """
    th, tw = mask_shape
    # Bilinear, not area averaging: 100 times cheaper at this ratio (measured: 0.04 vs 4 ms at
    # 720p); the blur then removes the aliasing and sensor noise it lets through.
    small = cv2.resize(image, (tw, th), interpolation=cv2.INTER_LINEAR)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return np.asarray(cv2.GaussianBlur(grey, (5, 5), 0), dtype=np.int16)


class MotionGate:
    """``changed(image)`` is True when the watched region differs from the reference frame.

    A pixel counts as changed when its grey level moved by more than ``pixel_delta``;
    the region changed when more than ``area_frac`` of its pixels did.
    """

    def __init__(
        self, mask: NDArray[np.bool_], *, pixel_delta: int = 18, area_frac: float = 0.002
    ) -> None:
        self.mask = mask
        self.pixel_delta = pixel_delta
        self.min_pixels = max(1, int(area_frac * mask.sum()))
        self._ref: NDArray[np.int16] | None = None

    def differs(self, a: NDArray[np.int16], b: NDArray[np.int16]) -> bool:
        """Whether two thumbnails differ within the mask: at least ``min_pixels`` masked pixels
        whose grey level moved by more than ``pixel_delta``.
        """
        diff = np.abs(a - b) > self.pixel_delta
        return int(np.count_nonzero(diff & self.mask)) >= self.min_pixels

    def changed(self, image: Image) -> bool:
        """Whether ``image`` (BGR ``uint8``, the source's frame size) differs in the watched
        region from the last frame that did; the first frame always has. A changed frame
        becomes the new reference.
        """
        thumb = thumbnail(image, self.mask.shape)
        if self._ref is None or self.differs(thumb, self._ref):
            self._ref = thumb
            return True
        return False
