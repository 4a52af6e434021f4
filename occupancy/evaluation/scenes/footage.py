"""Real pixels for composed scenes: an empty-bay background and vehicle sprites cut
from the MEVA G328 school car park clip (``../shared/footage/meva/rvmot-c4f6``).

The background is the per-pixel median of the clip (people and moving vehicles
vanish), with three parked cars of the row replaced by asphalt: each row of the
hole takes the colour of the asphalt visible in the gaps between parked cars at
that height, plus the fine texture of real asphalt from the aisle. The sprites
are the parked cars of the row (seen from the front, as they drive into a stall)
and two vehicles seen from the side on the access road, each with the pixel
position of its footprint so it can be scaled with the ground homography.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

Image = NDArray[np.uint8]
Pixel = tuple[float, float]

CLIP = Path("meva") / "rvmot-c4f6"
FRAME_SIZE = (896, 500)

# The sample site's control points (sample_videos/meva-c4f6.yaml): composed scenes keep them.
CONTROL_POINTS: tuple[tuple[Pixel, Pixel], ...] = (
    ((0, 440), (-85.5272429, 39.0520000)),
    ((896, 440), (-85.5267571, 39.0520000)),
    ((0, 340), (-85.5272776, 39.0521357)),
    ((896, 340), (-85.5267224, 39.0521357)),
)

# Stretch of the parked row emptied for the scene's bays (the red sedan, a white
# pickup and a silver SUV stood there), and the front edge of the stalls: the
# concrete curb, which slopes slightly across the image.
EMPTY_X = (380, 581)
# The building at the right edge (x, y from here on) stands in front of the aisle's end:
# vehicles arriving from the right come out from behind it.
FOREGROUND_FROM = (790, 280)
EMPTY_TOP = 364
_CURB = ((390, 431.0), (560, 427.0))

# Parked cars of the row (detector boxes on the median frame, x1 y1 x2 y2), seen nose-on.
FRONT_BOXES: dict[str, tuple[int, int, int, int]] = {
    "silver-hatchback": (71, 389, 111, 435),
    "white-pickup-a": (130, 376, 186, 428),
    "white-suv": (261, 374, 314, 433),
    "silver-suv-a": (316, 377, 376, 427),
    "red-sedan": (400, 387, 450, 431),
    "white-pickup-b": (467, 380, 526, 429),
    "silver-suv-b": (527, 376, 585, 424),
    "black-pickup": (583, 370, 652, 424),
    "dark-suv": (647, 379, 703, 423),
}
# Vehicles on the access road seen from the side: (frame index, box).
SIDE_BOXES: dict[str, tuple[int, tuple[int, int, int, int]]] = {
    "white-suv-side": (0, (611, 333, 688, 367)),
    "grey-car-side": (149, (695, 357, 768, 385)),
}
# People walking between the parked cars: (frame index, box) from the clip's ground truth
# (targets p-001 and p-002), widened by a pixel so the soft mask keeps the whole figure.
PERSON_BOXES: dict[str, tuple[int, tuple[int, int, int, int]]] = {
    "pedestrian-a": (0, (194, 384, 215, 419)),
    "pedestrian-b": (45, (238, 379, 259, 422)),
}


def curb_y(x: float) -> float:
    """The kerb line's image y (pixels) at image x, in the backdrop's frame."""
    (xa, ya), (xb, yb) = _CURB
    return ya + (x - xa) * (yb - ya) / (xb - xa)


@dataclass(frozen=True)
class Sprite:
    """Real vehicle pixels with a soft mask; ``foot`` is its footprint in the source frame."""

    name: str
    image: Image  # BGR crop
    alpha: NDArray[np.float32]  # HxW in [0, 1]
    foot: Pixel  # bottom centre of the box in the source frame
    side_view: bool
    person: bool = False


@dataclass(frozen=True)
class Backdrop:
    """The empty car park and the vehicle and person cut-outs a scene is composed from."""

    background: Image
    sprites: tuple[Sprite, ...]

    def sprite(self, name: str) -> Sprite:
        """The cut-out named ``name`` (StopIteration when there is none)."""
        return next(s for s in self.sprites if s.name == name)

    def front(self) -> list[Sprite]:
        """Vehicles seen from the front (they drive into the bays)."""
        return [s for s in self.sprites if not s.side_view and not s.person]

    def side(self) -> list[Sprite]:
        """Vehicles seen from the side (they drive along the aisle)."""
        return [s for s in self.sprites if s.side_view and not s.person]

    def people(self) -> list[Sprite]:
        """The pedestrians."""
        return [s for s in self.sprites if s.person]


class FootageMissingError(FileNotFoundError):
    """The shared footage the composer cuts pixels from is not on this machine."""


def _frames(clip: Path) -> list[Path]:
    files = sorted(clip.glob("frame-*.jpg"))
    if len(files) < 150:
        raise FootageMissingError(
            f"{clip}: expected the 150 frames of MEVA rvmot-c4f6 (see sample_videos/README.md)"
        )
    return files


def _soft_mask(h: int, w: int) -> NDArray[np.float32]:
    """A rounded rectangle with a 2-pixel feather: no hard crop edge for the detector to see."""
    m = np.zeros((h, w), np.float32)
    r = max(2, min(h, w) // 6)
    cv2.rectangle(m, (r, 1), (w - 1 - r, h - 2), 1.0, -1)
    cv2.rectangle(m, (1, r), (w - 2, h - 1 - r), 1.0, -1)
    for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
        cv2.circle(m, (cx, cy), r - 1, 1.0, -1)
    return np.asarray(cv2.GaussianBlur(m, (0, 0), 1.0), dtype=np.float32)


def _cut(
    image: Image, name: str, box: tuple[int, int, int, int], side: bool, person: bool = False
) -> Sprite:
    x1, y1, x2, y2 = box
    crop = np.ascontiguousarray(image[y1:y2, x1:x2])
    foot = ((x1 + x2) / 2, float(y2))
    return Sprite(name, crop, _soft_mask(*crop.shape[:2]), foot, side, person)


def _empty_stalls(median: Image) -> Image:
    """Replace the parked cars of EMPTY_X with asphalt (see the module docstring)."""
    m = median.astype(np.float32)
    x0, x1 = EMPTY_X
    y0, y1 = EMPTY_TOP, 436
    # Asphalt seen between parked cars, row by row: the light falls the same way there.
    gaps = np.concatenate([m[:, 380:397], m[:, 452:465]], axis=1)
    profile = np.median(gaps, axis=1)
    aisle = m[350:372, 420:560]
    grain = aisle - cv2.GaussianBlur(aisle, (0, 0), 3)
    h, w = y1 - y0, x1 - x0
    texture = np.tile(np.vstack([grain, grain[::-1]]), (4, 2, 1))[:h, :w]
    fill = profile[y0:y1, None, :] + texture
    mask = np.zeros((h, w), np.float32)
    for i in range(w):
        mask[: round(curb_y(x0 + i)) - y0 + 1, i] = 1.0
    mask[:4] = 0.0  # the aisle above the cars stays real
    soft = np.asarray(cv2.GaussianBlur(mask, (0, 0), 1.5), dtype=np.float32)[..., None]
    region = m[y0:y1, x0:x1]
    m[y0:y1, x0:x1] = soft * fill + (1 - soft) * region
    return np.clip(m, 0, 255).astype(np.uint8)


@lru_cache(maxsize=2)
def load_backdrop(footage_dir: Path) -> Backdrop:
    """Background and sprites from ``footage_dir`` (the shared footage folder)."""
    files = _frames(footage_dir / CLIP)
    frames: list[Image] = []
    for f in files:
        img = cv2.imread(str(f))
        if img is None:
            raise FootageMissingError(f"{f}: cannot read this frame")
        frames.append(np.asarray(img, dtype=np.uint8))
    median = np.median(np.stack(frames[::3]), axis=0).astype(np.uint8)
    # A car drives in from the right at 1.7 s and leaves a smear in the median there.
    median[:, 690:] = frames[0][:, 690:]
    sprites = [_cut(median, n, b, side=False) for n, b in FRONT_BOXES.items()]
    sprites += [_cut(frames[i], n, b, side=True) for n, (i, b) in SIDE_BOXES.items()]
    sprites += [
        _cut(frames[i], n, b, side=False, person=True) for n, (i, b) in PERSON_BOXES.items()
    ]
    background = _empty_stalls(median)
    background.setflags(write=False)
    return Backdrop(background, tuple(sprites))
