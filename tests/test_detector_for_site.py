"""One way to build a detector from a site, and a detector over an already loaded model."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from occupancy.config.site import Site, load_site
from occupancy.runtime.watch import SharedModel
from tests.conftest import FOOTAGE, MODEL, SAMPLES, needs_footage
from vision.detector import Detector, ModelNotFoundError

pytestmark = needs_footage


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(SAMPLES / "meva-c4f6.yaml")


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    image = cv2.imread(str(FOOTAGE / "meva" / "rvmot-c4f6" / "frame-0000.jpg"))
    assert image is not None
    return image


def with_confidence(site: Site, confidence: float) -> Site:
    return site.model_copy(
        update={"detector": site.detector.model_copy(update={"confidence": confidence})}
    )


def test_for_site_keeps_the_sites_confidence_and_size(
    site: Site, frame: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAYWATCH_MODEL", str(MODEL))
    loose = Detector.for_site(site)
    strict = Detector.for_site(with_confidence(site, 0.6), loaded=loose.model)
    assert (loose.confidence, loose.imgsz) == (site.detector.confidence, site.detector.imgsz)
    assert (strict.confidence, strict.imgsz) == (0.6, site.detector.imgsz)
    assert loose.model_name == str(MODEL)  # BAYWATCH_MODEL, the site names none
    a, b = loose.detect(frame), strict.detect(frame)
    assert len(a) > len(b) > 0  # the parked row of cars: some below 0.6, some above
    assert b.confidence.min() >= 0.6
    # Every confident box of the strict detector is one the loose one found too.
    for box in b.xyxy:
        assert np.abs(a.xyxy - box).max(axis=1).min() < 1.0


def test_the_override_comes_first(site: Site) -> None:
    with pytest.raises(ModelNotFoundError, match="no-such-weights"):
        Detector.for_site(site, "models/no-such-weights.pt")


def test_shared_detector_detects_like_its_own_detector(site: Site, frame: np.ndarray) -> None:
    shared = SharedModel(str(MODEL))
    camera = shared.detector(site)
    own = Detector.for_site(site, str(MODEL))
    assert camera.runner is shared.runner is not None  # nothing loaded twice
    assert shared.model is None  # no ultralytics model (nor PyTorch) for an OpenVINO IR
    assert camera.class_ids == own.class_ids
    got, want = camera.detect(frame), own.detect(frame)
    np.testing.assert_allclose(got.xyxy, want.xyxy, atol=1e-3)
    np.testing.assert_array_equal(got.class_id, want.class_id)
    assert shared.busy_s > 0  # the shared detector counts its time
    shared.close()


def test_a_class_the_model_lacks_is_one_clear_error(site: Site) -> None:
    bad = site.model_copy(
        update={"detector": site.detector.model_copy(update={"classes": {"tractor": "truck"}})}
    )
    with pytest.raises(ValueError, match="'tractor' not classes of model"):
        Detector.for_site(bad, str(MODEL))
