"""Accuracy floors: the real offline detector and the pipeline as it is, on a composed
four-minute scene and on the sample clips, measured by ``baywatch evaluate``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from baywatch.cli import app
from occupancy.config.site import load_site
from occupancy.evaluation.evaluate import Report, check_against_site, evaluate, spans_from_store
from occupancy.evaluation.scenes import ComposedScene, SceneSpec, compose_scene, kerb_spec
from occupancy.evaluation.truth import load_truth
from occupancy.runtime.analysis import analyse, resolve_source
from occupancy.storage.store import Store
from tests.conftest import SAMPLES, needs_footage
from vision.detector import Detector

pytestmark = needs_footage


def analyse_and_evaluate(
    site_path: Path, truth_path: Path, detector: Detector, db: Path
) -> tuple[Report, str]:
    site = load_site(site_path)
    truth = load_truth(truth_path)
    check_against_site(truth, site, str(truth_path))
    store = Store(f"sqlite:///{db}")
    result = analyse(resolve_source(None, site, site_path), site, store, detector=detector)
    found, run_id = spans_from_store(store, site, result.run_id)
    return evaluate(truth, found), run_id


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> ComposedScene:
    # Four minutes at 6 fps: the pipeline analyses 2 frames a second whatever the rate.
    # A bay's next vehicle comes to rest at least 8 s after the previous one started to
    # leave: closer than about the grace period the machine merges them when the tracker
    # re-uses the track id (test_machine_findings.py, occupancy/EVALUATION.md).
    spec = SceneSpec(duration_s=240, fps=6, turnover_s=8.0)
    return compose_scene(spec, tmp_path_factory.mktemp("scene"), seed=0)


@pytest.fixture(scope="module")
def scene_report(
    scene: ComposedScene,
    detector_factory: Callable[..., Detector],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Report, Path]:
    db = tmp_path_factory.mktemp("db") / "scene.db"
    report, _ = analyse_and_evaluate(scene.site_path, scene.truth_path, detector_factory(), db)
    return report, db


def test_composed_scene_accuracy_floors(
    scene: ComposedScene, scene_report: tuple[Report, Path]
) -> None:
    report, _ = scene_report
    assert report.n_true >= 6
    assert report.f1 >= 0.9, report.as_dict()
    assert report.bay_accuracy is not None and report.bay_accuracy >= 0.95, report.zone_accuracy
    assert report.double_park_true >= 1 and report.double_park_recall == 1.0
    # Arrivals to about an analysis period (0.5 s); departures typically a frame later, as a
    # leaving vehicle stays in its bay's outer margin; a few ends are stretched by vehicles
    # passing the same place (EVALUATION.md, finding 3), so the end's floor is on the median.
    assert report.start_error.p90_s is not None and report.start_error.p90_s <= 1.0
    assert report.end_error.median_s is not None and report.end_error.median_s <= 1.0
    # Drive-throughs and stops under the minimum make no session, except the one false
    # double parking that finding 2 explains (test_machine_findings.py).
    assert len(report.unmatched_found) <= 1
    assert all(s.zone == "aisle" for s in report.unmatched_found)


@pytest.mark.parametrize("exact", [True, False], ids=["per-frame", "default"])
def test_busy_kerb_sessions_per_frame_and_default(
    exact: bool, detector_factory: Callable[..., Detector], tmp_path: Path
) -> None:
    """The busy kerb of ``bench/bench_speed.py`` (720p25 H.264, through-traffic, people
    crossing, light drift), analysed per frame (``--exact``) and by default: every stay and
    double parking found once. Per frame, two ghost double parkings used to appear: boxes
    that stood beside the double-parked SUV opened stays back-dated into its session."""
    scene = compose_scene(kerb_spec("busy", 120.0), tmp_path / "scene", seed=0)
    site = load_site(scene.site_path)
    store = Store(f"sqlite:///{tmp_path / 'busy.db'}")
    result = analyse(
        resolve_source(None, site, scene.site_path), site, store,
        detector=detector_factory(), exact=exact,
    )  # fmt: skip
    found, _ = spans_from_store(store, site, result.run_id)
    report = evaluate(load_truth(scene.truth_path), found)
    assert report.n_true == 5 and report.f1 >= 0.97, report.as_dict()
    assert report.unmatched_found == (), report.unmatched_found
    assert report.bay_accuracy is not None and report.bay_accuracy >= 0.97, report.zone_accuracy
    store.close()


def test_evaluate_command_reads_the_stored_run(
    scene: ComposedScene, scene_report: tuple[Report, Path]
) -> None:
    report, db = scene_report
    args = [
        "evaluate",
        str(scene.truth_path),
        "--site",
        str(scene.site_path),
        "--db",
        f"sqlite:///{db}",
    ]
    out = CliRunner().invoke(app, [*args, "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["sessions"]["f1"] == report.f1
    assert data["occupancy_accuracy"]["per_zone"] == report.zone_accuracy
    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0
    assert "session F1" in table.output and "double-parking recall" in table.output
    missing = CliRunner().invoke(app, [*args[:4], "--db", f"sqlite:///{db}", "--run", "nope"])
    assert missing.exit_code == 2 and "no run 'nope' in this database" in missing.output


@pytest.mark.parametrize("name", ["meva-c4f6", "meva-a1c9"])
def test_sample_clips_against_their_truth(
    name: str, detector_factory: Callable[..., Detector], tmp_path: Path
) -> None:
    report, _ = analyse_and_evaluate(
        SAMPLES / f"{name}.yaml",
        SAMPLES / "truth" / f"{name}.json",
        detector_factory(),
        tmp_path / "s.db",
    )
    assert (report.precision, report.recall) == (1.0, 1.0)
    assert all(a == 1.0 for a in report.zone_accuracy.values()), report.zone_accuracy
    if name == "meva-c4f6":
        assert report.n_matched == 6 and report.double_park_recall == 1.0


def test_evaluate_command_analyses_the_footage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from occupancy.config.settings import get_settings
    from tests.conftest import MODEL

    monkeypatch.setenv("BAYWATCH_MODEL", str(MODEL))
    monkeypatch.chdir(tmp_path)  # nothing may be left behind: the database is temporary
    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(
            app,
            [
                "evaluate",
                str(SAMPLES / "truth" / "meva-a1c9.json"),
                "--site",
                str(SAMPLES / "meva-a1c9.yaml"),
                "--json",
            ],
        )
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["camera_id"] == "meva-g340"
    assert data["sessions"] == {
        "true": 1,
        "found": 1,
        "matched": 1,
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
    }
    assert data["occupancy_accuracy"]["per_zone"] == {
        "suv-bay": 1.0,
        "asphalt-bay": 1.0,
        "road": 1.0,
    }
    assert list(tmp_path.iterdir()) == []
