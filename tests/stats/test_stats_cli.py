"""The import-bays, simulate, stats and report commands, end to end on a temporary database."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from baywatch.cli import app
from occupancy.storage.store import Store

runner = CliRunner()

CEREMA = """ID,LONGITUDE,LATITUDE,LONGUEUR,LARGEUR,TEMPORALITE_OSM,COMMUNE,CODE_POSTAL
b1,2.3601,48.8601,1000,200,Mo-Sa 07:00-20:00,Paris,75003
b2,2.3622,48.8612,1200,200,,Paris,75003
b3,2.3643,48.8623,800,200,Mo-Fr 08:00-12:00,Paris,75004
bad,2.36,48.86,1000,200,every day,Paris,75004
"""


@pytest.fixture
def db(tmp_path: Path) -> str:
    f = tmp_path / "bays.csv"
    f.write_text(CEREMA, encoding="utf-8")
    url = f"sqlite:///{tmp_path}/b.db"
    r = runner.invoke(app, ["import-bays", str(f), "--db", url])
    assert r.exit_code == 0, r.output
    assert "imported 3 bays" in r.output and "rejected 1" in r.output
    assert "line 5: TEMPORALITE_OSM: bad opening_hours 'every day'" in r.output
    r = runner.invoke(
        app, ["simulate", "--db", url, "--days", "3", "--start", "2025-06-02", "--seed", "4"]
    )
    assert r.exit_code == 0, r.output
    assert "SIMULATED" in r.output
    return url


def test_stats_table_and_files(db: str, tmp_path: Path) -> None:
    n = len(Store(db).sessions_frame())
    r = runner.invoke(app, ["stats", "--db", db, "--period", "2025-06-02..2025-06-04"])
    assert r.exit_code == 0, r.output
    assert "SIMULATED DATA" in r.output and "by bay" in r.output
    out = tmp_path / "bays.csv"
    r = runner.invoke(app, ["stats", "--db", db, "--format", "csv", "-o", str(out)])
    assert r.exit_code == 0, r.output
    t = pd.read_csv(out)
    assert len(t) == 3 and set(t["data_source_type"]) == {"simulated"}
    park = (Store(db).sessions_frame()["kind"] == "park").sum()
    assert t["total_sessions"].sum() == park <= n
    gj = tmp_path / "areas.geojson"
    r = runner.invoke(
        app, ["stats", "--db", db, "--by", "area", "--format", "geojson", "-o", str(gj)]
    )
    assert r.exit_code == 0, r.output
    feats = json.loads(gj.read_text())["features"]
    assert sorted(f["properties"]["area_id"] for f in feats) == ["75003", "75004"]
    cds = tmp_path / "agg.csv"
    r = runner.invoke(
        app,
        [
            "stats",
            "--db",
            db,
            "--format",
            "cds-aggregates",
            "--period",
            "2025-06-03",
            "-o",
            str(cds),
        ],
    )
    assert r.exit_code == 0, r.output
    agg = pd.read_csv(cds)
    occ = agg[agg["metric_type"] == "occupancy_percent"]
    assert len(occ) == 3 * 24 and sorted(occ["hour"].unique()) == list(range(24))


def test_report(db: str, tmp_path: Path) -> None:
    out, figs = tmp_path / "r.html", tmp_path / "figs"
    r = runner.invoke(app, ["report", "--db", db, "-o", str(out), "--figures-dir", str(figs)])
    assert r.exit_code == 0, r.output
    page = out.read_text()
    assert "SIMULATED DATA" in page
    assert page.count("data:image/png;base64,") == 4
    assert len(list(figs.glob("*.png"))) == 4


def test_user_errors_exit_2(db: str, tmp_path: Path) -> None:
    cases = [
        (["stats", "--db", db, "--period", "2025-13-40"], "bad --period"),
        (["stats", "--db", db, "--format", "geojson"], "needs --output"),
        (
            ["stats", "--db", db, "--by", "area", "--areas", str(tmp_path / "x.gpkg")],
            "no such file",
        ),
        (["import-bays", str(tmp_path / "nope.csv"), "--db", db], "no such file"),
        (
            ["import-bays", str(tmp_path / "x.csv"), "--format", "kml", "--db", db],
            "unknown --format",
        ),
        (["stats", "--db", db, "--tz", "Mars/Olympus"], "unknown time zone"),
        (["stats", "--db", f"sqlite:///{tmp_path}/empty.db"], "no database at"),
        (
            ["stats", "--db", db, "--format", "csv", "-o", str(tmp_path / "no" / "x.csv")],
            "cannot write",
        ),
    ]
    for args, msg in cases:
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert "error: " in r.output and msg in r.output, (args, r.output)
        assert "Traceback" not in r.output
