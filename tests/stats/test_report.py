"""The HTML report from observed (camera) sessions with a lane zone."""

from __future__ import annotations

import re
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


def test_report_of_unobserved_hours_says_so_not_nan(tmp_path: Path) -> None:
    # The only camera was offline the whole day: no hour of either bay was observed.
    zones = ZONES.assign(device_id=["cam1", "cam1"])
    offline = pd.DataFrame(
        {
            "data_source_device_id": ["cam1"],
            "start_ms": [ms("2025-06-10 00:00")],
            "end_ms": [ms("2025-06-11 00:00")],
        }
    )
    rep = build_report(
        frame([session("A", ms("2025-06-10 10:00"), ms("2025-06-10 10:30"))]),
        zones,
        start_ms=ms("2025-06-10 00:00"),
        end_ms=ms("2025-06-11 00:00"),
        offline=offline,
    )
    assert rep.summary["mean occupancy"] == "no observed hours"
    assert rep.summary["mean dwell"] == "no parking sessions"
    assert rep.summary["overstay"] == "no parking sessions"
    page = write_report(rep, tmp_path / "r.html").read_text()
    text = re.sub(r"base64,[A-Za-z0-9+/=]+", "", page)  # the figures' bytes are not text
    assert re.search(r"\bnan\b", text, re.IGNORECASE) is None
