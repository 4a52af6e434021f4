"""Hourly CDS aggregates on hand-made sessions, with exact expected numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from occupancy.statistics.hourly import (
    StatsError,
    covered_ms,
    hourly_aggregates,
    iter_hourly_aggregates,
    offline_intervals,
    prepare,
)
from tests.stats.conftest import frame, ms, session

ZONES = pd.DataFrame(
    {
        "curb_zone_id": ["A", "B"],
        "num_spaces": [1, 2],
        "max_stay_min": [20.0, None],
        "vehicle_types": [["van", "truck"], None],
        "device_id": ["cam1", "cam2"],
    }
)


def row(h: pd.DataFrame, zone: str, local: str, *, fold: int = 0) -> pd.Series:
    sel = h[(h["curb_zone_id"] == zone) & (h["hour_start_ms"] == ms(local, fold=fold))]
    assert len(sel) == 1
    return sel.iloc[0]


def test_session_across_hour_boundaries() -> None:
    s = frame([session("A", ms("2025-06-10 10:30"), ms("2025-06-10 12:15"))])
    h = hourly_aggregates(s, ZONES, start_ms=ms("2025-06-10 09:00"), end_ms=ms("2025-06-10 13:00"))
    assert len(h) == 2 * 4
    a = h[h["curb_zone_id"] == "A"]
    assert a["occupancy_percent"].tolist() == [0.0, 50.0, 100.0, 25.0]
    assert a["total_sessions"].tolist() == [0, 1, 0, 0]
    r10 = row(h, "A", "2025-06-10 10:00")
    assert r10["average_dwell_time"] == 105.0
    assert r10["turnover"] == 1.0
    assert r10["local_hour"] == pd.Timestamp("2025-06-10 10:00", tz="Europe/Paris")
    assert np.isnan(row(h, "A", "2025-06-10 11:00")["average_dwell_time"])
    assert h[h["curb_zone_id"] == "B"]["occupancy_percent"].sum() == 0.0


def test_session_spanning_midnight() -> None:
    s = frame([session("A", ms("2025-06-10 23:40"), ms("2025-06-11 00:20"))])
    h = hourly_aggregates(s, ZONES, start_ms=ms("2025-06-10 23:00"), end_ms=ms("2025-06-11 01:00"))
    a = h[h["curb_zone_id"] == "A"]
    assert a["occupancy_percent"].round(6).tolist() == [33.333333, 33.333333]
    assert [t.day for t in a["local_hour"]] == [10, 11]
    assert a["total_sessions"].tolist() == [1, 0]


def test_spring_dst_day_has_23_hours() -> None:
    # 2025-03-30: 02:00 local does not exist; 01:30 -> 03:30 local is one real hour.
    s = frame([session("A", ms("2025-03-30 01:30"), ms("2025-03-30 03:30"))])
    h = hourly_aggregates(s, ZONES, start_ms=ms("2025-03-30 00:00"), end_ms=ms("2025-03-31 00:00"))
    a = h[h["curb_zone_id"] == "A"]
    assert len(a) == 23
    assert [t.hour for t in a["local_hour"]][:4] == [0, 1, 3, 4]
    assert row(h, "A", "2025-03-30 01:00")["occupancy_percent"] == 50.0
    assert row(h, "A", "2025-03-30 03:00")["occupancy_percent"] == 50.0
    assert row(h, "A", "2025-03-30 01:00")["average_dwell_time"] == 60.0
    assert a["occupancy_percent"].sum() == 100.0


def test_autumn_dst_day_has_25_hours() -> None:
    # 2025-10-26: 02:00-03:00 happens twice; 02:30 CEST -> 02:30 CET is one real hour.
    s = frame([session("A", ms("2025-10-26 02:30"), ms("2025-10-26 02:30", fold=1))])
    h = hourly_aggregates(s, ZONES, start_ms=ms("2025-10-26 00:00"), end_ms=ms("2025-10-27 00:00"))
    a = h[h["curb_zone_id"] == "A"]
    assert len(a) == 25
    assert [t.hour for t in a["local_hour"]][:5] == [0, 1, 2, 2, 3]
    assert row(h, "A", "2025-10-26 02:00")["occupancy_percent"] == 50.0
    assert row(h, "A", "2025-10-26 02:00", fold=1)["occupancy_percent"] == 50.0
    assert row(h, "A", "2025-10-26 02:00")["total_sessions"] == 1
    assert row(h, "A", "2025-10-26 02:00", fold=1)["total_sessions"] == 0


def test_offline_hours_are_minus_one() -> None:
    events = pd.DataFrame(
        {
            "event_type": ["comms_lost", "comms_restored", "comms_lost", "comms_lost"],
            "event_time": [
                ms("2025-06-10 14:10"),
                ms("2025-06-10 14:50"),
                ms("2025-06-10 16:20"),
                ms("2025-06-10 16:30"),  # still lost: does not restart the interval
            ],
            "data_source_device_id": ["cam1"] * 4,
        }
    )
    end = ms("2025-06-10 18:00")
    off = offline_intervals(events, end)
    assert off.values.tolist() == [
        ["cam1", ms("2025-06-10 14:10"), ms("2025-06-10 14:50")],
        ["cam1", ms("2025-06-10 16:20"), end],
    ]
    s = frame([session("A", ms("2025-06-10 14:00"), ms("2025-06-10 15:30"))])
    h = hourly_aggregates(s, ZONES, start_ms=ms("2025-06-10 14:00"), end_ms=end, offline=off)
    a = h[h["curb_zone_id"] == "A"].set_index(h["local_hour"].dt.hour[h["curb_zone_id"] == "A"])
    for metric in ("total_sessions", "turnover", "average_dwell_time", "occupancy_percent"):
        assert a.loc[14, metric] == -1
        assert a.loc[16, metric] == -1
        assert a.loc[17, metric] == -1
    assert a.loc[15, "occupancy_percent"] == 50.0
    assert a.loc[14, "offline_min"] == 40.0
    assert a.loc[16, "offline_min"] == 40.0
    assert a["offline"].tolist() == [True, False, True, True]
    # cam2's bay B was never offline
    assert not h[h["curb_zone_id"] == "B"]["offline"].any()


def test_overstay_and_misuse() -> None:
    s = frame(
        [
            session("A", ms("2025-06-10 08:00"), ms("2025-06-10 08:30"), vehicle="van"),
            session("A", ms("2025-06-10 08:35"), ms("2025-06-10 08:45"), vehicle="car"),
            session("A", ms("2025-06-10 08:50"), ms("2025-06-10 09:00"), vehicle="van", max_stay=5),
            session("B", ms("2025-06-10 08:00"), ms("2025-06-10 09:00"), vehicle="car"),
            session("B", ms("2025-06-10 08:00"), ms("2025-06-10 08:30"), vehicle="car"),
        ]
    )
    h = hourly_aggregates(s, ZONES, start_ms=ms("2025-06-10 08:00"), end_ms=ms("2025-06-10 09:00"))
    a = row(h, "A", "2025-06-10 08:00")
    assert a["total_sessions"] == 3
    assert a["overstay_sessions"] == 2  # 30 min > 20; 10 min > the session's own 5
    assert a["overstay_share"] == 2 / 3
    assert a["misuse_sessions"] == 1
    assert a["misuse_share"] == 1 / 3
    assert a["average_dwell_time"] == 50 / 3
    assert a["occupancy_percent"] == pytest.approx(250 / 3, abs=1e-12)
    b = row(h, "B", "2025-06-10 08:00")
    assert b["misuse_sessions"] == 0  # any vehicle type allowed
    assert b["overstay_sessions"] == 0  # no max stay
    assert b["occupancy_percent"] == 75.0  # 90 occupied minutes over 2 spaces
    assert b["turnover"] == 1.0


def test_double_parking_counted_apart() -> None:
    s = frame(
        [
            session("A", ms("2025-06-10 10:50"), ms("2025-06-10 11:10"), kind="double_park"),
            session("A", ms("2025-06-10 10:00"), ms("2025-06-10 11:00")),
        ]
    )
    h = hourly_aggregates(s, ZONES, start_ms=ms("2025-06-10 10:00"), end_ms=ms("2025-06-10 12:00"))
    r10, r11 = row(h, "A", "2025-06-10 10:00"), row(h, "A", "2025-06-10 11:00")
    assert (r10["total_sessions"], r10["occupancy_percent"]) == (1, 100.0)
    assert (r10["double_park_sessions"], r10["double_park_minutes"]) == (1, 10.0)
    assert (r11["double_park_sessions"], r11["double_park_minutes"]) == (0, 10.0)
    assert r11["occupancy_percent"] == 0.0


def test_sessions_outside_zones_and_period_are_ignored() -> None:
    s = frame(
        [
            session("Z", ms("2025-06-10 10:00"), ms("2025-06-10 10:30")),
            session("A", ms("2025-06-10 07:00"), ms("2025-06-10 10:15")),
        ]
    )
    h = hourly_aggregates(s, ZONES, start_ms=ms("2025-06-10 10:00"), end_ms=ms("2025-06-10 11:00"))
    r = row(h, "A", "2025-06-10 10:00")
    assert (r["total_sessions"], r["occupancy_percent"]) == (0, 25.0)
    assert set(h["curb_zone_id"]) == {"A", "B"}


def test_bad_input_is_a_clear_error() -> None:
    s = frame([session("A", ms("2025-06-10 10:00"), ms("2025-06-10 09:00"))])
    with pytest.raises(StatsError, match="ends before it starts"):
        hourly_aggregates(s, ZONES, start_ms=0, end_ms=HOUR)
    with pytest.raises(StatsError, match="empty period"):
        hourly_aggregates(s.iloc[:0], ZONES, start_ms=HOUR, end_ms=HOUR)
    with pytest.raises(StatsError, match="lacks column"):
        hourly_aggregates(s.drop(columns="end_ms"), ZONES, start_ms=0, end_ms=HOUR)


HOUR = 3_600_000


def test_covered_ms_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    n, bays, hours = 500, 7, 30
    z = rng.integers(0, bays, n).astype(np.int32)
    s = rng.integers(-2 * HOUR, hours * HOUR, n).astype(np.int64)
    e = s + rng.integers(0, 5 * HOUR, n)
    got = covered_ms(z, s, e, bays, 0, hours)
    want = np.zeros((bays, hours))
    for zi, si, ei in zip(z, s, e, strict=True):
        for hh in range(hours):
            want[zi, hh] += max(0, min(ei, (hh + 1) * HOUR) - max(si, hh * HOUR))
    np.testing.assert_array_equal(got, want)


def test_chunked_iteration_equals_one_block() -> None:
    rng = np.random.default_rng(3)
    n = 400
    start = ms("2025-03-29 00:00") + rng.integers(0, (3 * 24 - 1) * HOUR, n)  # DST: 71 h
    s = frame(
        [
            session(
                "AB"[i % 2],
                int(a),
                int(a + d),
                kind="double_park" if i % 7 == 0 else "park",
                sid=str(i),
            )
            for i, (a, d) in enumerate(zip(start, rng.integers(60_000, 5 * HOUR, n), strict=True))
        ]
    )
    period = {"start_ms": ms("2025-03-29 00:00"), "end_ms": ms("2025-04-01 00:00")}
    whole = hourly_aggregates(s, ZONES, **period)
    p = prepare(s, ZONES)
    parts = pd.concat(list(iter_hourly_aggregates(p, **period, max_cells=2 * 5)))
    parts = parts.sort_values(["curb_zone_id", "hour_start_ms"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(parts, whole)
    # sessions already in start order (as the store returns them) take the no-copy path
    by_start = s.sort_values("start_ms").reset_index(drop=True)
    q = prepare(by_start, ZONES)
    assert isinstance(q.start, np.ndarray) and bool(np.all(np.diff(q.start) >= 0))
    parts = pd.concat(list(iter_hourly_aggregates(q, **period, max_cells=2 * 7)))
    parts = parts.sort_values(["curb_zone_id", "hour_start_ms"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(parts, whole)
    assert whole["total_sessions"].sum() == sum(1 for i in range(n) if i % 7)


def test_unobserved_intervals_are_the_gaps_between_runs() -> None:
    import pandas as pd

    from occupancy.statistics.hourly import merge_intervals, unobserved_intervals

    runs = pd.DataFrame(
        {
            "device_id": ["cam", "cam", "other"],
            "footage_start_ms": [100, 300, None],
            "footage_end_ms": [200, None, None],
        }
    )
    gaps = unobserved_intervals(runs, 0, 1_000, now_ms=500)
    got = sorted(map(tuple, gaps.itertuples(index=False)))
    # cam: before its first run, between runs, after the still-open run's "now";
    # other: a run without a start covers nothing.
    assert got == [("cam", 0, 100), ("cam", 200, 300), ("cam", 500, 1_000), ("other", 0, 1_000)]
    offline = pd.DataFrame({"data_source_device_id": ["cam"], "start_ms": [50], "end_ms": [150]})
    merged = merge_intervals(gaps, offline)
    assert sorted(map(tuple, merged.itertuples(index=False)))[:2] == [
        ("cam", 0, 150),
        ("cam", 200, 300),
    ]
