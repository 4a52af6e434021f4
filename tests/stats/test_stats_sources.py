"""Observed and simulated statistics are never mixed (README; a newcomer's report: after
'baywatch simulate' on a database with one analysed scene, 'stats --format csv' gave the
camera's bays a median dwell of 14.65 min labelled camera+simulated, against 0.35 min
observed, while the table showed no figure at all).

Real data: a composed kerb scene (real footage) analysed into SQLite, then two days of
simulated sessions for the same bays, as the newcomer did."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from baywatch.cli import app
from occupancy.config.site import load_site
from occupancy.evaluation.scenes import compose_scene, kerb_spec
from occupancy.runtime.analysis import analyse
from occupancy.storage.store import Store
from tests.conftest import MODEL, needs_footage
from vision.detector import Detector

pytestmark = needs_footage  # composes scenes from ../shared/footage

runner = CliRunner()


def stats(url: str, *args: str) -> str:
    r = runner.invoke(app, ["stats", "--db", url, *args])
    assert r.exit_code == 0, r.output
    return r.stdout


def csv(url: str, *args: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(stats(url, "--format", "csv", *args)))


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, pd.DataFrame]:
    """A database with one analysed scene, and its statistics before any simulation."""
    tmp = tmp_path_factory.mktemp("scene")
    scene = compose_scene(kerb_spec("busy", 60.0), tmp / "scene", seed=0)
    site = load_site(scene.site_path)
    url = f"sqlite:///{tmp / 'sim.db'}"
    store = Store(url)
    analyse(
        str(scene.video_path),
        site,
        store,
        detector=Detector.for_site(site, str(MODEL)),
        analysis_fps=5.0,
    )
    assert len(store.sessions_frame()) >= 1
    store.close()
    before = csv(url)
    assert set(before["data_source_type"]) == {"camera"}
    assert before["median_dwell_time"].notna().any()
    r = runner.invoke(app, ["simulate", "--db", url, "--days", "2"])
    assert r.exit_code == 0, r.output
    return url, before


def test_observed_figures_are_not_diluted_by_simulated_ones(
    observed: tuple[str, pd.DataFrame], tmp_path: Path
) -> None:
    url, before = observed
    sessions = Store(url).sessions_frame()
    n_sim = int((sessions["data_source_type"] == "simulated").sum())
    assert n_sim > 0
    # By default: exactly the observed statistics, labelled camera (CSV, GeoJSON, CDS).
    after = csv(url)
    pd.testing.assert_frame_equal(after, before)
    assert csv(url, "--source", "observed").equals(before)
    gj = tmp_path / "bays.geojson"
    runner.invoke(app, ["stats", "--db", url, "--format", "geojson", "-o", str(gj)])
    props = [f["properties"] for f in json.loads(gj.read_text())["features"]]
    assert {p["data_source_type"] for p in props} == {"camera"}
    agg = pd.read_csv(io.StringIO(stats(url, "--format", "cds-aggregates")))
    assert len(agg) and set(agg["data_source_type"]) == {"camera"}
    # The table names no simulated data and says what it left out.
    table = runner.invoke(app, ["stats", "--db", url])
    assert table.exit_code == 0
    assert "SIMULATED DATA" not in table.output
    assert f"{n_sim:,} simulated session(s) left out" in table.output


def test_simulated_figures_only_when_asked_and_always_labelled(
    observed: tuple[str, pd.DataFrame],
) -> None:
    url, _ = observed
    sessions = Store(url).sessions_frame()
    sim = sessions[sessions["data_source_type"] == "simulated"]
    got = csv(url, "--source", "simulated")
    assert set(got["data_source_type"]) == {"simulated"}
    # Every simulated stop is counted, and none of the camera's.
    assert got["total_sessions"].sum() == (sim["kind"] == "park").sum()
    assert (got["observed_hours"] > 0).all()  # the simulator's days, not the camera's runs
    table = runner.invoke(app, ["stats", "--db", url, "--source", "simulated"])
    assert table.exit_code == 0 and "SIMULATED DATA" in table.output
    assert "observed session(s) left out" in table.output
