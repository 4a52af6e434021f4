"""CDS Events API (events by window, status) and Metrics API sessions CSV."""

from __future__ import annotations

import csv
import io

from occupancy.domain.records import stable_id
from tests.api.conftest import (
    CDS_CSV,
    CDS_JSON,
    T0,
    Api,
    assert_cds_envelope,
    assert_cds_event,
    event,
    session,
    zid,
)

MIN = 60_000


def seed(api: Api) -> None:
    api.ingest(
        [
            event("park_start", "b1", T0),
            event("park_end", "b1", T0 + 10 * MIN),
            event("park_start", "b2", T0 + 5 * MIN),
            event("comms_lost", None, T0 + 20 * MIN),
        ],
        [session("b1", T0, T0 + 10 * MIN), session("b2", T0 + 5 * MIN, T0 + 50 * MIN)],
    )


def test_events_window_newest_first(api: Api) -> None:
    seed(api)
    h = api.auth("read")
    r = api.client.get(
        "/events/events", params={"start_time": T0, "end_time": T0 + 10 * MIN}, headers=h
    )
    assert r.status_code == 200 and r.headers["content-type"] == CDS_JSON
    body = r.json()
    assert_cds_envelope(body)
    evs = body["data"]["events"]
    for e in evs:
        assert_cds_event(e)
    # [T0, T0+10min): the park_end at exactly T0+10min is excluded (end is exclusive)
    assert [(e["event_type"], e["event_time"]) for e in evs] == [
        ("park_start", T0 + 5 * MIN),
        ("park_start", T0),
    ]
    first = evs[1]
    assert first["curb_zone_id"] == zid("b1")
    assert first["curb_area_ids"] == [stable_id("cds-area", "a-north")]
    assert first["vehicle_length"] == 540 and first["vehicle_type"] == "van"
    assert first["event_location"]["geometry"]["coordinates"] == [2.3655, 48.8557]
    assert first["event_location"]["properties"]["timestamp"] == T0
    assert first["data_source_device_name"] == "cam-1"
    assert first["data_source_device_id"] == stable_id("cds-device", "cam-1")
    r = api.client.get(
        "/events/events",
        params={"start_time": T0, "end_time": T0 + 60 * MIN, "curb_zone_id": zid("b1")},
        headers=h,
    )
    assert [e["event_type"] for e in r.json()["data"]["events"]] == ["park_end", "park_start"]
    r = api.client.get(
        "/events/events",
        params={"start_time": T0, "end_time": T0 + 60 * MIN, "curb_area_id": "a-south"},
        headers=h,
    )
    assert r.json()["data"]["events"] == []


def test_events_errors(api: Api) -> None:
    h = api.auth("read")
    c = api.client
    assert (
        c.get("/events/events", params={"start_time": T0, "end_time": T0}, headers=h).status_code
        == 400
    )
    r = c.get(
        "/events/events", params={"start_time": T0, "end_time": T0 + 40 * 86_400_000}, headers=h
    )
    assert r.status_code == 400 and "31 days" in r.json()["error_description"]
    assert c.get("/events/events", params={"curb_zone_id": "nope"}, headers=h).status_code == 404
    assert c.get("/events/events", params={"curb_area_id": "nope"}, headers=h).status_code == 404
    assert c.get("/events/events", headers={**h, "Accept": "text/csv"}).status_code == 406


def test_status_reports_offline_camera(api: Api) -> None:
    seed(api)
    h = api.auth("read")
    body = api.client.get("/events/status", headers=h).json()
    assert_cds_envelope(body)
    assert body["data"]["status"] == [
        {
            "data_source_device_id": stable_id("cds-device", "cam-1"),
            "data_source_type": "camera",
            "sensor_status_is_commissioned": True,
            "sensor_status_is_online": False,
        }
    ]
    api.ingest([event("comms_restored", None, T0 + 30 * MIN)])
    st = api.client.get("/events/status", params={"curb_zone_id": zid("b2")}, headers=h).json()
    assert st["data"]["status"][0]["sensor_status_is_online"] is True
    st = api.client.get("/events/status", params={"curb_area_id": "a-south"}, headers=h).json()
    assert st["data"]["status"] == []


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_metrics_sessions_csv(api: Api) -> None:
    seed(api)
    h = {**api.auth("read"), "Accept": CDS_CSV}
    r = api.client.get("/metrics/sessions", headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == CDS_CSV
    rows = read_csv(r.text)
    assert len(rows) == 2
    # CDS Metrics "Session" columns, in order, then baywatch's simulated flag.
    assert r.text.splitlines()[0].split(",") == [
        "session_type", "event_session_id", "event_id_start", "event_id_end",
        "event_location_start_latitude", "event_location_start_longitude",
        "event_location_end_latitude", "event_location_end_longitude",
        "event_time_start", "event_time_end", "curb_zone_id", "curb_area_ids",
        "curb_space_id", "vehicle_length", "vehicle_type", "simulated",
    ]  # fmt: skip
    b1 = rows[0]
    assert b1["session_type"] == "parking"
    assert b1["curb_zone_id"] == zid("b1")
    assert b1["curb_area_ids"] == stable_id("cds-area", "a-north")
    assert int(b1["event_time_start"]) == T0 and int(b1["event_time_end"]) == T0 + 10 * MIN
    assert b1["event_id_start"] == event("park_start", "b1", T0)["event_id"]
    assert b1["event_id_end"] == event("park_end", "b1", T0 + 10 * MIN)["event_id"]
    assert b1["vehicle_length"] == "540" and b1["vehicle_type"] == "van"
    assert rows[1]["event_id_end"] == ""  # b2's park_end was never seen
    r = api.client.get(
        "/metrics/sessions",
        params={"start_time": T0 + 20 * MIN, "end_time": T0 + 60 * MIN},
        headers=h,
    )
    assert [row["curb_zone_id"] for row in read_csv(r.text)] == [zid("b2")]
    r = api.client.get(
        "/metrics/sessions",
        params={"curb_place_type": "zone", "curb_place_id": zid("b1")},
        headers=h,
    )
    assert [row["curb_zone_id"] for row in read_csv(r.text)] == [zid("b1")]
    r = api.client.get(
        "/metrics/sessions", params={"lat": 48.8556, "lng": 2.3655, "radius": 2000}, headers=h
    )
    assert [row["curb_zone_id"] for row in read_csv(r.text)] == [zid("b1")]


def test_metrics_sessions_size_bound(api: Api) -> None:
    seed(api)
    h = api.auth("read")
    r = api.client.get("/metrics/sessions", params={"max_rows": 1}, headers=h)
    assert r.status_code == 400
    assert (
        r.json()["error_description"]
        == "2 sessions match, more than max_rows=1: narrow the time window or the area"
    )
    assert api.client.get("/metrics/sessions", params={"max_rows": 2}, headers=h).status_code == 200


def test_metrics_errors(api: Api) -> None:
    h = api.auth("read")
    c = api.client
    assert c.get("/metrics/sessions", headers={**h, "Accept": CDS_JSON}).status_code == 406
    r = c.get("/metrics/sessions", params={"curb_place_type": "zone"}, headers=h)
    assert r.status_code == 400
    assert (
        r.json()["error_description"] == "curb_place_type and curb_place_id must be given together"
    )
    r = c.get(
        "/metrics/sessions", params={"curb_place_type": "space", "curb_place_id": "x"}, headers=h
    )
    assert r.status_code == 404
    r = c.get(
        "/metrics/sessions", params={"curb_place_type": "area", "curb_place_id": "x"}, headers=h
    )
    assert r.status_code == 404
    r = c.get("/metrics/aggregates", params={"metric_type": "vibes"}, headers=h)
    assert r.status_code == 400
    r = c.get(
        "/metrics/aggregates", params={"start_time": 0, "end_time": 40 * 86_400_000}, headers=h
    )
    assert r.status_code == 400
