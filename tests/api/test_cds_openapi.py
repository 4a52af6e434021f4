"""Every CDS answer validates against the OMF's OpenAPI (CDS 1.0 and 1.1), on both databases.

Realistic data: camera-observed sessions and events, simulated sessions, a camera
offline for two hours, a periodic (Mo-Sa 07-20) bay with a derived footprint, and a
session on the spring DST day (29 March 2026 in Paris: a 23-hour day).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import uuid
from typing import Any

import pytest

from occupancy.domain.geojson import is_ccw
from occupancy.domain.records import stable_id
from tests.api import cds_openapi
from tests.api.conftest import BAYS, T0, Api, event, session, square, zid, zone_rows

pytestmark = pytest.mark.skipif(
    not cds_openapi.available(), reason="../shared/standards (the OMF OpenAPI files) is absent"
)

VERSIONS = ("1.0", "1.1")
H = 3_600_000
DST_DAY = 1_774_738_800_000  # 2026-03-29 00:00 Europe/Paris (UTC+1), clocks go forward at 02:00
PERIODIC = "b6"


def _json(v: str) -> str:
    return f"application/vnd.cds+json;version={v}"


def _csv(v: str) -> str:
    return f"application/vnd.cds+csv;version={v}"


def seed(api: Api) -> None:
    """Observed, simulated, offline and DST data, and a periodic bay with a derived footprint."""
    periodic = dataclasses.replace(
        zone_rows()[0],
        curb_zone_id=zid(PERIODIC),
        name="bay b6 (periodic)",
        geometry=square(2.3660, 48.8560),
        lon=2.3660,
        lat=48.8560,
        device_id=None,
        delivery_hours="Mo-Sa 07:00-20:00",
        vehicle_types=("van", "truck", "freight", "cargo_bicycle"),
        attributes={"footprint": "rectangle, east-west (no street to align to)"},
    )
    api.store.upsert_zones([periodic])
    api.state.follower.load_all()
    evs: list[dict[str, Any]] = []
    sess: list[dict[str, Any]] = []
    for n, (name, start) in enumerate([("b1", T0), ("b2", T0 + H), ("b1", T0 + 3 * H)]):
        evs += [
            event("park_start", name, start, n=n),
            event("park_end", name, start + 900_000, n=n),
        ]
        sess.append(session(name, start, start + 900_000, n=n))
    evs += [
        event("comms_lost", None, T0 + 5 * H),
        event("comms_restored", None, T0 + 7 * H),
    ]
    # Simulated sessions on a bay no camera watches.
    for n in range(3):
        s = session("b4", T0 + n * H, T0 + n * H + 1_200_000, n=100 + n, source="simulated")
        sess.append(s)
        for kind, t in (("park_start", s["start_ms"]), ("park_end", s["end_ms"])):
            e = event(kind, "b4", t, device="sim", n=100 + n)
            e["data_source_type"] = "simulated"
            evs.append(e)
    # The DST day.
    evs += [
        event("park_start", "b3", DST_DAY + 3 * H, n=200),
        event("park_end", "b3", DST_DAY + 4 * H, n=200),
    ]
    sess.append(session("b3", DST_DAY + 3 * H, DST_DAY + 4 * H, n=200))
    api.ingest(evs, sess)


@pytest.fixture
def seeded(api: Api) -> Api:
    seed(api)
    return api


def _get(api: Api, path: str, accept: str, **params: Any) -> Any:
    r = api.client.get(path, params=params, headers={**api.auth("read"), "Accept": accept})
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    assert r.headers["content-type"] == accept
    return r


def _check(version: str, api_name: str, path: str, body: Any) -> None:
    errors = cds_openapi.spec(version).errors(api_name, path, body)
    assert not errors, f"{path} ({version}):\n" + "\n".join(errors[:20])
    assert body["version"] == version


@pytest.mark.parametrize("version", VERSIONS)
def test_curbs_answers_validate(seeded: Api, version: str) -> None:
    api, accept = seeded, _json(version)
    zones = _get(api, "/curbs/zones", accept).json()
    _check(version, "Curbs", "/curbs/zones", zones)
    assert len(zones["data"]["zones"]) == len(BAYS) + 1
    z = zones["data"]["zones"][0]
    _check(
        version,
        "Curbs",
        "/curbs/zones/{id}",
        _get(api, f"/curbs/zones/{z['curb_zone_id']}", accept).json(),
    )
    areas = _get(api, "/curbs/areas", accept).json()
    _check(version, "Curbs", "/curbs/areas", areas)
    a = areas["data"]["areas"][0]
    _check(
        version,
        "Curbs",
        "/curbs/areas/{id}",
        _get(api, f"/curbs/areas/{a['curb_area_id']}", accept).json(),
    )
    bare = _get(api, "/curbs/zones", accept, area=a["curb_area_id"], include_geometry="false")
    # include_geometry=false: CDS says leave geometry out, which the schema otherwise requires.
    errors = cds_openapi.spec(version).errors("Curbs", "/curbs/zones", bare.json())
    assert errors and all("'geometry' is a required property" in e for e in errors)
    pols = _get(api, "/curbs/policies", accept).json()
    _check(version, "Curbs", "/curbs/policies", pols)
    p = pols["data"]["policies"][0]
    _check(
        version,
        "Curbs",
        "/curbs/policies/{id}",
        _get(api, f"/curbs/policies/{p['curb_policy_id']}", accept).json(),
    )
    # Every policy a zone names is served.
    served = {p["curb_policy_id"] for p in pols["data"]["policies"]}
    assert {i for z in zones["data"]["zones"] for i in z["curb_policy_ids"]} <= served
    # Spaces are not offered: 501.
    assert api.client.get("/curbs/spaces", headers={"Accept": accept}).status_code == 501
    if version == "1.1":
        objs = _get(api, "/curbs/objects", accept).json()
        _check(version, "Curbs", "/curbs/objects", objs)
        assert [o["name"] for o in objs["data"]["objects"]] == ["cam-1"]
        o = objs["data"]["objects"][0]
        one = _get(api, f"/curbs/objects/{o['curb_object_id']}", accept).json()
        _check(version, "Curbs", "/curbs/objects/{id}", one)
    else:
        assert api.client.get("/curbs/objects", headers={"Accept": accept}).status_code == 406


@pytest.mark.parametrize("version", VERSIONS)
def test_events_answers_validate(seeded: Api, version: str) -> None:
    api, accept = seeded, _json(version)
    window = {"start_time": T0 - H, "end_time": T0 + 24 * H}
    body = _get(api, "/events/events", accept, **window).json()
    _check(version, "Events", "/events/events", body)
    evs = body["data"]["events"]
    assert len(evs) == 6 + 2 + 6
    sim = [e for e in evs if e.get("data_source_operator_name") == "baywatch simulation"]
    assert len(sim) == 6 and {e["data_source_type"] for e in sim} == {"other"}
    assert all(e["custom_attributes"]["simulated"] == "true" for e in sim)
    cam = [e for e in evs if e["data_source_type"] == "camera"]
    assert len(cam) == 8 and {e["data_source_device_name"] for e in cam} == {"cam-1"}
    parks = [e for e in cam if e["event_type"] == "park_start"]
    assert all(e["vehicle_length"] == 540 for e in parks)
    loc = parks[0]["event_location"]
    assert loc["type"] == "Feature" and loc["properties"]["timestamp"] == parks[0]["event_time"]
    # Pagination: pages of 5 with JSON:API links, newest first, nothing lost or repeated.
    seen: list[str] = []
    page = api.client.get(
        "/events/events",
        params={**window, "limit": 5},
        headers={**api.auth("read"), "Accept": accept},
    ).json()
    while True:
        _check(version, "Events", "/events/events", page)
        seen += [e["event_id"] for e in page["data"]["events"]]
        nxt = page["links"]["next"]
        if nxt is None:
            break
        page = api.client.get(nxt, headers={**api.auth("read"), "Accept": accept}).json()
    assert seen == [e["event_id"] for e in evs]
    status = _get(api, "/events/status", accept).json()
    _check(version, "Events", "/events/status", status)
    assert len(status["data"]["status"]) == 2  # cam-1 and the simulator


@pytest.mark.parametrize("version", VERSIONS)
def test_metrics_answers_validate(seeded: Api, version: str) -> None:
    api, accept = seeded, _csv(version)
    spec = cds_openapi.spec(version)
    for source in ("observed", "simulated"):
        text = _get(
            api,
            "/metrics/sessions",
            accept,
            start_time=T0 - H,
            end_time=T0 + 24 * H,
            data_source=source,
        ).text
        errors = spec.csv_errors("session.yaml", text)
        assert not errors, "\n".join(errors[:20])
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == 3
        assert {r["simulated"] for r in rows} == {"true" if source == "simulated" else "false"}
    for start in (T0 - 9 * H, DST_DAY):
        text = _get(
            api, "/metrics/aggregates", accept, start_time=start, end_time=start + 23 * H
        ).text
        errors = spec.csv_errors("aggregate.yaml", text)
        assert not errors, "\n".join(errors[:20])
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows and all(r["value"] != "" for r in rows)
    # The DST day has 23 local hours, 02:00 missing.
    text = _get(
        api,
        "/metrics/aggregates",
        accept,
        start_time=DST_DAY,
        end_time=DST_DAY + 23 * H,
        curb_place_type="zone",
        curb_place_id=zid("b3"),
        metric_type="total_sessions",
    ).text
    hours = [int(r["hour"]) for r in csv.DictReader(io.StringIO(text))]
    assert sorted(hours) == [h for h in range(24) if h != 2]


def test_ids_are_uuids_and_stable_across_restarts(seeded: Api, tmp_path: Any) -> None:
    api = seeded
    a = _get(api, "/curbs/zones", _json("1.1")).json()["data"]["zones"]
    api.store.upsert_zones(zone_rows())  # a re-import
    api.state.follower.load_all()
    b = _get(api, "/curbs/zones", _json("1.1")).json()["data"]["zones"]
    for za, zb in zip(a, b, strict=True):
        assert za["curb_zone_id"] == zb["curb_zone_id"]
        assert za["start_date"] == zb["start_date"]
        assert za["curb_policy_ids"] == zb["curb_policy_ids"]
        uuid.UUID(za["curb_zone_id"])
        name = za["name"].split()[1]
        for aid in za.get("curb_area_ids", []):
            assert aid == stable_id("cds-area", BAYS[name][3] if name in BAYS else "a-north")


def test_periodic_bay_policies_and_derived_geometry(seeded: Api) -> None:
    api = seeded
    zone = _get(api, f"/curbs/zones/{zid(PERIODIC)}", _json("1.1")).json()["data"]
    assert zone["custom_attributes"]["geometry_source"] == "derived"
    ring = zone["geometry"]["coordinates"][0]
    assert is_ccw(ring)
    assert all(len(str(c).split(".")[-1]) <= 7 for pt in ring for c in pt)
    pols = _get(api, "/curbs/policies", _json("1.1"), ids=",".join(zone["curb_policy_ids"])).json()
    by_prio = {p["priority"]: p for p in pols["data"]["policies"]}
    assert sorted(by_prio) == [1, 2, 3]
    span = {
        "days_of_week": ["mon", "tue", "wed", "thu", "fri", "sat"],
        "time_of_day_start": "07:00",
        "time_of_day_end": "20:00",
    }
    assert by_prio[1]["time_spans"] == [span] and by_prio[2]["time_spans"] == [span]
    assert "time_spans" not in by_prio[3]  # open to all at other times
    rules = by_prio[1]["rules"]
    assert {tuple(r["user_classes"]) for r in rules} == {("van",), ("truck",), ("cargo_bicycle",)}
    assert all(r["purposes"] == ["delivery"] for r in rules)
    assert by_prio[2]["rules"] == [{"activity": "no parking"}]
    # 1.0 has no purposes: delivery is a user class there.
    p10 = _get(api, f"/curbs/policies/{by_prio[1]['curb_policy_id']}", _json("1.0")).json()["data"]
    assert {tuple(r["user_classes"]) for r in p10["rules"]} == {
        ("delivery", "van"),
        ("delivery", "truck"),
        ("delivery", "cargo_bicycle"),
    }


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/vnd.cds+json;version=1.0", "1.0"),
        ("application/vnd.cds+json;version=1.0.1", "1.0"),
        ("application/vnd.cds+json;version=1.1", "1.1"),
        ("application/vnd.cds+json", "1.1"),
        ("*/*", "1.1"),
        (None, "1.1"),
        ("application/vnd.cds+json;version=1.2", None),
        ("application/json", None),
    ],
)
def test_version_negotiation(api: Api, accept: str | None, expected: str | None) -> None:
    headers = {} if accept is None else {"Accept": accept}
    r = api.client.get("/curbs/zones", headers=headers)
    if expected is None:
        assert r.status_code == 406
    else:
        assert r.status_code == 200
        assert r.json()["version"] == expected
        assert r.headers["content-type"] == f"application/vnd.cds+json;version={expected}"


def test_push_events_is_a_second_idempotent_ingest_path(api: Api) -> None:
    zone = _get(api, "/curbs/zones", _json("1.1")).json()["data"]["zones"][0]
    dev = str(uuid.uuid4())
    pushed = {
        "event_id": str(uuid.uuid4()),
        "event_type": "park_start",
        "event_time": T0,
        "event_publication_time": T0,
        "data_source_type": "above_ground",
        "data_source_device_id": dev,
        "curb_zone_id": zone["curb_zone_id"],
        "event_location": {
            "type": "Feature",
            "properties": {"timestamp": T0},
            "geometry": {"type": "Point", "coordinates": [2.3655, 48.8557]},
        },
        "vehicle_type": "van",
        "vehicle_length": 600,
    }
    bad = {**pushed, "event_id": "not-a-uuid"}
    assert cds_openapi.spec("1.1").model_errors("curb_event.yaml", pushed) == []
    h = {**api.auth("ingest"), "Content-Type": "application/json"}
    assert api.client.post("/events/events", json=[pushed]).status_code == 401
    assert (
        api.client.post("/events/events", json=[pushed], headers=api.auth("read")).status_code
        == 403
    )
    r = api.client.post("/events/events", json=[pushed, bad], headers=h)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["success"] == 1 and out["total"] == 2 and len(out["failures"]) == 1
    assert "event_id" in out["failures"][0]["error_description"]
    again = api.client.post("/events/event", json=[pushed], headers=h)
    assert again.status_code == 200 and again.json()["success"] == 1  # stored once
    evs = _get(api, "/events/events", _json("1.1"), start_time=T0 - H, end_time=T0 + H).json()
    assert [e["event_id"] for e in evs["data"]["events"]] == [pushed["event_id"]]
    assert evs["data"]["events"][0]["curb_zone_id"] == zone["curb_zone_id"]
    assert api.state.live.state(zone["curb_zone_id"]).state.value == "occupied"
    big = api.client.post(
        "/events/events", content=b"[" + b" " * (5 * 1024 * 1024) + b"]", headers=h
    )
    assert big.status_code == 413
