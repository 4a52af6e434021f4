"""``baywatch analyse`` from the outside: bad input is one line and a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FOOTAGE, MODEL, ROOT, SAMPLES, needs_footage

SITE = SAMPLES / "meva-a1c9.yaml"


def baywatch(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "BAYWATCH_MODEL": str(MODEL), "YOLO_OFFLINE": "True", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "baywatch.cli", *args],
        cwd=cwd,
        env={**full, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_one_line_error(p: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_missing_source_file(tmp_path: Path) -> None:
    p = baywatch(
        "analyse",
        str(tmp_path / "nope.mp4"),
        "--site",
        str(SITE),
        "--db",
        f"sqlite:///{tmp_path}/x.db",
        cwd=tmp_path,
    )
    assert_one_line_error(p, "nope.mp4", "no such file")


def test_corrupt_video(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(os.urandom(50_000))
    p = baywatch(
        "analyse", str(bad), "--site", str(SITE), "--db", f"sqlite:///{tmp_path}/x.db", cwd=tmp_path
    )
    assert_one_line_error(p, "bad.mp4")


def test_a_still_image_is_refused(tmp_path: Path) -> None:
    import cv2
    import numpy as np

    still = tmp_path / "snapshot.jpg"
    cv2.imwrite(str(still), np.zeros((432, 768, 3), np.uint8))
    p = baywatch(
        "analyse",
        str(still),
        "--site",
        str(SITE),
        "--db",
        f"sqlite:///{tmp_path}/x.db",
        cwd=tmp_path,
    )
    assert_one_line_error(p, "snapshot.jpg", "still image")
    assert not (tmp_path / "x.db").exists() or "0 frames" not in p.stdout


def test_invalid_site_file(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(SITE.read_text().replace("max_stay: 30", "max_stay: -5", 1))
    p = baywatch("analyse", "--site", str(site), "--db", f"sqlite:///{tmp_path}/x.db", cwd=tmp_path)
    assert_one_line_error(p, "site.yaml", "bays.0.max_stay", "greater than 0")
    p = baywatch("analyse", "--site", str(tmp_path / "absent.yaml"), cwd=tmp_path)
    assert_one_line_error(p, "absent.yaml", "not found")


def test_unreadable_stream(tmp_path: Path) -> None:
    p = baywatch(
        "analyse",
        "rtsp://127.0.0.1:9/cam",
        "--site",
        str(SITE),
        "--db",
        f"sqlite:///{tmp_path}/x.db",
        cwd=tmp_path,
    )
    assert_one_line_error(p, "rtsp://127.0.0.1:9/cam", "cannot open stream")


@needs_footage  # the site's source is checked before the weights
def test_missing_weights_names_the_setting(tmp_path: Path) -> None:
    p = baywatch(
        "analyse",
        "--site",
        str(SITE),
        "--db",
        f"sqlite:///{tmp_path}/x.db",
        cwd=tmp_path,
        env={"BAYWATCH_MODEL": "yolo11n.pt"},
    )
    assert_one_line_error(p, "yolo11n.pt", "BAYWATCH_MODEL")


@needs_footage
def test_truncated_video_keeps_what_was_analysed(tmp_path: Path) -> None:
    data = (FOOTAGE / "intel" / "car-detection.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    db = tmp_path / "t.db"
    p = baywatch(
        "analyse",
        str(cut),
        "--site",
        str(SAMPLES / "intel-aisle.yaml"),
        "--db",
        f"sqlite:///{db}",
        "-q",
        cwd=tmp_path,
    )
    assert_one_line_error(p, "cut.mp4")
    if "truncated" in p.stderr:  # the header survived: the decodable part was analysed and kept
        from occupancy.storage.store import Store

        runs = (
            Store(f"sqlite:///{db}")
            .engine.connect()
            .exec_driver_sql("select status, frames_analysed from runs")
            .all()
        )
        assert runs[0][0] == "failed" and runs[0][1] > 0


@needs_footage
def test_analyse_prints_the_sessions(tmp_path: Path) -> None:
    p = baywatch(
        "analyse",
        "--site",
        str(SAMPLES / "meva-c4f6.yaml"),
        "--db",
        f"sqlite:///{tmp_path}/x.db",
        "-q",
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr
    assert "meva-g328: 6 session(s)" in p.stdout
    for bay in ("row-05", "row-06", "row-07", "row-08", "row-09"):
        assert bay in p.stdout
    assert "double_park" in p.stdout


@pytest.mark.parametrize("cmd", [["--help"], ["analyse", "--help"], ["site-schema"]])
def test_help_and_schema(cmd: list[str], tmp_path: Path) -> None:
    p = baywatch(*cmd, cwd=tmp_path)
    assert p.returncode == 0 and p.stdout.strip()
