"""/availability/free follows each bay's regime and says what is simulated."""

from __future__ import annotations

import dataclasses

from tests.api.conftest import ORIGIN, T0, Api, event, session, zid, zone_rows

H = 3_600_000


def _periodic(api: Api) -> None:
    rows = [
        dataclasses.replace(r, delivery_hours="Mo-Sa 07:00-20:00")
        if r.curb_zone_id == zid("b1")
        else r
        for r in zone_rows()
    ]
    api.store.upsert_zones(rows)
    api.state.follower.load_all()


def _free(api: Api, arrival_ms: int) -> dict[str, dict[str, object]]:
    lat, lon = ORIGIN
    r = api.client.get(
        "/availability/free",
        params={"lat": lat, "lon": lon, "radius": 100, "arrival_ms": arrival_ms},
    )
    assert r.status_code == 200, r.text
    return {b["curb_zone_id"]: b for b in r.json()["bays"]}


def test_periodic_bay_is_offered_only_in_its_hours(api: Api) -> None:
    _periodic(api)
    api.ingest([event("park_end", "b1", T0 - H), event("park_end", "b2", T0 - H)])
    monday_9 = _free(api, T0)  # 2026-01-05 09:00 Paris, a Monday
    assert zid("b1") in monday_9 and monday_9[zid("b1")]["delivery_hours"] == "Mo-Sa 07:00-20:00"
    monday_23 = _free(api, T0 + 14 * H)
    assert zid("b1") not in monday_23 and zid("b2") in monday_23  # b2 is always a delivery bay
    sunday_10 = _free(api, T0 - 23 * H)  # Sunday 4 January, 10:00
    assert zid("b1") not in sunday_10 and zid("b2") in sunday_10


def test_simulated_state_and_probability_are_marked(api: Api) -> None:
    ev = event("park_end", "b1", T0 - H, device="sim")
    ev["data_source_type"] = "simulated"
    s = session("b1", T0 - 2 * H, T0 - H, source="simulated")
    api.ingest([ev, event("park_end", "b2", T0 - H)], [s])
    api.state.profiles.refresh(T0)
    bays = _free(api, T0 - 2 * H + 60_000)
    assert bays[zid("b1")]["state_source"] == "simulated"
    assert bays[zid("b2")]["state_source"] == "observed"
    assert bays[zid("b1")]["p_free_source"] == "simulated"
    assert bays[zid("b2")]["p_free_source"] is None  # no probability: no source
