from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from baywatch.cli import app
from optimiser.distances import to_wgs84
from optimiser.generate import ORIGIN_L93

runner = CliRunner()


def _ll(x: float, y: float) -> list[float]:
    p = to_wgs84(np.array([[ORIGIN_L93[0] + x, ORIGIN_L93[1] + y]]))[0]
    return [float(p[0]), float(p[1])]


def _bay(x: float, y: float) -> dict[str, object]:
    """A 10 m x 2 m CDS curb-zone polygon centred on (x, y) metres from the origin."""
    ring = [_ll(x - 5, y - 1), _ll(x + 5, y - 1), _ll(x + 5, y + 1), _ll(x - 5, y + 1)]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


ZONE_IDS = ("0b0d3c9e-1111-4a6b-9c1e-000000000001", "0b0d3c9e-1111-4a6b-9c1e-000000000002")


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    # A CDS curb-zones file (read by occupancy.inventory's CDS parser): the bay at x=0 is
    # permanent (delivery-only 24/7), the one at x=400 periodic (Paris hours).
    zones = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": _bay(x, 0),
                "properties": {
                    "curb_zone_id": zid,
                    "length": 1000,
                    "curb_area_ids": ["a"],
                    "delivery_hours": hours,
                },
            }
            for zid, x, hours in zip(
                ZONE_IDS, [0.0, 400.0], ["24/7", "Mo-Sa 07:00-20:00; PH off"], strict=True
            )
        ],
    }
    demand = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": _ll(x, y)},
                "properties": {"id": f"shop{i}", "daily_deliveries": w},
            }
            for i, (x, y, w) in enumerate([(200, 10, 6.0), (210, -15, 5.0), (5, 5, 0.2)])
        ],
    }
    cands = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [_ll(190, 0), _ll(220, 0)]},
                "properties": {"id": "kerb-a", "usable_length_m": 25.0},
            },
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [_ll(200, 5), _ll(206, 5)]},
                "properties": {"id": "kerb-short", "usable_length_m": 6.0},
            },
        ],
    }
    out = {}
    for name, data in (("zones", zones), ("demand", demand), ("cands", cands)):
        out[name] = tmp_path / f"{name}.geojson"
        out[name].write_text(json.dumps(data))
    return out


def test_placement_cli_writes_proposals_summary_and_map(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        [
            "optimise", "placement",
            "--bays", str(inputs["zones"]),
            "--demand", str(inputs["demand"]),
            "--candidates", str(inputs["cands"]),
            "--max-changes", "3",
            "--time-limit-s", "10",
            "--out", str(out),
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "gap" in res.output and "bound" in res.output
    geo = json.loads((out / "placement_proposals.geojson").read_text())
    actions = {f["properties"]["site_id"]: f["properties"]["action"] for f in geo["features"]}
    # Demand sits by kerb-a, 200 m from both bays: a bay goes there (added or moved),
    # and never on the 6 m kerb, shorter than the 10 m minimum bay.
    assert actions.get("kerb-a") in {"add", "move"}
    assert "kerb-short" not in actions
    effect = next(f for f in geo["features"] if f["properties"]["site_id"] == "kerb-a")
    assert effect["properties"]["effect"]["deliveries_served_per_day"] > 0
    # The permanent bay at x=0 serves almost nothing (0.2 a day) but is kept.
    assert ZONE_IDS[0] not in actions
    assert effect["properties"]["evidence"] == "estimated"
    assert (out / "placement_map.png").stat().st_size > 10_000
    assert "served (Erlang-B)" in (out / "placement_summary.txt").read_text()


def test_timeslots_cli_keeps_permanent_bays_unless_allowed(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    def run(*extra: str) -> dict[str, str]:
        out = tmp_path / "out"
        res = runner.invoke(
            app,
            [
                "optimise", "timeslots",
                "--bays", str(inputs["zones"]),
                "--demand", str(inputs["demand"]),
                "--zone-by", "bay",
                "--time-limit-s", "2",
                "--out", str(out),
                *extra,
            ],
        )  # fmt: skip
        assert res.exit_code == 0, res.output
        geo = json.loads((out / "timeslots_proposals.geojson").read_text())
        assert all(f["properties"]["kind"] == "retime" for f in geo["features"])
        return {
            f["properties"]["site_id"]: f["properties"]["delivery_hours"] for f in geo["features"]
        }

    # Without the option the permanent bay stays 24/7 although its nights carry no demand.
    assert ZONE_IDS[0] not in run()
    # With it, the permanent bay's night and Sunday hours go back to other uses: it becomes
    # the city's periodic regime, never an arbitrary window.
    assert run("--allow-permanent-changes")[ZONE_IDS[0]] == "Mo-Sa 07:00-20:00; PH off"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-changes", "-1"], "max_changes"),
        (
            ["--demand", "/nonexistent/demand.geojson"],
            "--demand /nonexistent/demand.geojson: no such file",
        ),
        (["--walk-limit-m", "1"], "no candidate within reach"),
    ],
)
def test_user_errors_are_one_line_exit_2(
    inputs: dict[str, Path], args: list[str], message: str
) -> None:
    base = {
        "--bays": str(inputs["zones"]),
        "--demand": str(inputs["demand"]),
        "--candidates": str(inputs["cands"]),
    }
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    flat = [v for kv in base.items() for v in kv]
    res = runner.invoke(app, ["optimise", "placement", *flat, "--time-limit-s", "5"])
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: ") and message in res.output
    assert "Traceback" not in res.output
    assert res.output.count("\n") == 1


def test_bad_weight_is_named(inputs: dict[str, Path], tmp_path: Path) -> None:
    bad = json.loads(inputs["demand"].read_text())
    bad["features"][1]["properties"]["daily_deliveries"] = -3
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps(bad))
    res = runner.invoke(
        app, ["optimise", "placement", "--bays", str(inputs["zones"]),
              "--demand", str(path)],
    )  # fmt: skip
    assert res.exit_code == 2
    assert "shop1" in res.output and "daily_deliveries" in res.output


def test_out_naming_an_existing_file_is_one_line(inputs: dict[str, Path], tmp_path: Path) -> None:
    taken = tmp_path / "report.txt"
    taken.write_text("keep me\n")
    res = runner.invoke(
        app,
        [
            "optimise", "placement",
            "--bays", str(inputs["zones"]),
            "--demand", str(inputs["demand"]),
            "--candidates", str(inputs["cands"]),
            "--time-limit-s", "5",
            "--out", str(taken),
        ],
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error")]
    assert len(errors) == 1 and "names a file; give a folder" in errors[0]
    assert "Traceback" not in res.output and taken.read_text() == "keep me\n"


def test_placement_effects_add_up_to_the_run_total(inputs: dict[str, Path], tmp_path: Path) -> None:
    """Issue 11: the add/remove/move effects are incremental, in the order listed, so they
    sum to the summary's served before -> after (each side rounded to 0.1, each effect to
    0.01: tolerance 0.1 + 0.005 per change); enforce proposals are outside that total."""
    import re

    out = tmp_path / "out"
    res = runner.invoke(
        app,
        [
            "optimise", "placement",
            "--bays", str(inputs["zones"]),
            "--demand", str(inputs["demand"]),
            "--candidates", str(inputs["cands"]),
            "--max-changes", "6",
            "--time-limit-s", "10",
            "--out", str(out),
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    m = re.search(r"served \(Erlang-B\): ([\d.]+) -> ([\d.]+)", res.output)
    assert m is not None
    total = float(m[2]) - float(m[1])
    geo = json.loads((out / "placement_proposals.geojson").read_text())
    changes = [f["properties"] for f in geo["features"]]
    changes = [p for p in changes if p["action"] in {"add", "remove", "move"}]
    assert changes
    summed = sum(p["effect"]["deliveries_served_per_day"] for p in changes)
    assert abs(summed - total) <= 0.1 + 0.005 * len(changes), (summed, total)
    for p in changes:
        assert "add up to the run's total" in p["reason"]
        dp = p["effect"]["double_parking_avoided_per_day"]
        assert dp == pytest.approx(p["effect"]["deliveries_served_per_day"], abs=0.011)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--walk-full-m", "200", "--walk-limit-m", "100"], "walk_full_m must be <= walk_limit_m"),
        (["--walk-limit-m", "inf"], "walk_limit_m: Input should be a finite number"),
        (["--walk-full-m", "nan"], "walk_full_m: Input should be a finite number"),
        (["--fixed", "nope-bay"], "fixed_bay_ids: no bay in place with id 'nope-bay'"),
    ],
)
def test_inconsistent_rules_and_unknown_fixed_bays_are_refused(
    inputs: dict[str, Path], args: list[str], message: str
) -> None:
    base = [
        "--bays", str(inputs["zones"]),
        "--demand", str(inputs["demand"]),
        "--candidates", str(inputs["cands"]),
    ]  # fmt: skip
    res = runner.invoke(app, ["optimise", "placement", *base, *args, "--time-limit-s", "5"])
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: ") and message in res.output, res.output
    assert res.output.count("\n") == 1 and "Traceback" not in res.output


@pytest.mark.parametrize(
    ("kind", "args", "message"),
    [
        # Found by a newcomer: each of these was a traceback (OverflowError, NaN to int) or
        # an error blaming the data (MODEL_INVALID) instead of the option.
        ("placement", ["--time-limit-s", "inf"], "time_limit_s: Input should be a finite number"),
        ("placement", ["--time-limit-s", "1e300"], "time_limit_s: Input should be less than"),
        ("timeslots", ["--release-value", "inf"], "release_value: Input should be a finite"),
        ("timeslots", ["--workers", "100000"], "num_workers: Input should be less than"),
        ("placement", ["--max-new-kerb-m", "inf"], "max_new_kerb_m: Input should be a finite"),
        ("placement", ["--new-bay-length-m", "1e9"], "new_bay_length_m: Input should be less"),
        ("placement", ["--double-parking-weight", "nan"], "Input should be a finite number"),
    ],
)
def test_solver_and_model_numbers_are_bounded_and_finite(
    inputs: dict[str, Path], kind: str, args: list[str], message: str
) -> None:
    base = ["--bays", str(inputs["zones"]), "--demand", str(inputs["demand"])]
    if kind == "placement":
        base += ["--candidates", str(inputs["cands"])]
    res = runner.invoke(app, ["optimise", kind, *base, *args])
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: ") and message in res.output, res.output
    assert res.output.count("\n") == 1 and "Traceback" not in res.output


def test_streets_that_are_not_an_osm_extract_are_one_line(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    notes = tmp_path / "streets.osm.pbf"
    notes.write_text("not an OSM extract\n")
    base = ["--bays", str(inputs["zones"]), "--demand", str(inputs["demand"])]
    res = runner.invoke(app, ["optimise", "placement", *base, "--streets", str(notes)])
    assert res.exit_code == 2, res.output
    assert res.output.startswith(f"error: --streets {notes}: not an OSM PBF extract"), res.output
    assert res.output.count("\n") == 1 and "Traceback" not in res.output


def test_optimise_refuses_a_database_that_does_not_exist(tmp_path: Path) -> None:
    db = tmp_path / "typo.db"
    for kind in ("placement", "timeslots"):
        res = runner.invoke(app, ["optimise", kind, "--db", f"sqlite:///{db}", "--area", "75103"])
        assert res.exit_code == 2, res.output
        assert res.output.startswith("error: ") and "no database at" in res.output
        assert not db.exists()  # nothing created


def test_timeslots_refuses_a_regime_that_does_not_parse(inputs: dict[str, Path]) -> None:
    base = ["--bays", str(inputs["zones"]), "--demand", str(inputs["demand"])]
    res = runner.invoke(app, ["optimise", "timeslots", *base, "--regime", "not a regime"])
    assert res.exit_code == 2, res.output
    assert res.output == "error: regimes: not opening_hours syntax (got 'not a regime')\n"
