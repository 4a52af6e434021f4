"""Several frames per inference (vision.tiling): the zones' region of consecutive frames on
one model input gives, for the vehicles in the zones, nearly the boxes whole frames give."""

from __future__ import annotations

import tempfile

import av
import numpy as np
import pytest
from matplotlib.path import Path as PolygonPath

from occupancy.config.site import Site, load_site
from occupancy.observe.pipeline import prepare
from occupancy.runtime.analysis import detect_ahead
from tests.conftest import MODEL, needs_footage
from vision.detector import Detector
from vision.motion import MotionGate, region_mask
from vision.tiling import GUTTER, STRIDE, Tiler
from vision.types import Detections, Frame


@pytest.fixture(scope="module")
def busy() -> tuple[Site, list[np.ndarray]]:
    """A composed busy kerb (720p): its site and 18 frames half a second apart, from 24 s on
    (traffic in the aisle beside the bays)."""
    from occupancy.evaluation.scenes import compose_scene, kerb_spec

    with tempfile.TemporaryDirectory() as tmp:
        scene = compose_scene(kerb_spec("busy", 34.0), tmp, seed=0)
        site = load_site(scene.site_path)
        frames = []
        with av.open(str(scene.video_path)) as c:
            for i, f in enumerate(c.decode(video=0)):
                if i >= 600 and i % 12 == 0:
                    frames.append(f.to_ndarray(format="bgr24"))
                if len(frames) == 18:
                    break
    return site, frames


def _polygons(site: Site) -> list[np.ndarray]:
    return [z.pixels for z in prepare(site)[1]]


def _in_zones(dets: Detections, polygons: list[np.ndarray]) -> np.ndarray:
    """Boxes whose ground point (bottom centre) is in a zone, sorted."""
    bc = dets.bottom_center
    inside = np.zeros(len(bc), bool)
    for p in polygons:
        inside |= PolygonPath(p).contains_points(bc)
    boxes = dets.xyxy[inside]
    return boxes[np.lexsort(boxes.T[::-1])]


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (N, 4) with every box of ``b`` (M, 4): (N, M)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod((rb - lt).clip(0), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return np.asarray(inter / (area_a[:, None] + area_b[None, :] - inter))


def test_tiles_fit_apart_and_in_the_whole_frames_phase() -> None:
    bays = [np.array([[540, 520], [830, 520], [830, 640], [540, 640]], float)]
    t = Tiler.for_zones((1280, 720), bays, (640, 640))
    assert t is not None and t.capacity >= 4  # a kerb in the lower middle: 4+ frames per input
    x0, y0, x1, y1 = t.region
    for i, (ox, oy) in enumerate(t.origins):
        assert ox >= 0 and ox + x1 - x0 <= 640 and oy >= 0 and oy + y1 - y0 <= 640
        assert (ox - t.pad[0] - x0) % STRIDE == 0 and (oy - t.pad[1] - y0) % STRIDE == 0
        for ox2, oy2 in t.origins[i + 1 :]:
            apart_x = abs(ox2 - ox) >= x1 - x0 + GUTTER
            apart_y = abs(oy2 - oy) >= y1 - y0 + GUTTER
            assert apart_x or apart_y
    # The region holds the bays with room above for the vehicles standing in them.
    cx0, cy0, cx1, cy1 = t.crop
    assert cx0 <= 540 - 100 and cx1 >= 830 + 100 and cy0 <= 520 - 150 and cy1 >= 640


def test_zones_over_most_of_the_picture_are_not_tiled() -> None:
    whole = [np.array([[0, 100], [1280, 100], [1280, 700], [0, 700]], float)]
    assert Tiler.for_zones((1280, 720), whole, (640, 640)) is None
    assert Tiler.for_zones((1280, 720), [], (640, 640)) is None


@needs_footage
def test_tiled_frames_give_the_whole_frames_boxes_in_the_zones(
    busy: tuple[Site, list[np.ndarray]],
) -> None:
    site, frames = busy
    det = Detector.for_site(site, str(MODEL))
    polygons = _polygons(site)
    tiler = det.tiler((frames[0].shape[1], frames[0].shape[0]), polygons)
    assert tiler is not None and tiler.capacity >= 2
    got: list[Detections] = []
    for i in range(0, len(frames), tiler.capacity):
        handles = [det.submit_tile(im, tiler) for im in frames[i : i + tiler.capacity]]
        got += [h.result() for h in handles]
    wanted = twins = extra = 0
    for image, tiled in zip(frames, got, strict=True):
        want = _in_zones(det.split(det.detect(image))[0], polygons)
        have = _in_zones(det.split(tiled)[0], polygons)
        # Same pixels at the same anchor phase: the same vehicles, nearly the same boxes (the
        # network's receptive field sees the grey around a tile instead of the street, which
        # moves boxes by a pixel or two, more where two passing vehicles overlap).
        near = _iou(want, have) >= 0.8
        wanted += len(want)
        twins += int(near.any(axis=1).sum())
        extra += int((~near.any(axis=0)).sum())
    assert wanted >= 8  # vehicles pass through the zones
    # Nearly every vehicle has its twin; two passing vehicles that overlap can come out as
    # one box or two (the suppression is at the edge of its IoU threshold there).
    assert twins >= 0.8 * wanted and extra <= 0.2 * wanted, (wanted, twins, extra)


@needs_footage
def test_detect_ahead_with_tiles_keeps_order_and_a_partial_last_input(
    busy: tuple[Site, list[np.ndarray]],
) -> None:
    site, frames = busy
    det = Detector.for_site(site, str(MODEL))
    polygons = _polygons(site)
    h, w = frames[0].shape[:2]
    tiler = det.tiler((w, h), polygons)
    assert tiler is not None
    n = tiler.capacity * det.in_flight + 1  # the last input holds one frame
    items = [Frame(im, i, 500 * i, 500 * i) for i, im in enumerate(frames[:n])]
    gate = MotionGate(region_mask((w, h), polygons))
    gate.changed = lambda image: True  # type: ignore[method-assign]  # detect every frame
    got = list(detect_ahead(items, gate, det, tiler))
    assert [item for item, _ in got] == items
    # The same inputs as packing the frames by hand, ``capacity`` at a time, with the weak
    # boxes kept for the tracker as detect_ahead asks: the same boxes.
    want: list[Detections] = []
    for i in range(0, n, tiler.capacity):
        handles = [
            det.submit_tile(item.image, tiler, low=True) for item in items[i : i + tiler.capacity]
        ]
        want += [h.result() for h in handles]
    for (_, dets), w in zip(got, want, strict=True):
        assert dets is not None
        np.testing.assert_allclose(dets.xyxy, w.xyxy, atol=1e-3)
        assert (dets.class_id == w.class_id).all()
    # Every inference request is back in the pool.
    assert det.runner is not None and det.runner.free.qsize() == det.runner.in_flight


def test_tiles_map_boxes_back_to_their_frame() -> None:
    bays = [np.array([[540, 520], [830, 520], [830, 640], [540, 640]], float)]
    t = Tiler.for_zones((1280, 720), bays, (640, 640))
    assert t is not None
    x0, y0, _, _ = t.region
    (ox, oy), (ox2, oy2) = t.origins[:2]
    # A box at the same place in the first two tiles: the same frame box, once per tile.
    box = np.array([[ox + 10, oy + 20, ox + 60, oy + 70]], np.float32)
    moved = box + np.array([ox2 - ox, oy2 - oy, ox2 - ox, oy2 - oy], np.float32)
    (i1, b1), (i2, b2) = t.split(np.vstack([box, moved]), 2)
    assert i1.tolist() == [0] and i2.tolist() == [1]
    np.testing.assert_allclose(b1, b2)
    # At scale 1/2 with no horizontal padding: frame x = 2 * (tile x + region x0).
    np.testing.assert_allclose(b1[0, [0, 2]], [2 * (x0 + 10), 2 * (x0 + 60)])
    np.testing.assert_allclose(b1[0, [1, 3]], [2 * (y0 + 20), 2 * (y0 + 70)])


@pytest.mark.parametrize("scale", [2, 3])
def test_cutting_the_region_first_gives_the_whole_resized_frames_pixels(scale: int) -> None:
    """``Tiler.cut`` at an integer scale resizes only the region: the very pixels resizing the
    whole frame gives there (on real pixels, a MEVA frame tiled up to the frame size)."""
    import cv2

    from tests.conftest import FOOTAGE

    real = cv2.imread(str(FOOTAGE / "meva" / "rvmot-c4f6" / "frame-0000.jpg"))
    if real is None:
        pytest.skip("../shared/footage is not on this machine")
    w, h = 640 * scale, 360 * scale
    image = np.ascontiguousarray(np.tile(real, (4, 4, 1))[:h, :w])
    bays = [np.array([[0.42 * w, 0.8 * h], [0.65 * w, 0.8 * h], [0.65 * w, 0.9 * h]], float)]
    t = Tiler.for_zones((w, h), bays, (640, 640))
    assert t is not None and t.resized == (640, 360)
    x0, y0, x1, y1 = t.region
    whole = cv2.resize(image, t.resized, interpolation=cv2.INTER_LINEAR)[y0:y1, x0:x1]
    np.testing.assert_array_equal(t.cut(image), whole)
