"""``baywatch stats`` / ``report`` on what cameras really recorded: runs with no stop,
a clip with one stop. Watched hours read true zeros; unwatched ones a marked "—" with
its reason, never ``nan`` and never 0; a database with runs but no session is no error.

Real footage (../shared/footage, analysed with the offline detector): the Intel aisle
clip, where cars drive through and none stops (30 s, two bays, no session), and the
MEVA a1c9 clip (5 s, one parked SUV: one session). Skipped where the footage is absent.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from baywatch.cli import app
from occupancy.domain.states import RunStatus
from occupancy.inventory.bays import load_bays
from occupancy.storage.store import Store
from tests.conftest import SAMPLES, SHARED, needs_footage
from tests.test_cli import baywatch

runner = CliRunner()
pytestmark = needs_footage
LA = "America/Los_Angeles"  # the Intel site's zone (sample_videos/intel-aisle.yaml)


def _analyse(site: str, tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/cam.db"
    p = baywatch("analyse", "--site", str(SAMPLES / site), "--db", url, "-q", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    return url


def _stats(*args: str) -> str:
    r = runner.invoke(app, ["stats", *args])
    assert r.exit_code == 0, r.output
    assert "nan" not in r.output.lower().replace("name", "")
    return r.output


def _row(output: str, name: str) -> list[str]:
    line = next(ln for ln in output.splitlines() if f" {name} " in ln)
    return [c.strip() for c in line.strip("│ \n").split("│")]


def test_runs_without_a_stop_give_zeros_for_watched_hours_only(tmp_path: Path) -> None:
    url = _analyse("intel-aisle.yaml", tmp_path)
    store = Store(url)
    assert store.sessions_frame().empty and len(store.runs_frame()) == 1
    # 30 s of footage watch no hour for most of it: no figure at all, marked and explained
    # (before: "error: no sessions in the database", exit 2).
    out = _stats("--db", url, "--tz", LA)
    for bay in ("left-stalls", "right-stalls"):
        assert _row(out, bay)[2:] == ["—"] * 8 + ["0"]
    assert "— no value" in out and "observed hour" in out
    # The same camera then watched 10:00-12:00 the next day and saw no stop: two hours
    # of true zeros; the rest of that day stays unobserved.
    t10 = int(pd.Timestamp("2019-06-02 10:00", tz=LA).value // 1_000_000)
    attempt = store.begin_run(
        "quiet-morning",
        device_id="intel-aisle",
        source="rtsp://camera/intel-aisle",
        live=True,
        footage_start_ms=t10,
        settings={},
    )
    store.finish_run(
        "quiet-morning",
        attempt,
        status=RunStatus.COMPLETE,
        footage_end_ms=t10 + 2 * 3_600_000,
        frames_analysed=14_400,
    )
    out = _stats("--db", url, "--tz", LA, "--period", "2019-06-02")
    # One period syntax: the ISO 8601 interval the optimiser takes is the same day here.
    assert _stats("--db", url, "--tz", LA, "--period", "2019-06-02/2019-06-02") == out
    for bay in ("left-stalls", "right-stalls"):
        cells = _row(out, bay)
        assert cells[2:4] == ["0", "0.0"] and cells[6] == "0.0"  # sessions, turnover, occ %
        assert cells[-1] == "2"  # observed hours
    r = runner.invoke(app, ["stats", "--db", url, "--tz", LA, "--period", "all", "--format", "csv"])
    assert r.exit_code == 0, r.output
    t = pd.read_csv(io.StringIO(r.output))
    assert t["observed_hours"].tolist() == [2, 2]
    assert t["occupancy_percent"].tolist() == [0.0, 0.0] and t["turnover"].tolist() == [0.0, 0.0]
    assert t["total_sessions"].tolist() == [0, 0]
    assert set(t["data_source_type"]) == {"camera"}  # the zeros are camera observations
    rep = tmp_path / "report.html"
    r = runner.invoke(app, ["report", "--db", url, "--tz", LA, "-o", str(rep)])
    assert r.exit_code == 0, r.output
    assert "0.0 %" in rep.read_text(encoding="utf-8")  # the watched hours' mean occupancy


def test_a_one_stop_clip_prints_no_nan(tmp_path: Path) -> None:
    url = _analyse("meva-a1c9.yaml", tmp_path)
    assert len(Store(url).sessions_frame()) == 1
    out = _stats("--db", url)
    assert "— no value" in out
    # The 5-s clip's stop is stored and said so, not silently dropped.
    assert "1 parking session(s) started in hours no camera watched for most of the hour" in out
    rep = tmp_path / "r.html"
    r = runner.invoke(app, ["report", "--db", url, "-o", str(rep)])
    assert r.exit_code == 0, r.output
    assert "no observed hours" in rep.read_text(encoding="utf-8")


def test_bays_nothing_observes_stay_unobserved(tmp_path: Path) -> None:
    """Real Paris 3e bays (no camera, no session) beside the watched aisle: "—", not 0 %."""
    paris = SHARED / "geodata" / "paris_delivery_bays.csv"
    if not paris.is_file():
        pytest.skip("../shared/geodata absent")
    url = _analyse("intel-aisle.yaml", tmp_path)
    store = Store(url)
    store.upsert_zones([z for z in load_bays(paris, "paris").zones if z.area_id == "75103"][:5])
    t0 = int(pd.Timestamp("2019-06-01 09:00", tz=LA).value // 1_000_000)
    a = store.begin_run(
        "m", device_id="intel-aisle", source="rtsp://c", live=True, footage_start_ms=t0, settings={}
    )
    store.finish_run(
        "m", a, status=RunStatus.COMPLETE, footage_end_ms=t0 + 3_600_000, frames_analysed=1
    )
    r = runner.invoke(app, ["stats", "--db", url, "--tz", LA, "--format", "csv", "--limit", "9"])
    assert r.exit_code == 0, r.output
    t = pd.read_csv(io.StringIO(r.output)).set_index("name")
    assert len(t) == 7
    watched = t.loc[["left-stalls", "right-stalls"]]
    assert (watched["observed_hours"] == 1).all() and (watched["occupancy_percent"] == 0).all()
    paris_rows = t.drop(index=["left-stalls", "right-stalls"])
    assert (paris_rows["observed_hours"] == 0).all()
    assert paris_rows["occupancy_percent"].isna().all()
    assert paris_rows["total_sessions"].isna().all()  # no count either: empty, not 0
    assert (watched["total_sessions"] == 0).all()


def test_nothing_observed_is_one_line(tmp_path: Path) -> None:
    url = _analyse("intel-aisle.yaml", tmp_path)
    with Store(url).engine.begin() as conn:
        conn.exec_driver_sql("delete from runs")
    r = runner.invoke(app, ["stats", "--db", url])
    assert r.exit_code == 2
    assert "nothing observed in the database: no session and no camera run" in r.output
