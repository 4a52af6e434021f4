"""Live state from events, free bays near a point, arrival probability, rate limit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from api.live import BayState
from api.profiles import ProfileSnapshot
from tests.api.conftest import ORIGIN, T0, Api, event, make_api, zid


def free(api: Api, **params: object) -> list[dict[str, object]]:
    lat, lon = ORIGIN
    r = api.client.get("/availability/free", params={"lat": lat, "lon": lon, **params})
    assert r.status_code == 200, r.text
    bays: list[dict[str, object]] = r.json()["bays"]
    return bays


def test_state_from_latest_park_event(api: Api) -> None:
    live = api.state.live
    api.ingest([event("park_start", "b1", T0), event("park_end", "b1", T0 + 60_000)])
    assert live.state(zid("b1")).state is BayState.FREE
    assert live.state(zid("b1")).since_ms == T0 + 60_000
    # An older event arriving late changes nothing.
    api.ingest([event("park_start", "b1", T0 + 30_000, n=1)])
    assert live.state(zid("b1")).state is BayState.FREE
    api.ingest([event("park_start", "b1", T0 + 90_000, n=2)])
    assert live.state(zid("b1")).state is BayState.OCCUPIED
    assert live.state(zid("b4")).state is BayState.UNKNOWN


def test_comms_lost_makes_camera_bays_unknown(api: Api) -> None:
    live = api.state.live
    api.ingest([event("park_end", "b1", T0), event("park_start", "b2", T0)])
    api.ingest([event("comms_lost", None, T0 + 10)])
    assert [live.state(zid(b)).state for b in ("b1", "b2", "b3")] == [BayState.UNKNOWN] * 3
    api.ingest([event("comms_restored", None, T0 + 20)])
    assert live.state(zid("b1")).state is BayState.FREE
    assert live.state(zid("b2")).state is BayState.OCCUPIED


def test_state_rebuilt_from_database_at_start(tmp_path: Path) -> None:
    gen = make_api(tmp_path)
    first = next(gen)
    first.ingest([event("park_end", "b1", T0), event("park_start", "b2", T0)])
    gen.close()
    gen2 = make_api(tmp_path)  # same database file: a restarted server
    again = next(gen2)
    assert again.state.live.state(zid("b1")).state is BayState.FREE
    assert again.state.live.state(zid("b2")).state is BayState.OCCUPIED
    gen2.close()


def test_follower_picks_up_events_written_by_another_process(api: Api) -> None:
    from occupancy.runtime.wire import EventIn
    from occupancy.storage.store import now_ms

    seen: list[list[object]] = []
    api.state.live.add_listener(seen.append)
    row = EventIn.model_validate(event("park_end", "b3", T0)).row(now_ms())
    api.store.ingest_events([row])  # as the CLI or a job would: straight into the DB
    assert api.state.live.state(zid("b3")).state is BayState.UNKNOWN
    assert api.state.follower.poll() == 1
    assert api.state.live.state(zid("b3")).state is BayState.FREE
    # The next poll re-reads the overlap window but announces nothing twice.
    assert api.state.follower.poll() == 1
    assert len(seen) == 1


def test_free_bays_sorted_with_fields(api: Api) -> None:
    api.ingest(
        [
            event("park_end", "b3", T0),
            event("park_end", "b1", T0 + 1000),
            event("park_start", "b2", T0),
            event("park_end", "b4", T0 + 2000),
        ]
    )
    bays = free(api, radius=500)
    assert [b["curb_zone_id"] for b in bays] == [zid("b1"), zid("b3"), zid("b4")]
    b1 = bays[0]
    assert b1["state"] == "free" and b1["free_since_ms"] == T0 + 1000
    assert b1["max_stay_min"] == 30.0 and b1["vehicle_types"] is None
    assert b1["distance_m"] == pytest.approx(11.1, abs=0.2)
    assert bays[1]["distance_m"] == pytest.approx(74.5, abs=0.5)
    assert bays[2]["distance_m"] == pytest.approx(219.6, abs=1.0)
    assert b1["p_free_at_arrival"] is None  # no profile yet
    assert [b["curb_zone_id"] for b in free(api, radius=100)] == [zid("b1"), zid("b3")]
    assert [b["curb_zone_id"] for b in free(api, radius=500, limit=1)] == [zid("b1")]


def test_vehicle_type_filter(api: Api) -> None:
    api.ingest([event("park_end", "b2", T0), event("park_end", "b1", T0)])
    assert [b["curb_zone_id"] for b in free(api, vehicle_type="truck")] == [zid("b1"), zid("b2")]
    api.state.live.set_bays(api.state.live.bays)  # no-op rebuild keeps state
    r = free(api, vehicle_type="car")
    assert [b["curb_zone_id"] for b in r] == [zid("b1")]  # b2 admits vans and trucks only


def test_p_free_at_arrival_uses_local_weekday_and_hour(api: Api) -> None:
    api.ingest([event("park_end", "b1", T0)])
    arr = np.full((7, 24), np.nan)
    arr[0, 9] = 0.75  # Monday 09:00-10:00 Paris
    arr[0, 10] = 0.25
    api.state.profiles.snapshot = ProfileSnapshot({zid("b1"): arr}, {zid("b1"): "camera"}, T0)
    # T0 is Monday 08:00 UTC = 09:00 in Paris (CET, UTC+1).
    assert free(api, arrival_ms=T0 + 30 * 60_000)[0]["p_free_at_arrival"] == 0.75
    assert free(api, arrival_ms=T0 + 60 * 60_000)[0]["p_free_at_arrival"] == 0.25
    assert free(api, arrival_ms=T0 + 2 * 3600_000)[0]["p_free_at_arrival"] is None


def test_free_errors(api: Api) -> None:
    c = api.client
    assert c.get("/availability/free", params={"lat": 48.8}).status_code == 400
    r = c.get("/availability/free", params={"lat": 48.8, "lon": 2.3, "radius": 0})
    assert r.status_code == 400
    assert r.json()["error_details"] == ["query.radius: Input should be greater than 0"]
    assert (
        c.get("/availability/free", params={"lat": 48.8, "lon": 2.3, "radius": 6000}).status_code
        == 400
    )
    assert c.get("/availability/free", params={"lat": "x", "lon": 2.3}).status_code == 400
    r = c.get("/availability/free", params={"lat": 48.8, "lon": 2.3, "vehicle_type": "tank"})
    assert r.status_code == 400


def test_public_rate_limit(tmp_path: Path) -> None:
    gen = make_api(tmp_path, api_rate_limit_per_s=0.001, api_rate_limit_burst=3)
    api = next(gen)
    codes = [
        api.client.get("/availability/free", params={"lat": 48.85, "lon": 2.36}).status_code
        for _ in range(5)
    ]
    assert codes == [200, 200, 200, 429, 429]
    r = api.client.get("/curbs/zones")
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    # A caller with a valid key is not limited by the anonymous budget.
    r = api.client.get("/curbs/zones", headers=api.auth("read"))
    assert r.status_code == 200
    gen.close()


def test_fast_path_answers_like_the_fastapi_route(api: Api) -> None:
    api.ingest(
        [event("park_end", "b1", T0), event("park_end", "b3", T0), event("park_end", "b4", T0)]
    )
    q = {"lat": ORIGIN[0], "lon": ORIGIN[1], "radius": 500, "arrival_ms": T0, "limit": 2}
    fast = api.client.get("/availability/free", params=q)
    # A repeated parameter is not the fast path's business: FastAPI answers (last value wins).
    slow = api.client.get("/availability/free", params=[*q.items(), ("limit", 2)])
    assert fast.status_code == slow.status_code == 200
    assert fast.json() == slow.json()
    assert [b["curb_zone_id"] for b in fast.json()["bays"]] == [zid("b1"), zid("b3")]
    # Invalid values fall through to FastAPI's validation and get its 400.
    bad = api.client.get("/availability/free", params={**q, "limit": 0})
    assert bad.status_code == 400 and bad.json()["error_details"][0].startswith("query.limit")
    bad = api.client.get("/availability/free", params={**q, "lat": "nan"})
    assert bad.status_code == 400
    bad = api.client.get("/availability/free", params=q, headers={"Authorization": "Bearer x"})
    assert bad.status_code == 401
