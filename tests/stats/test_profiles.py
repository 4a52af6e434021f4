"""Weekly profile and period totals on hand-made sessions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from occupancy.statistics.hourly import (
    double_parking_by_lane,
    period_totals,
    provenance,
    weekly_profile,
)
from tests.stats.conftest import frame, ms, session

ZONES = pd.DataFrame(
    {"curb_zone_id": ["A", "B"], "num_spaces": [1, 1], "max_stay_min": [30.0, 30.0]}
)


def sessions_two_mondays() -> pd.DataFrame:
    return frame(
        [
            # Monday 2025-06-02 10:00-10:30 and Monday 2025-06-09 10:00-11:00
            session("A", ms("2025-06-02 10:00"), ms("2025-06-02 10:30")),
            session("A", ms("2025-06-09 10:00"), ms("2025-06-09 11:00"), vehicle="car"),
            session("A", ms("2025-06-09 10:10"), ms("2025-06-09 10:20"), kind="double_park"),
            # Tuesday 2025-06-03 10:15-10:45 at B, 45 min over its 30 min limit? no: 30 min
            session("B", ms("2025-06-03 10:15"), ms("2025-06-03 10:45")),
            session("B", ms("2025-06-03 11:00"), ms("2025-06-03 11:50")),
        ]
    )


def test_weekly_profile_slots() -> None:
    w = weekly_profile(
        sessions_two_mondays(),
        ZONES,
        start_ms=ms("2025-06-02 00:00"),
        end_ms=ms("2025-06-16 00:00"),
    )
    assert len(w) == 2 * 7 * 24
    a_mon_10 = w[(w["curb_zone_id"] == "A") & (w["weekday"] == 0) & (w["hour"] == 10)].iloc[0]
    assert a_mon_10["n_hours_observed"] == 2
    assert a_mon_10["occupancy_percent"] == 75.0  # (50 + 100) / 2
    assert a_mon_10["p_free"] == 0.25
    assert a_mon_10["arrivals_per_hour"] == 1.0
    b_tue = w[(w["curb_zone_id"] == "B") & (w["weekday"] == 1)].set_index("hour")
    assert b_tue.loc[10, "occupancy_percent"] == 25.0  # 30 min in one of two Tuesdays
    assert b_tue.loc[11, "p_free"] == pytest.approx(1 - 50 / 60 / 2)
    assert w[w["curb_zone_id"] == "B"]["occupancy_percent"].sum() == pytest.approx(25 + 50 / 1.2)


def test_weekly_profile_defaults_to_the_sessions_span() -> None:
    w = weekly_profile(sessions_two_mondays(), ZONES)
    # from Monday 2 June 10:00 to Monday 9 June 11:00: Monday 10:00 seen twice
    a = w[(w["curb_zone_id"] == "A") & (w["weekday"] == 0) & (w["hour"] == 10)].iloc[0]
    assert a["n_hours_observed"] == 2
    assert w["n_hours_observed"].sum() == 2 * (7 * 24 + 1)


def test_period_totals_quantiles_and_shares() -> None:
    t = period_totals(
        sessions_two_mondays(),
        ZONES,
        start_ms=ms("2025-06-02 00:00"),
        end_ms=ms("2025-06-16 00:00"),
    ).set_index("curb_zone_id")
    a, b = t.loc["A"], t.loc["B"]
    assert a["total_sessions"] == 2
    assert a["average_dwell_time"] == 45.0
    assert a["median_dwell_time"] == 45.0
    assert a["p90_dwell_time"] == pytest.approx(57.0)
    assert a["overstay_share"] == 0.5
    assert a["occupancy_percent"] == pytest.approx(90 / (14 * 24 * 60) * 100)
    assert (a["share_van"], a["share_car"], a["share_truck"]) == (0.5, 0.5, 0.0)
    assert (a["double_park_sessions"], a["double_park_minutes"]) == (1, 10.0)
    assert b["overstay_share"] == 0.5  # 50 min > 30, 30 min is not over
    assert b["observed_hours"] == 14 * 24
    assert np.isclose(b["turnover"], 2 / (14 * 24))


def test_double_parking_by_lane_and_provenance() -> None:
    s = sessions_two_mondays()
    d = double_parking_by_lane(s)
    assert d[["curb_zone_id", "sessions", "minutes"]].values.tolist() == [["A", 1, 10.0]]
    assert provenance(s) == "camera"
    s.loc[0, "data_source_type"] = "simulated"
    assert provenance(s) == "camera+simulated"
