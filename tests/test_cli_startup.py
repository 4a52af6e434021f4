"""The command line starts fast and validates settings once, for every command.

Start-up speed is measured by ``python -X importtime`` (README, "Layout"); what a test can
assert without timing is its cause: ``baywatch --help`` imports none of the heavy libraries
the commands use, and a command's own module is imported only when it runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from baywatch.cli import COMMANDS
from tests.conftest import MODEL, SAMPLES, needs_footage
from tests.test_cli import ROOT, assert_one_line_error, baywatch

HEAVY = (
    "torch",
    "ultralytics",
    "cv2",
    "av",
    "ortools",
    "pandas",
    "matplotlib",
    "scipy",
    "geopandas",
    "sqlalchemy",
    "fastapi",
    "openvino",
)


def _modules_after(argv: list[str]) -> set[str]:
    code = (
        "import sys, json\n"
        f"sys.argv = {['baywatch', *argv]!r}\n"
        "from baywatch.cli import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return set(json.loads(out.stderr.strip().splitlines()[-1]))


def test_help_lists_every_command_without_importing_heavy_libraries() -> None:
    mods = _modules_after(["--help"])
    assert not {m.split(".")[0] for m in mods} & set(HEAVY)
    assert not any(m.endswith("_cmd") for m in mods)


def test_help_lists_every_command(tmp_path: Path) -> None:
    out = baywatch("--help", cwd=tmp_path)
    assert out.returncode == 0
    for name in COMMANDS:
        assert name in out.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_loads_and_shows_help(name: str, tmp_path: Path) -> None:
    out = baywatch(name, "--help", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Usage:" in out.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("BAYWATCH_API_JOB_WORKERS", "-1", "BAYWATCH_API_JOB_WORKERS=-1"),
        ("BAYWATCH_TZ", "Mars/Olympus", "unknown IANA time zone 'Mars/Olympus'"),
        ("BAYWATCH_LIVE_FRAME_TIMEOUT_S", "inf", "BAYWATCH_LIVE_FRAME_TIMEOUT_S=inf"),
    ],
)
def test_a_bad_setting_is_one_line_in_every_command(
    name: str, variable: str, value: str, says: str, tmp_path: Path
) -> None:
    # Any arguments: the settings are checked before the command parses its own.
    p = baywatch(name, "x", cwd=tmp_path, env={variable: value})
    assert_one_line_error(p, "invalid setting", says)


@needs_footage
def test_analyse_with_an_openvino_model_never_imports_pytorch(tmp_path: Path) -> None:
    """The OpenVINO detector and the tracker run without PyTorch (``import torch`` alone costs
    1.7-2.2 s of CPU at every start): a real analysis imports neither torch nor ultralytics."""
    mods = _modules_after(
        [
            "analyse",
            "--site",
            str(SAMPLES / "meva-a1c9.yaml"),
            "--model",
            str(MODEL),
            "--db",
            f"sqlite:///{tmp_path}/a.db",
        ]
    )
    assert "occupancy.runtime.analysis" in mods and "openvino" in mods  # it did analyse
    assert not {m.split(".")[0] for m in mods} & {"torch", "ultralytics"}
