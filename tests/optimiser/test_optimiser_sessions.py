from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from optimiser.errors import OptimiserInputError
from optimiser.sessions import demand_from_sessions

ZONES = pd.DataFrame(
    {
        "curb_zone_id": ["z1", "z2"],
        "lon": [2.3600, 2.3610],
        "lat": [48.8630, 48.8632],
        "length_cm": [1000, 1200],
        "max_stay_min": [30, 30],
        "area_id": ["a", "a"],
    }
)
DAY1_10H = pd.Timestamp("2026-03-02 10:15", tz="Europe/Paris").value // 10**6
DAY2_10H = pd.Timestamp("2026-03-03 10:40", tz="Europe/Paris").value // 10**6


def sessions(rows: list[dict[str, object]]) -> pd.DataFrame:
    base = {
        "lane_zone_id": None,
        "vehicle_type": "van",
        "data_source_type": "camera",
    }
    return pd.DataFrame([{**base, **r} for r in rows])


def _row(sid: str, kind: str, zone: str | None, start: int, dwell: int, **kw: object) -> dict:
    return {
        "session_id": sid,
        "kind": kind,
        "curb_zone_id": zone,
        "start_ms": start,
        "end_ms": start + dwell * 1000,
        "dwell_s": dwell,
        "lon": kw.get("lon"),
        "lat": kw.get("lat"),
    }


def test_rates_per_day_hour_and_double_parking() -> None:
    df = sessions(
        [
            _row("s1", "park", "z1", DAY1_10H, 600),
            _row("s2", "park", "z1", DAY2_10H, 1200),
            _row("s3", "double_park", "z2", DAY1_10H, 300),
            _row("s4", "double_park", None, DAY2_10H, 300, lon=2.3605, lat=48.8640),
        ]
    )
    obs = demand_from_sessions(df, ZONES)
    assert obs.n_days == 2
    # Two park stops at z1 at 10h over two days: one a day.
    assert obs.arrivals.loc["z1", 10] == pytest.approx(1.0)
    assert obs.arrivals.loc["z2", 10] == pytest.approx(0.5)
    assert obs.double_parking.loc["z2", 10] == pytest.approx(0.5)
    assert obs.double_parking.loc["z1"].sum() == 0
    assert obs.dwell_h == pytest.approx((600 + 1200 + 300 + 300) / 4 / 3600)
    assert obs.profile[10] == pytest.approx(1.0)
    # Demand points: the two bays and the double-parking stop with no bay.
    assert set(obs.demand.ids) == {"bay-z1", "bay-z2", "dp-s4"}
    assert obs.demand.daily.sum() == pytest.approx(2.0)
    assert not obs.simulated


def test_simulated_sessions_are_labelled() -> None:
    df = sessions([_row("s1", "park", "z1", DAY1_10H, 600)])
    df["data_source_type"] = "simulated"
    assert demand_from_sessions(df, ZONES).simulated


@pytest.mark.parametrize(
    ("row", "match"),
    [
        (_row("bad", "park", "nowhere", DAY1_10H, 60), "curb_zone_id 'nowhere'"),
        (_row("bad", "stop", "z1", DAY1_10H, 60), "kind"),
        (_row("bad", "park", None, DAY1_10H, 60), "park session bad has no curb_zone_id"),
        (_row("bad", "double_park", None, DAY1_10H, 60), "neither curb_zone_id nor lon/lat"),
    ],
)
def test_bad_sessions_name_the_problem(row: dict, match: str) -> None:
    with pytest.raises(OptimiserInputError, match=match):
        demand_from_sessions(sessions([row]), ZONES)


def test_missing_column_is_named() -> None:
    df = sessions([_row("s1", "park", "z1", DAY1_10H, 600)]).drop(columns="end_ms")
    with pytest.raises(OptimiserInputError, match="missing column 'end_ms'"):
        demand_from_sessions(df, ZONES)


def test_timeslots_use_observed_hours(tmp_path: Path) -> None:
    from optimiser.api import Sources, TimeslotRequest, run_timeslots

    # z1 is busy at 21:00 (six stops a day, after the periodic regime's 20:00): the
    # observed hours make it delivery-only 24/7; z2, with no evening stop, keeps its hours.
    day1_21h = pd.Timestamp("2026-03-02 21:10", tz="Europe/Paris").value // 10**6
    rows = [
        _row(f"s{d}{k}", "park", "z1", day1_21h + d * 86_400_000 + k * 60_000, 900)
        for d in range(2)
        for k in range(6)
    ]
    rows.append(_row("t1", "park", "z2", DAY1_10H, 600))
    sessions(rows).to_csv(tmp_path / "sessions.csv", index=False)
    ZONES.to_csv(tmp_path / "zones.csv", index=False)
    res = run_timeslots(
        TimeslotRequest(
            sources=Sources(zones=tmp_path / "zones.csv", sessions=tmp_path / "sessions.csv"),
            zone_by="bay",
            time_limit_s=2,
        )
    )
    hours = {
        f["properties"]["site_id"]: f["properties"]["delivery_hours"]
        for f in res.proposals["features"]
    }
    assert hours == {"z1": "24/7"}
    assert not res.demand_simulated
