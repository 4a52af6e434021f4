"""Shared fixtures: the real footage and offline detector in ../shared, loaded once."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MODEL = SHARED / "models" / "yolo11n_int8_openvino_model"
FOOTAGE = SHARED / "footage"
SAMPLES = ROOT / "sample_videos"

os.environ.setdefault("YOLO_OFFLINE", "True")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")

needs_footage = pytest.mark.skipif(
    not (MODEL.exists() and FOOTAGE.exists()),
    reason="../shared/models and ../shared/footage are not on this machine "
    "(see sample_videos/README.md to fetch the footage)",
)


@pytest.fixture(scope="session")
def detector_factory() -> Callable[..., object]:
    """Detectors keyed by class set: loading a model takes about a second."""
    from vision.detector import Detector

    cache: dict[tuple[str, ...], Detector] = {}

    def make(
        classes: tuple[str, ...] = ("car", "truck", "bus", "motorcycle", "bicycle"),
    ) -> Detector:
        key = tuple(sorted(classes))
        if key not in cache:
            cache[key] = Detector(str(MODEL), vehicle_classes=key)
        return cache[key]

    return make
