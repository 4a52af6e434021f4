"""The HTML report from observed (camera) sessions with a lane zone."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from occupancy.statistics.report import build_report, write_report
from tests.stats.conftest import frame, ms, session

ZONES = pd.DataFrame(
    {
        "curb_zone_id": ["A", "B"],
        "name": ["bay A", "bay B"],
        "street_name": ["RUE X", "RUE X"],
        "area_name": ["Paris 3e", "Paris 3e"],
        "lon": [2.36, 2.361],
        "lat": [48.86, 48.861],
        "num_spaces": [1, 1],
        "source": ["paris:bays.csv", "paris:bays.csv"],
    }
)


def test_report_from_camera_sessions(tmp_path: Path) -> None:
    s = frame(
        [
            session("A", ms("2025-06-10 10:00"), ms("2025-06-10 10:30")),
            session("A", ms("2025-06-10 10:10"), ms("2025-06-10 10:25"), kind="double_park"),
        ]
    )
    s.loc[1, "lane_zone_id"] = "L1"
    lanes = pd.DataFrame({"lane_zone_id": ["L1"], "name": ["lane beside A"]})
    rep = build_report(
        s,
        ZONES,
        start_ms=ms("2025-06-09 00:00"),
        end_ms=ms("2025-06-16 00:00"),
        lane_zones=lanes,
    )
    assert rep.provenance == "camera" and not rep.simulated
    assert rep.summary["parking sessions"] == "1"
    assert rep.summary["double-parking sessions"] == "1 (50% of stops)"
    sat = rep.tables["Most saturated bays, weekdays 10:00-11:00"]
    # Tuesday 10:00 half occupied, the other four weekdays empty: mean 10 %
    assert sat.iloc[0].tolist() == ["bay A", "Paris 3e", 10.0, 0.9]
    lane = rep.tables["Double parking per lane zone"]
    assert lane.iloc[0].tolist() == ["lane beside A", "bay A", 1, 15.0]
    assert rep.credits == ["Bay inventory: Ville de Paris open data (ODbL)."]
    page = write_report(rep, tmp_path / "sub" / "r.html").read_text()
    assert "SIMULATED" not in page
    assert page.count("data:image/png;base64,") == 4
    assert "lane beside A" in page
