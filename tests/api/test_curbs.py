"""CDS Curbs API: zones, areas, policies; filters, 404s, 400s and the Accept rule."""

from __future__ import annotations

from occupancy.domain.records import stable_id
from tests.api.conftest import CDS_JSON, ORIGIN, Api, assert_cds_envelope, assert_cds_zone, zid


def test_zones_envelope_shape_and_content_type(api: Api) -> None:
    r = api.client.get("/curbs/zones")
    assert r.status_code == 200
    assert r.headers["content-type"] == CDS_JSON
    body = r.json()
    assert_cds_envelope(body)
    zones = body["data"]["zones"]
    assert len(zones) == 5
    for z in zones:
        assert_cds_zone(z)
    b2 = next(z for z in zones if z["curb_zone_id"] == zid("b2"))
    assert b2["length"] == 1000 and b2["width"] == 200 and b2["num_spaces"] == 1
    assert b2["curb_area_ids"] == [stable_id("cds-area", "a-north")]
    assert "available_space_lengths" not in b2  # unknown state: no availability claimed


def test_zones_radius_in_centimetres_nearest_first(api: Api) -> None:
    lat, lon = ORIGIN
    r = api.client.get("/curbs/zones", params={"lat": lat, "lng": lon, "radius": 8000})
    ids = [z["curb_zone_id"] for z in r.json()["data"]["zones"]]
    assert ids == [zid("b1"), zid("b2"), zid("b3")]  # 80 m: b4 (~220 m) is outside
    r = api.client.get("/curbs/zones", params={"lat": lat, "lng": lon, "radius": 30000})
    assert [z["curb_zone_id"] for z in r.json()["data"]["zones"]] == [
        zid("b1"),
        zid("b2"),
        zid("b3"),
        zid("b4"),
    ]


def test_zones_bbox_area_and_geometry_flag(api: Api) -> None:
    box = {"min_lat": 48.855, "max_lat": 48.857, "min_lng": 2.365, "max_lng": 2.366}
    r = api.client.get("/curbs/zones", params=box)
    assert sorted(z["curb_zone_id"] for z in r.json()["data"]["zones"]) == sorted(
        [zid("b1"), zid("b2"), zid("b3")]
    )
    r = api.client.get("/curbs/zones", params={"area": "a-south", "include_geometry": "false"})
    zones = r.json()["data"]["zones"]
    assert sorted(z["curb_zone_id"] for z in zones) == sorted([zid("b4"), zid("b5")])
    assert all("geometry" not in z for z in zones)


def test_zone_validity_time(api: Api) -> None:
    published = api.client.get(f"/curbs/zones/{zid('b1')}").json()["data"]["published_date"]
    assert (
        api.client.get("/curbs/zones", params={"time": published - 1}).json()["data"]["zones"] == []
    )
    assert (
        api.client.get(f"/curbs/zones/{zid('b1')}", params={"time": published - 1}).status_code
        == 404
    )
    assert (
        api.client.get(f"/curbs/zones/{zid('b1')}", params={"time": published}).status_code == 200
    )


def test_zone_errors(api: Api) -> None:
    c = api.client
    r = c.get("/curbs/zones", params={"lat": 48.85, "lng": 2.35})
    assert r.status_code == 400
    assert (
        r.json()["error_description"] == "a lat/lng/radius query needs all three; missing: radius"
    )
    r = c.get("/curbs/zones", params={"min_lat": 48.85})
    assert r.status_code == 400
    assert "missing: min_lng, max_lat, max_lng" in r.json()["error_description"]
    r = c.get("/curbs/zones", params={"min_lat": 49, "max_lat": 48, "min_lng": 2, "max_lng": 3})
    assert r.status_code == 400
    r = c.get("/curbs/zones", params={"lat": 95, "lng": 2, "radius": 10})
    assert r.status_code == 400
    assert r.json()["error_details"][0].startswith("query.lat:")
    assert c.get("/curbs/zones", params={"area": "nowhere"}).status_code == 404
    r = c.get("/curbs/zones/not-a-zone")
    assert r.status_code == 404
    assert r.json() == {
        "error": "not_found",
        "error_description": "no curb zone with id 'not-a-zone'",
        "error_details": [],
    }


def test_accept_header_rule(api: Api) -> None:
    c = api.client
    for ok in (
        CDS_JSON,
        "application/vnd.cds+json",
        "*/*",
        "application/*",
        "text/html, */*;q=0.1",
    ):
        assert c.get("/curbs/zones", headers={"Accept": ok}).status_code == 200, ok
    for bad in (
        "application/json",
        "text/html",
        "application/vnd.cds+json;version=2.0",
        "application/vnd.cds+json;version=1.0;q=0",
    ):
        r = c.get("/curbs/zones", headers={"Accept": bad})
        assert r.status_code == 406, bad
        assert r.json()["error"] == "not_acceptable"


def test_areas(api: Api) -> None:
    r = api.client.get("/curbs/areas")
    assert r.headers["content-type"] == CDS_JSON
    body = r.json()
    assert_cds_envelope(body)
    north, south = stable_id("cds-area", "a-north"), stable_id("cds-area", "a-south")
    areas = {a["curb_area_id"]: a for a in body["data"]["areas"]}
    assert sorted(areas) == sorted([north, south])
    areas["a-north"] = areas[north]
    assert sorted(areas["a-north"]["curb_zone_ids"]) == sorted([zid("b1"), zid("b2"), zid("b3")])
    assert areas["a-north"]["geometry"]["type"] == "Polygon"
    assert areas["a-north"]["name"] == "A-NORTH"
    lat, lon = ORIGIN
    # 50 m around the origin touches a-north only; a-south's hull (b4..b5) passes ~220 m east.
    near = api.client.get("/curbs/areas", params={"lat": lat, "lng": lon, "radius": 5000})
    assert [a["curb_area_id"] for a in near.json()["data"]["areas"]] == [north]
    box = {"min_lat": 48.845, "max_lat": 48.8462, "min_lng": 2.365, "max_lng": 2.366}
    assert [
        a["curb_area_id"]
        for a in api.client.get("/curbs/areas", params=box).json()["data"]["areas"]
    ] == [south]
    one = api.client.get(f"/curbs/areas/{south}").json()["data"]
    assert one["curb_area_id"] == south
    assert api.client.get("/curbs/areas/a-south").json()["data"]["curb_area_id"] == south
    assert api.client.get("/curbs/areas/none").status_code == 404


def test_policies(api: Api) -> None:
    zones = api.client.get("/curbs/zones").json()["data"]["zones"]
    used = {pid for z in zones for pid in z["curb_policy_ids"]}
    body = api.client.get("/curbs/policies").json()
    assert_cds_envelope(body)
    pols = {p["curb_policy_id"]: p for p in body["data"]["policies"]}
    for p in pols.values():  # CDS Policy: required fields and types
        assert isinstance(p["published_date"], int) and isinstance(p["priority"], int)
        assert p["rules"]
    # Each bay: loading for delivery (priority 1), no parking for others (priority 2).
    # b1 (30 min, any vehicle), b2 (30 min, van/truck), b3 (20 min), b4 (no limit); b5 = b1;
    # the "no parking" policy (no time spans) is one for all.
    assert len(pols) == 5 and set(pols) == used
    by_zone = {z["curb_zone_id"]: z["curb_policy_ids"][0] for z in zones}
    assert by_zone[zid("b1")] == by_zone[zid("b5")]
    assert len({z["curb_policy_ids"][1] for z in zones}) == 1
    rule = pols[by_zone[zid("b3")]]["rules"][0]
    assert rule == {
        "activity": "loading",
        "purposes": ["delivery"],
        "max_stay": 20,
        "max_stay_unit": "minute",
    }
    b2_rules = pols[by_zone[zid("b2")]]["rules"]
    assert [r["user_classes"] for r in b2_rules] == [["van"], ["truck"]]
    assert "max_stay" not in pols[by_zone[zid("b4")]]["rules"][0]
    pid = by_zone[zid("b3")]
    r = api.client.get("/curbs/policies", params={"ids": f"{pid},unknown"})
    assert [p["curb_policy_id"] for p in r.json()["data"]["policies"]] == [pid]
    assert api.client.get(f"/curbs/policies/{pid}").json()["data"]["priority"] == 1
    assert api.client.get("/curbs/policies/unknown").status_code == 404
    assert api.client.get("/curbs/policies", params={"ids": ","}).status_code == 400


def test_zone_availability_follows_events(api: Api) -> None:
    from tests.api.conftest import T0, event

    api.ingest([event("park_start", "b1", T0), event("park_end", "b2", T0 + 5)])
    zones = {z["curb_zone_id"]: z for z in api.client.get("/curbs/zones").json()["data"]["zones"]}
    assert zones[zid("b1")]["available_space_lengths"] == []
    assert zones[zid("b1")]["availability_time"] == T0
    assert zones[zid("b2")]["available_space_lengths"] == [1000]


def test_a_query_parameter_no_endpoint_takes_is_a_400_naming_it(api: Api) -> None:
    """A misspelt filter used to be ignored, so the answer covered everything (a newcomer's
    ``/metrics/aggregates?curb_zone_id=...`` got all 267,004 rows). Every route refuses a
    name it does not take, whether its parameters are its own or a dependency's."""
    for path, params in [
        ("/curbs/zones", {"curb_zone_id": zid("b1")}),
        (
            "/curbs/zones",
            {"min_lat": 48.0, "min_lng": 2.0, "max_lat": 49.0, "max_lng": 3.0, "x": 1},
        ),
        ("/metrics/aggregates", {"curb_zone_id": zid("b1")}),
        ("/availability/free", {"lat": ORIGIN[0], "lon": ORIGIN[1], "foo": "1"}),
        ("/map/bays", {"stats": "occupancy_percent"}),
        ("/health", {"verbose": "1"}),
    ]:
        r = api.client.get(
            path, params=params, headers={"Authorization": f"Bearer {api.tokens['read']}"}
        )
        assert r.status_code == 400, (path, r.status_code, r.text)
        bad = next(k for k in params if k in {"curb_zone_id", "x", "foo", "stats", "verbose"})
        assert repr(bad) in r.text, r.text
    # the declared names, a dependency's included (the bounding box), still pass
    r = api.client.get(
        "/curbs/zones", params={"min_lat": 48.0, "min_lng": 2.0, "max_lat": 49.0, "max_lng": 3.0}
    )
    assert r.status_code == 200, r.text
