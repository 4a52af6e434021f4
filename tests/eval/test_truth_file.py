"""Truth files: valid ones load, bad ones give one line naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from occupancy.config.site import load_site
from occupancy.evaluation.evaluate import check_against_site
from occupancy.evaluation.truth import TruthError, load_truth, truth_json_schema
from tests.conftest import SAMPLES

GOOD = {
    "duration_s": 60,
    "bays": ["row-05", "row-06"],
    "lane_zones": ["access-road"],
    "sessions": [
        {"bay": "row-05", "start_s": 0, "end_s": 30, "kind": "park"},
        {"lane": "access-road", "start_s": 10, "end_s": 20, "kind": "double_park"},
    ],
}


def write(tmp_path: Path, data: object) -> Path:
    p = tmp_path / "truth.json"
    p.write_text(json.dumps(data))
    return p


def test_good_truth_loads(tmp_path: Path) -> None:
    t = load_truth(write(tmp_path, GOOD))
    assert [s.zone for s in t.sessions] == ["row-05", "access-road"]
    assert t.zone_ids() == ["row-05", "row-06", "access-road"]
    schema = truth_json_schema()
    assert set(schema["required"]) == {"duration_s"}
    assert "sessions" in schema["properties"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"duration_s": None}, "duration_s: Input should be a valid number"),
        ({"bays": [], "lane_zones": []}, "bays: list at least one bay or lane zone to evaluate"),
        ({"colour": "red"}, "colour: unknown field"),
        (
            {"sessions": [{"bay": "row-05", "start_s": 5, "end_s": 5, "kind": "park"}]},
            "sessions.0.end_s: 5.0 is not after start_s 5.0",
        ),
        (
            {"sessions": [{"bay": "row-05", "start_s": 0, "end_s": 5, "kind": "double_park"}]},
            "sessions.0.kind: 'double_park' sessions are in a lane zone, not a bay",
        ),
        (
            {"sessions": [{"lane": "access-road", "start_s": 0, "end_s": 5, "kind": "park"}]},
            "sessions.0.kind: 'park' sessions are in a bay, not a lane",
        ),
        (
            {"sessions": [{"start_s": 0, "end_s": 5, "kind": "park"}]},
            "sessions.0: give exactly one of 'bay' or 'lane'",
        ),
        (
            {"sessions": [{"bay": "row-07", "start_s": 0, "end_s": 5, "kind": "park"}]},
            "sessions.0.bay: 'row-07' is not listed in bays",
        ),
        (
            {"sessions": [{"bay": "row-05", "start_s": 0, "end_s": 65, "kind": "park"}]},
            "sessions.0.end_s: 65.0 is after the footage ends (60.0 s)",
        ),
        (
            {"sessions": [{"bay": "row-05", "start_s": 0, "end_s": 5, "kind": "stop"}]},
            "sessions.0.kind: Input should be 'park' or 'double_park'",
        ),
        (
            {"sessions": [{"bay": "row-05", "start_s": 0, "kind": "park"}]},
            "sessions.0.end_s: required field missing",
        ),
    ],
)
def test_bad_truth_names_the_field(tmp_path: Path, change: dict, message: str) -> None:
    p = write(tmp_path, {**GOOD, **change})
    with pytest.raises(TruthError) as err:
        load_truth(p)
    assert str(err.value) == f"{p}: {message}"


def test_unreadable_truth_files(tmp_path: Path) -> None:
    with pytest.raises(TruthError, match=r"truth\.json: truth file not found$"):
        load_truth(tmp_path / "truth.json")
    p = tmp_path / "truth.json"
    p.write_text('{"duration_s": 5,\n "bays": [}')
    with pytest.raises(TruthError, match=r"truth\.json: line 2: not valid JSON"):
        load_truth(p)
    p.write_text("[1, 2]")
    with pytest.raises(TruthError, match="expected a JSON object at the top level"):
        load_truth(p)


def test_truth_checked_against_the_site(tmp_path: Path) -> None:
    site = load_site(SAMPLES / "meva-c4f6.yaml")
    check_against_site(load_truth(write(tmp_path, GOOD)), site, "t.json")
    wrong_bay = load_truth(write(tmp_path, {**GOOD, "bays": ["row-05", "row-99"]}))
    with pytest.raises(TruthError) as err:
        check_against_site(wrong_bay, site, "t.json")
    assert str(err.value) == (
        "t.json: bays.1: 'row-99' is not one of the site's bays (row-05, row-06, row-07, row-08, row-09)"
    )
    other = load_truth(write(tmp_path, {**GOOD, "camera_id": "meva-g340"}))
    with pytest.raises(
        TruthError, match="camera_id: 'meva-g340' but the site's camera is 'meva-g328'"
    ):
        check_against_site(other, site, "t.json")


def test_evaluate_command_user_errors(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from baywatch.cli import app

    site = str(SAMPLES / "meva-c4f6.yaml")
    runner = CliRunner()
    bad = write(
        tmp_path,
        {**GOOD, "sessions": [{"bay": "row-05", "start_s": 3, "end_s": 1, "kind": "park"}]},
    )
    out = runner.invoke(app, ["evaluate", str(bad), "--site", site])
    assert out.exit_code == 2
    assert out.output.strip() == f"error: {bad}: sessions.0.end_s: 1.0 is not after start_s 3.0"
    wrong = write(tmp_path, {**GOOD, "lane_zones": ["road"], "sessions": []})
    out = runner.invoke(app, ["evaluate", str(wrong), "--site", site])
    assert (
        out.exit_code == 2
        and "lane_zones.0: 'road' is not one of the site's lane_zones" in out.output
    )
    assert "Traceback" not in out.output
    out = runner.invoke(app, ["evaluate", str(tmp_path / "none.json"), "--site", site])
    assert out.exit_code == 2 and "none.json: truth file not found" in out.output
    out = runner.invoke(app, ["evaluate", "--truth-schema"])
    assert out.exit_code == 0 and json.loads(out.output)["title"] == "Truth"
