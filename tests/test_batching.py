"""Frames of several cameras in one inference (vision.batching): each camera gets, for the
vehicles in its zones, the boxes it gets when its frames are detected alone; ``watch``
with an OpenVINO model runs without PyTorch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from occupancy.config.site import Site, load_site
from tests.conftest import FOOTAGE, MODEL, ROOT, SAMPLES, needs_footage
from tests.test_tiling import _in_zones, _iou, _polygons
from vision.batching import CrossCameraBatcher, ShelfPacker
from vision.detector import Detector
from vision.tiling import GUTTER, STRIDE, Tiler
from vision.types import Detections


def test_shelves_keep_each_rectangle_in_its_phase_and_apart() -> None:
    packer = ShelfPacker((640, 640))
    # Two cameras' regions of different sizes and phases, in arrival order.
    kinds = [((272, 174), (8, 20)), ((520, 183), (24, 10))]
    placed: list[tuple[int, int, int, int]] = []
    for i in range(10):
        size, phase = kinds[i % 2]
        origin = packer.place(size, phase)
        if origin is None:
            break
        ox, oy = origin
        assert (ox - phase[0]) % STRIDE == 0 and (oy - phase[1]) % STRIDE == 0
        assert ox + size[0] <= 640 and oy + size[1] <= 640
        placed.append((ox, oy, ox + size[0], oy + size[1]))
    assert len(placed) == 3  # one small, one wide, one small: the next wide one does not fit
    for i, a in enumerate(placed):
        for b in placed[i + 1 :]:
            apart_x = b[0] >= a[2] + GUTTER or a[0] >= b[2] + GUTTER
            apart_y = b[1] >= a[3] + GUTTER or a[1] >= b[3] + GUTTER
            assert apart_x or apart_y, (a, b)
    # Asking does not place.
    assert packer.place((272, 174), (8, 20), commit=False) == packer.place((272, 174), (8, 20))


@pytest.fixture(scope="module")
def cameras() -> list[tuple[Site, list[np.ndarray]]]:
    """Two cameras with regions of different sizes: a composed busy kerb (720p, frames half
    a second apart from 24 s on, traffic beside the bays) and MEVA c4f6 (896x500, a parked
    row), each with its real frames."""
    from occupancy.evaluation.scenes import compose_scene, kerb_spec

    with tempfile.TemporaryDirectory() as tmp:
        scene = compose_scene(kerb_spec("busy", 30.0), tmp, seed=0)
        busy = load_site(scene.site_path)
        frames = []
        with av.open(str(scene.video_path)) as c:
            for i, f in enumerate(c.decode(video=0)):
                if i >= 600 and i % 12 == 0:
                    frames.append(f.to_ndarray(format="bgr24"))
                if len(frames) == 10:
                    break
    c4f6 = load_site(SAMPLES / "meva-c4f6.yaml")
    folder = FOOTAGE / "meva" / "rvmot-c4f6"
    parked = [cv2.imread(str(folder / f"frame-{i:04d}.jpg")) for i in range(0, 150, 15)]
    return [(busy, frames), (c4f6, [np.asarray(im, np.uint8) for im in parked])]


@needs_footage
def test_cameras_sharing_inferences_get_the_boxes_they_get_alone(
    cameras: list[tuple[Site, list[np.ndarray]]],
) -> None:
    detectors = [Detector.for_site(site, str(MODEL)) for site, _ in cameras]
    tilers: list[Tiler] = []
    for det, (site, frames) in zip(detectors, cameras, strict=True):
        tiler = det.tiler((frames[0].shape[1], frames[0].shape[0]), _polygons(site))
        assert tiler is not None
        tilers.append(tiler)
    assert tilers[0].tile_size != tilers[1].tile_size  # two region sizes on one canvas
    runner = detectors[0].runner
    assert runner is not None
    # A long wait: canvases are detected when full (or at close), never by the timer.
    batcher = CrossCameraBatcher(runner, max_wait_s=60.0)
    handles = []
    for i in range(len(cameras[0][1])):  # the cameras' frames interleaved, as they arrive
        for det, tiler, (_, frames) in zip(detectors, tilers, cameras, strict=True):
            handles.append(
                batcher.submit(
                    tiler,
                    frames[i],
                    confidence=det.low_confidence,
                    classes=det.class_ids,
                    names=det.names,
                )
            )
    batcher.close()  # the last, partial canvas too
    assert batcher.tiles == len(handles) == 20
    assert batcher.inferences <= len(handles) / 2  # at least two frames per inference
    wanted = twins = extra = 0
    k = 0
    for i in range(len(cameras[0][1])):
        for det, tiler, (site, frames) in zip(detectors, tilers, cameras, strict=True):
            got: Detections = handles[k].result()
            k += 1
            assert (got.confidence > det.low_confidence).all()
            assert set(got.class_id.tolist()) <= set(det.class_ids)
            alone = det.submit_tile(frames[i], tiler, low=True).result()
            polygons = _polygons(site)
            want = _in_zones(det.split(alone)[0], polygons)
            have = _in_zones(det.split(got)[0], polygons)
            # Same pixels at the same anchor phase; only the neighbours on the canvas differ
            # (another camera's street instead of grey), which the network's receptive field
            # sees a little of past the 16-pixel gutter.
            near = _iou(want, have) >= 0.9
            wanted += len(want)
            twins += int(near.any(axis=1).sum())
            extra += int((~near.any(axis=0)).sum())
    assert wanted >= 40  # the parked row and the busy kerb's vehicles
    assert twins >= 0.95 * wanted and extra <= 0.05 * wanted, (wanted, twins, extra)


@needs_footage
def test_watch_runs_a_recorded_camera_without_pytorch(tmp_path: Path) -> None:
    """``WatchService`` with the OpenVINO model follows a camera (here the c4f6 frames, a
    recorded source it analyses once) through the cross-camera batcher, importing neither
    torch nor ultralytics, and stores its sessions."""
    sites = tmp_path / "sites"
    sites.mkdir()
    doc = (SAMPLES / "meva-c4f6.yaml").read_text()
    doc = doc.replace("../../shared/footage", str(FOOTAGE))
    (sites / "c4f6.yaml").write_text(doc)
    code = f"""
import json, sys, time
from pathlib import Path
from occupancy.runtime.watch import WatchService
from occupancy.storage.store import Store
store = Store("sqlite:///{tmp_path}/w.db")
service = WatchService(Path({str(sites)!r}), store, model={str(MODEL)!r}, metrics_port=None)
service.start()
runner = service.runners[0]
deadline = time.monotonic() + 120
while runner.status.state != "finished" and time.monotonic() < deadline:
    time.sleep(0.2)
batcher = service.model.batcher
out = {{
    "state": str(runner.status.state),
    "frames": runner.status.frames,
    "error": runner.status.last_error,
    "tiles": batcher.tiles,
    "sessions": len(store.sessions_frame()),
    "modules": sorted({{m.split(".")[0] for m in sys.modules}}),
}}
service.stop()
print(json.dumps(out))
"""
    p = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["state"] == "finished" and out["error"] is None, out
    assert out["frames"] == 10  # 5 s of footage at 2 fps
    assert out["tiles"] >= 1  # detected through the batcher
    assert out["sessions"] >= 5  # the parked row (5 cars, and one double park)
    assert not {"torch", "ultralytics"} & set(out["modules"])
