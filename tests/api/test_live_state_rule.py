"""The API's live bay state is ``bay_state`` of each bay's latest events, whatever the order.

Random event histories (park events on the four bays, comms drops of the camera that
watches b1..b3) are sent in shuffled batches; the expected state of every bay is then
computed independently, by sorting its events by time and calling
``occupancy.domain.states.bay_state`` on the latest park and comms events. The live
index, the ``/availability/free`` route and a restarted server (state rebuilt by
``Store.latest_state_events``) must all give that answer.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from occupancy.domain.records import EventType
from occupancy.domain.states import BayState, bay_state
from tests.api.conftest import BAYS, ORIGIN, T0, Api, event, make_api, zid

NAMES = ("b1", "b2", "b3", "b4")


def history(rng: random.Random) -> list[dict[str, Any]]:
    times = rng.sample(range(0, 3_600_000, 1000), 30)  # distinct: "latest" is unambiguous
    out = []
    for n, t in enumerate(times):
        if rng.random() < 0.25:
            kind = rng.choice([EventType.COMMS_LOST, EventType.COMMS_RESTORED])
            out.append(event(str(kind), None, T0 + t, n=n))
        else:
            kind = rng.choice([EventType.PARK_START, EventType.PARK_END])
            out.append(event(str(kind), rng.choice(NAMES), T0 + t, n=n))
    return out


def expected(events: list[dict[str, Any]]) -> dict[str, BayState]:
    def latest(rows: list[dict[str, Any]]) -> EventType | None:
        return EventType(max(rows, key=lambda e: e["event_time"])["event_type"]) if rows else None

    comms = [e for e in events if "curb_zone_id" not in e]
    out = {}
    for name in NAMES:
        park = [e for e in events if e.get("curb_zone_id") == zid(name)]
        watched = BAYS[name][2] is not None
        out[name] = bay_state(latest(park), latest(comms) if watched else None)
    return out


def free_names(api: Api) -> set[str]:
    lat, lon = ORIGIN
    r = api.client.get(
        "/availability/free", params={"lat": lat, "lon": lon, "radius": 500, "limit": 200}
    )
    assert r.status_code == 200, r.text
    by_id = {zid(n): n for n in BAYS}
    return {by_id[b["curb_zone_id"]] for b in r.json()["bays"]}


@pytest.mark.parametrize("seed", range(6))
def test_live_state_is_bay_state_of_latest_events(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    events = history(rng)
    want = expected(events)
    gen = make_api(tmp_path, api_rate_limit_per_s=0)
    api = next(gen)
    shuffled = events[:]
    rng.shuffle(shuffled)
    for k in range(0, len(shuffled), 7):
        api.ingest(shuffled[k : k + 7])
    got = {n: api.state.live.state(zid(n)).state for n in NAMES}  # type: ignore[union-attr]
    assert got == want
    assert free_names(api) == {n for n in NAMES if want[n] is BayState.FREE}
    gen.close()

    restarted = make_api(tmp_path, api_rate_limit_per_s=0)  # same database file
    again = next(restarted)
    got = {n: again.state.live.state(zid(n)).state for n in NAMES}  # type: ignore[union-attr]
    assert got == want
    restarted.close()


def test_double_parking_beside_a_bay_leaves_its_state(tmp_path: Path) -> None:
    """A double-park event names the bay it is beside (``curb_zone_id``) and its lane zone:
    it says nothing about the bay itself, live or rebuilt from the database."""
    lane = "4f2c0d0e-6d0a-4d47-9a53-3f1f0b8e2a11"
    beside = [
        {**event(str(kind), "b1", T0 + dt, n=10 + n), "lane_zone_id": lane}
        for n, (kind, dt) in enumerate(
            [(EventType.PARK_START, 60_000), (EventType.PARK_END, 120_000)]
        )
    ]
    gen = make_api(tmp_path, api_rate_limit_per_s=0)
    api = next(gen)
    api.ingest([event("park_start", "b1", T0)])  # a car parks in b1
    api.ingest(beside[:1])  # a van double parks beside it
    assert api.state.live.state(zid("b1")).state is BayState.OCCUPIED  # type: ignore[union-attr]
    api.ingest(beside[1:])  # the van leaves: the car is still there
    assert api.state.live.state(zid("b1")).state is BayState.OCCUPIED  # type: ignore[union-attr]
    gen.close()
    restarted = make_api(tmp_path, api_rate_limit_per_s=0)
    again = next(restarted)
    assert again.state.live.state(zid("b1")).state is BayState.OCCUPIED  # type: ignore[union-attr]
    restarted.close()
