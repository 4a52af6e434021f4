"""Endpoints backed by occupancy.statistics.hourly, on hand-made sessions with known figures.

T0 is Monday 09:00 in Paris. b1 is occupied 09:00-09:30 (50 % of hour 9); b2
09:15-10:15 (75 % of hour 9, 25 % of hour 10). Camera cam-1 (b1..b3) is offline
10:00-10:40, the majority of hour 10, so hour 10 reads -1 for its bays.
"""

from __future__ import annotations

import csv
import io

import pytest

from occupancy.config.settings import OSM_TILE_URL
from occupancy.domain.records import stable_id
from tests.api.conftest import CDS_CSV, T0, Api, event, session, zid

MIN = 60_000


@pytest.fixture
def seeded(api: Api) -> Api:
    api.ingest(
        [
            event("park_start", "b1", T0),
            event("park_end", "b1", T0 + 30 * MIN),
            event("comms_lost", None, T0 + 60 * MIN),
            event("comms_restored", None, T0 + 100 * MIN),
        ],
        [session("b1", T0, T0 + 30 * MIN), session("b2", T0 + 15 * MIN, T0 + 75 * MIN)],
    )
    api.state.profiles.refresh(T0 + 200 * MIN)
    return api


def rows(api: Api, **params: object) -> list[dict[str, str]]:
    h = {**api.auth("read"), "Accept": CDS_CSV}
    r = api.client.get("/metrics/aggregates", params=params, headers=h)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == CDS_CSV
    return list(csv.DictReader(io.StringIO(r.text)))


def test_zone_aggregates(seeded: Api) -> None:
    out = rows(seeded, start_time=T0, end_time=T0 + 120 * MIN)
    # zones x hours x CDS metrics, less the mean dwell of hours without a session (no value:
    # no row, CDS values are never empty)
    assert all(r["value"] != "" for r in out)
    dwell = [r for r in out if r["metric_type"] == "average_dwell_time"]
    assert len(out) == 5 * 2 * 3 + len(dwell)
    assert list(out[0]) == [
        "curb_place_type",
        "curb_place_id",
        "metric_type",
        "date",
        "hour",
        "value",
    ]
    got = {(r["curb_place_id"], r["metric_type"], r["hour"]): r["value"] for r in out}
    assert got[(zid("b1"), "total_sessions", "9")] == "1.0"
    assert got[(zid("b1"), "average_dwell_time", "9")] == "30.0"
    assert got[(zid("b1"), "occupancy_percent", "9")] == "50.0"
    assert got[(zid("b2"), "occupancy_percent", "9")] == "75.0"
    assert got[(zid("b1"), "occupancy_percent", "10")] == "-1.0"  # camera offline
    assert got[(zid("b4"), "occupancy_percent", "10")] == "-1.0"  # no camera: never observed
    assert got[(zid("b4"), "average_dwell_time", "9")] == "-1.0"  # never observed
    assert (zid("b3"), "average_dwell_time", "9") not in got  # observed, no session: no row
    assert {r["date"] for r in out} == {"2026-01-05"}


def test_filtered_and_area_aggregates(seeded: Api) -> None:
    out = rows(
        seeded,
        start_time=T0,
        end_time=T0 + 60 * MIN,
        metric_type="occupancy_percent",
        curb_place_type="zone",
        curb_place_id=zid("b2"),
    )
    assert [(r["curb_place_id"], r["hour"], r["value"]) for r in out] == [(zid("b2"), "9", "75.0")]
    out = rows(
        seeded,
        start_time=T0,
        end_time=T0 + 60 * MIN,
        curb_place_type="area",
        curb_place_id=stable_id("cds-area", "a-north"),
    )
    got = {r["metric_type"]: r for r in out}
    assert got["total_sessions"]["value"] == "2.0"  # b1 + b2 arrived in hour 9
    assert float(got["occupancy_percent"]["value"]) == pytest.approx((50 + 75 + 0) / 3)
    assert {r["curb_place_type"] for r in out} == {"area"}


def test_weekly_profile_feeds_availability_and_map(seeded: Api) -> None:
    api = seeded
    prof = api.state.profiles
    assert prof.p_free_at(zid("b1"), T0 + 5 * MIN) == 0.5
    assert prof.p_free_at(zid("b2"), T0 + 5 * MIN) == 0.25
    assert prof.p_free_at(zid("b2"), T0 + 65 * MIN) is None  # hour 10 was offline
    r = api.client.get(
        "/availability/free", params={"lat": 48.8556, "lon": 2.3655, "arrival_ms": T0 + 5 * MIN}
    )
    b1 = r.json()["bays"][0]
    assert b1["curb_zone_id"] == zid("b1") and b1["p_free_at_arrival"] == 0.5

    fc = api.client.get("/map/bays", params={"stat": "occupancy", "hour": 9, "weekday": 0}).json()
    vals = {f["properties"]["curb_zone_id"]: f["properties"]["value"] for f in fc["features"]}
    assert vals[zid("b1")] == 0.5 and vals[zid("b2")] == 0.75 and vals[zid("b3")] == 0.0
    srcs = {
        f["properties"]["curb_zone_id"]: f["properties"]["stats_source"] for f in fc["features"]
    }
    # b3: watched by cam-1, no vehicle (a true 0); b4: no camera, no observed statistics.
    assert srcs[zid("b1")] == "camera" and srcs[zid("b3")] == "camera"
    assert srcs[zid("b4")] is None and vals[zid("b4")] is None

    fc = api.client.get(
        "/map/bays",
        params={"stat": "occupancy_percent", "start_ms": T0, "end_ms": T0 + 120 * MIN},
    ).json()
    vals = {f["properties"]["curb_zone_id"]: f["properties"]["value"] for f in fc["features"]}
    assert vals[zid("b1")] == 50.0  # hour 10 (offline, -1) is left out of the mean
    assert vals[zid("b4")] is None  # no camera: never observed, not 0 %

    bay = api.client.get(f"/map/bays/{zid('b2')}").json()
    assert bay["weekly_occupancy"][0][9] == 0.75
    assert bay["hourly_occupancy"][9] == 0.75
    assert bay["hourly_occupancy"][3] is None
    assert [s["dwell_s"] for s in bay["recent_sessions"]] == [3600.0]


def test_map_areas_and_h3(seeded: Api) -> None:
    api = seeded
    api.ingest([event("park_start", "b1", T0 + 150 * MIN, n=5)])
    fc = api.client.get("/map/areas", params={"hour": 9, "weekday": 0}).json()
    north = next(f for f in fc["features"] if f["properties"]["curb_area_id"] == "a-north")
    p = north["properties"]
    assert (p["bays"], p["occupied"], p["free"], p["unknown"]) == (3, 1, 0, 2)
    assert p["occupancy"] == pytest.approx((0.5 + 0.75 + 0.0) / 3, abs=1e-4)
    assert north["geometry"]["type"] == "Polygon"
    hexes = api.client.get("/map/h3", params={"resolution": 9}).json()["features"]
    assert sum(f["properties"]["bays"] for f in hexes) == 5
    assert all(len(f["geometry"]["coordinates"][0]) == 7 for f in hexes)
    one = api.client.get("/map/h3", params={"resolution": 12, "area": "a-south"}).json()
    assert sum(f["properties"]["bays"] for f in one["features"]) == 2


def test_map_errors(api: Api) -> None:
    c = api.client
    r = c.get("/map/bays", params={"stat": "turnover"})
    assert r.status_code == 400
    assert r.json()["error_description"] == "stat=turnover needs a time range: start_ms and end_ms"
    r = c.get("/map/bays", params={"stat": "turnover", "start_ms": T0, "end_ms": T0})
    assert r.status_code == 400
    assert c.get("/map/bays", params={"stat": "median"}).status_code == 400
    assert c.get("/map/bays", params={"hour": 24}).status_code == 400
    assert c.get("/map/bays", params={"area": "atlantis"}).status_code == 404
    assert c.get("/map/h3", params={"resolution": 2}).status_code == 400
    assert c.get("/map/bays/unknown").status_code == 404
    box = {"min_lat": 48.8455, "max_lat": 48.8457, "min_lng": 2.3654, "max_lng": 2.3656}
    fc = c.get("/map/bays", params=box).json()
    assert [f["properties"]["curb_zone_id"] for f in fc["features"]] == [zid("b5")]
    cfg = c.get("/map/config").json()
    assert cfg["tile_url"] == OSM_TILE_URL and cfg["bays"] == 5
    assert cfg["bounds"] == [2.3655, 48.8456, 2.3685, 48.85627]


def test_no_endpoint_serves_images(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    media = {
        m
        for path in spec["paths"].values()
        for op in path.values()
        for resp in op.get("responses", {}).values()
        for m in resp.get("content", {})
    }
    assert not any(m.startswith("image/") for m in media), media
    # Static mounts serve code and styles only, even where a package ships a picture.
    assert api.client.get("/vendor/swagger/favicon-32x32.png").status_code == 404
    assert api.client.get("/web/app.js").status_code == 200
    assert api.client.get("/docs").status_code == 200
    assert "cdn" not in api.client.get("/docs").text.lower()


def test_big_answers_are_compressed(api: Api) -> None:
    small = api.client.get("/map/bays", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers  # five bays: not worth it
    import dataclasses

    from api.live import bays_from_frame

    base = bays_from_frame(api.store.zones_frame())
    many = [
        dataclasses.replace(b, curb_zone_id=f"{b.curb_zone_id}-{k}")
        for k in range(200)
        for b in base
    ]
    api.state.live.set_bays(many)  # 5 + 1,000 bays
    big = api.client.get("/map/bays", headers={"Accept-Encoding": "gzip"})
    assert big.headers["content-encoding"] == "gzip"
    assert len(big.json()["features"]) == 1005


def test_oversized_aggregate_queries_are_refused(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    import api.routes.metrics as metrics

    monkeypatch.setattr(metrics, "MAX_CELLS", 5 * 24 - 1)  # just under 5 zones x 24 hours
    r = api.client.get(
        "/metrics/aggregates",
        params={"start_time": T0, "end_time": T0 + 24 * 3_600_000},
        headers=api.auth("read"),
    )
    assert r.status_code == 400
    assert r.json()["error_description"].startswith("5 zones x 24 hours is too much")
    r = api.client.get(
        "/map/bays", params={"stat": "turnover", "start_ms": T0, "end_ms": T0 + 86_400_000}
    )
    assert r.status_code == 400
    r = api.client.get(
        "/metrics/aggregates",
        params={
            "start_time": T0,
            "end_time": T0 + 24 * 3_600_000,
            "curb_place_type": "zone",
            "curb_place_id": zid("b1"),
        },
        headers=api.auth("read"),
    )
    assert r.status_code == 200
