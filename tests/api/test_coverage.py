"""Honest hours: an hour counts as observed only where a camera's run covered it."""

from __future__ import annotations

import csv
import io

from tests.api.conftest import T0, Api, event, session, zid

H = 3_600_000
DAY0 = T0 - 9 * H  # 2026-01-05 00:00 Europe/Paris


def test_forty_second_recording_leaves_the_rest_of_the_day_unobserved(api: Api) -> None:
    store = api.store
    attempt = store.begin_run(
        "run-40s",
        device_id="cam-1",
        source="clip.mp4",
        live=False,
        footage_start_ms=T0,
        settings={},
    )
    store.finish_run(
        "run-40s", attempt, status="complete", footage_end_ms=T0 + 40_000, frames_analysed=400
    )
    api.ingest(
        [event("park_start", "b1", T0 + 5_000), event("park_end", "b1", T0 + 30_000)],
        [session("b1", T0 + 5_000, T0 + 30_000)],
    )
    r = api.client.get(
        "/metrics/aggregates",
        params={"start_time": DAY0, "end_time": DAY0 + 24 * H},
        headers=api.auth("read"),
    )
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.text)))
    cam = {zid(n) for n in ("b1", "b2", "b3")}
    watched = [x for x in rows if x["curb_place_id"] in cam]
    # 24 hours x 4 metrics x 3 bays, every one -1: 40 s of footage is not the majority of
    # any hour, and the other 23 hours nobody watched (not 0 sessions, not 0 %).
    assert len(watched) == 24 * 4 * 3
    assert {x["value"] for x in watched} == {"-1.0"}
    # The session itself is still published as a session.
    s = api.client.get(
        "/metrics/sessions",
        params={"start_time": DAY0, "end_time": DAY0 + 24 * H},
        headers=api.auth("read"),
    )
    assert len(list(csv.DictReader(io.StringIO(s.text)))) == 1


def test_a_run_covering_two_hours_makes_only_those_hours_observed(api: Api) -> None:
    store = api.store
    attempt = store.begin_run(
        "run-2h", device_id="cam-1", source="clip.mp4", live=False, footage_start_ms=T0, settings={}
    )
    store.finish_run(
        "run-2h", attempt, status="complete", footage_end_ms=T0 + 2 * H, frames_analysed=7200
    )
    api.ingest(
        [event("park_start", "b1", T0 + 60_000), event("park_end", "b1", T0 + 31 * 60_000)],
        [session("b1", T0 + 60_000, T0 + 31 * 60_000)],
    )
    r = api.client.get(
        "/metrics/aggregates",
        params={
            "start_time": DAY0,
            "end_time": DAY0 + 24 * H,
            "curb_place_type": "zone",
            "curb_place_id": zid("b1"),
            "metric_type": "occupancy_percent",
        },
        headers=api.auth("read"),
    )
    by_hour = {int(x["hour"]): float(x["value"]) for x in csv.DictReader(io.StringIO(r.text))}
    assert by_hour[9] == 50.0 and by_hour[10] == 0.0
    assert {h for h, v in by_hour.items() if v == -1.0} == set(range(24)) - {9, 10}


def test_a_window_starting_and_ending_mid_hour_leaves_unwatched_partial_hours_unobserved(
    api: Api,
) -> None:
    # Issue 12: the window 08:40-11:20 used to clip the unwatched 08:00-08:40 and
    # 11:20-12:00 away, so hours 8 and 11 looked mostly watched and read 0 %, not -1.
    store = api.store
    attempt = store.begin_run(
        "run-2h", device_id="cam-1", source="clip.mp4", live=False, footage_start_ms=T0, settings={}
    )
    store.finish_run(
        "run-2h", attempt, status="complete", footage_end_ms=T0 + 2 * H, frames_analysed=7200
    )
    api.ingest(
        [event("park_start", "b1", T0 + 60_000), event("park_end", "b1", T0 + 31 * 60_000)],
        [session("b1", T0 + 60_000, T0 + 31 * 60_000)],
    )
    start, end = T0 - 20 * 60_000, T0 + 2 * H + 20 * 60_000
    r = api.client.get(
        "/metrics/aggregates",
        params={"start_time": start, "end_time": end},
        headers=api.auth("read"),
    )
    assert r.status_code == 200, r.text
    cam = {zid(n) for n in ("b1", "b2", "b3")}
    rows = [x for x in csv.DictReader(io.StringIO(r.text)) if x["curb_place_id"] in cam]
    by_hour: dict[int, set[float]] = {}
    for x in rows:
        by_hour.setdefault(int(x["hour"]), set()).add(float(x["value"]))
    assert by_hour[8] == {-1.0} and by_hour[11] == {-1.0}
    assert -1.0 not in by_hour[9] | by_hour[10]
    fc = api.client.get(
        "/map/bays", params={"stat": "occupancy_percent", "start_ms": start, "end_ms": T0 + H}
    ).json()
    p = {f["properties"]["curb_zone_id"]: f["properties"] for f in fc["features"]}
    assert p[zid("b1")]["value"] == 50.0  # hour 9 only; the unwatched hour 8 is left out
