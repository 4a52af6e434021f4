"""The planners' map never mixes observed and simulated numbers, and an hour nobody
observed is null, not 0 % (on SQLite and PostgreSQL).

T0 is Monday 09:00 in Paris. Bay b1 (camera cam-1) is observed occupied 09:00-09:30
(50 % of hour 9); the simulator also put a stop on b1, 09:00-09:45 (75 %), and one on
b4 (no camera), 09:00-09:15 (25 %). b5 has neither camera nor simulation. Mixed into
one number, b1 would read neither figure.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import T0, Api, event, session, zid

MIN = 60_000


def _sim(name: str, start: int, end: int, n: int) -> dict[str, Any]:
    s = session(name, start, end, n=n, source="simulated")
    s["data_source_device_id"] = "sim"
    return s


@pytest.fixture
def seeded(api: Api) -> Api:
    api.ingest(
        [event("park_start", "b1", T0), event("park_end", "b1", T0 + 30 * MIN)],
        [
            session("b1", T0, T0 + 30 * MIN),
            _sim("b1", T0, T0 + 45 * MIN, 100),
            _sim("b4", T0, T0 + 15 * MIN, 101),
        ],
    )
    api.state.profiles.refresh(T0 + 200 * MIN)
    return api


def _props(fc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["properties"]["curb_zone_id"]: f["properties"] for f in fc["features"]}


def test_map_bays_default_to_observed_and_label_simulated(seeded: Api) -> None:
    c = seeded.client
    q = {"stat": "occupancy", "hour": 9, "weekday": 0}
    fc = c.get("/map/bays", params=q).json()
    assert fc["data_source"] == "observed" and fc["simulated"] is False
    p = _props(fc)
    assert p[zid("b1")]["value"] == pytest.approx(0.5, abs=1e-4)  # camera only
    assert p[zid("b1")]["stats_source"] == "camera"
    # Nobody observed b4 or b5: null, not 0 (b4's simulated stop is not an observation).
    for name in ("b4", "b5"):
        assert p[zid(name)]["value"] is None and p[zid(name)]["stats_source"] is None
    # Another hour of b1 nobody observed: null.
    other = _props(c.get("/map/bays", params={**q, "hour": 15}).json())
    assert other[zid("b1")]["value"] is None

    sim = c.get("/map/bays", params={**q, "data": "simulated"}).json()
    assert sim["data_source"] == "simulated" and sim["simulated"] is True
    p = _props(sim)
    assert p[zid("b1")]["value"] == pytest.approx(0.75, abs=1e-4)  # simulator only
    assert p[zid("b4")]["value"] == pytest.approx(0.25, abs=1e-4)
    assert p[zid("b1")]["stats_source"] == "simulated" and p[zid("b1")]["simulated"] is True
    assert p[zid("b5")]["value"] is None
    assert c.get("/map/bays", params={**q, "data": "mixed"}).status_code == 400


def test_map_cds_metrics_do_not_mix_or_read_unwatched_bays_as_zero(seeded: Api) -> None:
    c = seeded.client
    q = {"stat": "occupancy_percent", "start_ms": T0, "end_ms": T0 + 60 * MIN}
    p = _props(c.get("/map/bays", params=q).json())
    assert p[zid("b1")]["value"] == pytest.approx(50.0)
    assert p[zid("b4")]["value"] is None and p[zid("b5")]["value"] is None
    p = _props(c.get("/map/bays", params={**q, "data": "simulated"}).json())
    assert p[zid("b1")]["value"] == pytest.approx(75.0)
    assert p[zid("b4")]["value"] == pytest.approx(25.0)
    assert p[zid("b5")]["value"] is None  # not simulated either


def test_bay_panel_observed_by_default(seeded: Api) -> None:
    c = seeded.client
    bay = c.get(f"/map/bays/{zid('b1')}").json()
    assert bay["data_source"] == "observed" and bay["simulated"] is False
    assert bay["hourly_occupancy"][9] == pytest.approx(0.5, abs=1e-4)
    assert bay["hourly_occupancy"][3] is None  # nobody observed 03:00: null, not 0
    assert [s["data_source_type"] for s in bay["recent_sessions"]] == ["camera"]
    sim = c.get(f"/map/bays/{zid('b1')}", params={"data": "simulated"}).json()
    assert sim["simulated"] is True and sim["stats_source"] == "simulated"
    assert sim["hourly_occupancy"][9] == pytest.approx(0.75, abs=1e-4)
    assert [s["data_source_type"] for s in sim["recent_sessions"]] == ["simulated"]
    b5 = c.get(f"/map/bays/{zid('b5')}").json()
    assert b5["stats_source"] is None and b5["hourly_occupancy"] == [None] * 24


def test_areas_h3_and_activity_do_not_mix(seeded: Api) -> None:
    c = seeded.client
    fc = c.get("/map/areas", params={"hour": 9, "weekday": 0}).json()
    assert fc["data_source"] == "observed"
    south = next(f for f in fc["features"] if f["properties"]["curb_area_id"] == "a-south")
    assert south["properties"]["occupancy"] is None  # b4, b5: nobody observed them
    assert south["properties"]["bays_with_stats"] == 0
    fc = c.get("/map/areas", params={"hour": 9, "weekday": 0, "data": "simulated"}).json()
    south = next(f for f in fc["features"] if f["properties"]["curb_area_id"] == "a-south")
    assert south["properties"]["occupancy"] == pytest.approx(0.25, abs=1e-4)
    assert south["properties"]["simulated"] is True
    hexes = c.get("/map/h3", params={"resolution": 5, "hour": 9, "weekday": 0}).json()
    assert hexes["data_source"] == "observed"
    # b1 (0.5) and b2, b3 (watched by cam-1, empty: a true 0); b4, b5 unobserved, left out.
    (cell,) = hexes["features"]
    assert cell["properties"]["occupancy"] == pytest.approx(0.5 / 3, abs=1e-4)
    assert cell["properties"]["bays_with_stats"] == 3
    window = {"start_ms": T0 - 60 * MIN, "end_ms": T0 + 24 * 60 * MIN, "metric": "sessions"}
    act = _props(c.get("/map/activity", params=window).json())
    assert act[zid("b1")]["sessions"] == 1 and act[zid("b1")]["stats_source"] == "observed"
    assert act[zid("b4")]["value"] is None and act[zid("b4")]["stats_source"] is None
    assert act[zid("b2")]["sessions"] == 0 and act[zid("b2")]["value"] == 0  # watched, no stop
    sim = c.get("/map/activity", params={**window, "data": "simulated"}).json()
    assert sim["simulated"] is True
    act = _props(sim)
    assert act[zid("b1")]["sessions"] == 1 and act[zid("b1")]["stats_source"] == "simulated"
    assert act[zid("b4")]["sessions"] == 1
    assert {p["stats_source"] for p in act.values()} <= {"simulated", None}


def test_activity_in_a_window_no_run_covered_is_null_not_zero(seeded: Api) -> None:
    # Issue 12: cam-1's only run covered 09:00-10:00; a later day nobody watched read
    # 0 stops per camera bay, "observed". It is no data (null), as /map/bays says.
    store = seeded.store
    attempt = store.begin_run(
        "run-1h", device_id="cam-1", source="clip.mp4", live=False, footage_start_ms=T0, settings={}
    )
    store.finish_run(
        "run-1h", attempt, status="complete", footage_end_ms=T0 + 60 * MIN, frames_analysed=3600
    )
    c = seeded.client
    later = {"start_ms": T0 + 24 * 60 * MIN, "end_ms": T0 + 48 * 60 * MIN, "metric": "sessions"}
    act = _props(c.get("/map/activity", params=later).json())
    for name in ("b1", "b2", "b3"):
        assert act[zid(name)]["value"] is None and act[zid(name)]["stats_source"] is None
    # The window the run covered is still observed: b2's 0 is a true 0.
    window = {**later, "start_ms": T0 - 60 * MIN, "end_ms": T0 + 24 * 60 * MIN}
    act = _props(c.get("/map/activity", params=window).json())
    assert act[zid("b1")]["sessions"] == 1 and act[zid("b1")]["stats_source"] == "observed"
    assert act[zid("b2")]["value"] == 0


def test_live_state_carries_its_source_and_observed_counts_leave_simulated_out(
    seeded: Api,
) -> None:
    # Issue 12: b4 (no camera) was set free/occupied by the simulator and shown as
    # plain state in observed answers; /map/areas counted it as an observed free bay.
    sim_start = event("park_start", "b4", T0 + 120 * MIN, device="sim", n=7)
    sim_start["data_source_type"] = "simulated"
    seeded.ingest([sim_start], [])
    c = seeded.client
    p = _props(c.get("/map/bays").json())
    assert p[zid("b4")]["state"] == "occupied" and p[zid("b4")]["state_source"] == "simulated"
    assert p[zid("b1")]["state_source"] == "observed"
    assert c.get(f"/map/bays/{zid('b4')}").json()["state_source"] == "simulated"
    fc = c.get("/map/areas").json()
    south = next(f for f in fc["features"] if f["properties"]["curb_area_id"] == "a-south")
    assert south["properties"]["occupied"] == 0  # the simulator's stop is not observed
    assert south["properties"]["other_source_states"] == 1
    fc = c.get("/map/areas", params={"data": "simulated"}).json()
    south = next(f for f in fc["features"] if f["properties"]["curb_area_id"] == "a-south")
    assert south["properties"]["occupied"] == 1


def test_a_recorded_runs_last_state_is_not_live_after_the_run_ended(seeded: Api) -> None:
    # Issue 12: after a recorded clip ended, its bays stayed "occupied" forever.
    seeded.ingest([event("park_start", "b1", T0 + 40 * MIN, n=3)], [])
    c = seeded.client
    assert c.get(f"/map/bays/{zid('b1')}").json()["state"] == "occupied"
    store = seeded.store
    attempt = store.begin_run(
        "run-1h", device_id="cam-1", source="clip.mp4", live=False, footage_start_ms=T0, settings={}
    )
    store.finish_run(
        "run-1h", attempt, status="complete", footage_end_ms=T0 + 60 * MIN, frames_analysed=3600
    )
    seeded.state.follower.poll()
    bay = c.get(f"/map/bays/{zid('b1')}").json()
    assert bay["state"] == "unknown" and bay["since_ms"] == T0 + 60 * MIN
    assert bay["state_source"] is None
    assert _props(c.get("/map/bays").json())[zid("b1")]["state"] == "unknown"
    # A new live run of the camera makes its state live again.
    store.begin_run(
        "run-live",
        device_id="cam-1",
        source="rtsp://x",
        live=True,
        footage_start_ms=T0,
        settings={},
    )
    seeded.state.follower.poll()
    assert c.get(f"/map/bays/{zid('b1')}").json()["state"] == "occupied"


def test_activity_counts_of_unobserved_bays_are_null_not_zero(seeded: Api) -> None:
    # b4 (no camera) and b5 (nothing at all): no observed count, so every count is null
    # with the value, not 0; b2 (watched by cam-1, no stop) keeps its true 0.
    window = {"start_ms": T0 - 60 * MIN, "end_ms": T0 + 24 * 60 * MIN, "data": "observed"}
    act = _props(seeded.client.get("/map/activity", params=window).json())
    counts = ("sessions", "double_parking", "overstays", "misuse")
    for name in ("b4", "b5"):
        assert act[zid(name)]["value"] is None and act[zid(name)]["stats_source"] is None
        assert [act[zid(name)][k] for k in counts] == [None] * 4, act[zid(name)]
    assert [act[zid("b2")][k] for k in counts] == [0] * 4
    fc = seeded.client.get("/map/activity", params={**window, "group": "area"}).json()
    south = next(f["properties"] for f in fc["features"] if f["properties"]["area_id"] == "a-south")
    assert south["sessions"] is None and south["bays_with_stats"] == 0
