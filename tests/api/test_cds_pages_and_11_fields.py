"""CDS 1.1 fields (``geometry_line``, ``vehicle_type_confidence``) and JSON:API
pagination of the Curbs and Events lists, on SQLite and PostgreSQL.

Pagination: CDS general-information.md "Pagination" (``first``/``last``/``prev``/
``next``, ``next`` null on the last page). Field types: the OMF OpenAPI 1.1
(``geoJSON_linestring.yaml``; curb_event.yaml ``vehicle_type_confidence``: integer
1-100).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
import shapely
from shapely.geometry import shape

from api.curbs_model import LINE_METHOD, kerb_line
from occupancy.domain.records import stable_id
from tests.api import cds_openapi
from tests.api.conftest import BAYS, T0, Api, event, zid, zone_rows

H = 3_600_000


def _accept(v: str) -> dict[str, str]:
    return {"Accept": f"application/vnd.cds+json;version={v}"}


def _rotated_rect(lon: float, lat: float, length_m: float, width_m: float, deg: float) -> Any:
    """A rectangle of length x width metres, long axis ``deg`` from east (counter-clockwise)."""
    k = math.cos(math.radians(lat))
    m_lat = 1 / 110_540.0
    m_lon = 1 / (111_320.0 * k)
    a = math.radians(deg)
    ux, uy = math.cos(a), math.sin(a)
    vx, vy = -uy, ux
    pts = []
    for s, t in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        x = s * length_m / 2 * ux + t * width_m / 2 * vx
        y = s * length_m / 2 * uy + t * width_m / 2 * vy
        pts.append([lon + x * m_lon, lat + y * m_lat])
    return {"type": "Polygon", "coordinates": [[*pts, pts[0]]]}


def _metres(line: Any) -> tuple[float, float]:
    """Length (m) and bearing (degrees from east, in [0, 180)) of a 2-point lon/lat line."""
    (x0, y0), (x1, y1) = line.coords[0], line.coords[-1]
    k = math.cos(math.radians((y0 + y1) / 2))
    dx, dy = (x1 - x0) * 111_320.0 * k, (y1 - y0) * 110_540.0
    return math.hypot(dx, dy), math.degrees(math.atan2(dy, dx)) % 180.0


@pytest.mark.parametrize("deg", [0.0, 30.0, 90.0, 137.0])
def test_kerb_line_runs_the_long_axis(deg: float) -> None:
    rect = _rotated_rect(2.3655, 48.8557, 10.0, 2.0, deg)
    line = kerb_line(rect)
    assert line is not None and len(line.coords) == 2
    length, bearing = _metres(line)
    assert length == pytest.approx(10.0, abs=0.02)  # 2 cm
    assert min(abs(bearing - deg % 180), 180 - abs(bearing - deg % 180)) < 0.2
    mid = line.interpolate(0.5, normalized=True)
    c = shape(rect).centroid
    assert math.hypot((mid.x - c.x) * 73_300, (mid.y - c.y) * 110_540) < 0.01  # 1 cm
    assert kerb_line({"type": "Polygon", "coordinates": [[[2.0, 48.0]] * 4]}) is None


@cds_openapi.needs_standards
def test_geometry_line_in_11_only_validated_and_marked_derived(api: Api) -> None:
    rect = _rotated_rect(2.3655, 48.8557, 10.0, 2.0, 30.0)
    api.store.upsert_zones([dataclasses.replace(zone_rows()[0], geometry=rect)])
    api.state.follower.load_all()
    z11 = api.client.get(f"/curbs/zones/{zid('b1')}", headers=_accept("1.1")).json()
    line = z11["data"]["geometry_line"]
    assert line["type"] == "LineString"
    assert cds_openapi.spec("1.1").model_errors("geoJSON_linestring.yaml", line, "Curbs") == []
    assert cds_openapi.spec("1.1").errors("Curbs", "/curbs/zones/{id}", z11) == []
    length, bearing = _metres(shapely.LineString(line["coordinates"]))
    assert length == pytest.approx(10.0, abs=0.05) and bearing == pytest.approx(30.0, abs=0.3)
    attrs = z11["data"]["custom_attributes"]
    assert attrs["geometry_line_source"] == "derived"
    assert attrs["geometry_line_method"] == LINE_METHOD
    # Every zone of the list has one; include_geometry=false leaves both geometries out.
    zones = api.client.get("/curbs/zones", headers=_accept("1.1")).json()["data"]["zones"]
    assert all(z["geometry_line"]["type"] == "LineString" for z in zones)
    bare = api.client.get(
        "/curbs/zones", params={"include_geometry": "false"}, headers=_accept("1.1")
    ).json()["data"]["zones"]
    assert all("geometry_line" not in z and "geometry" not in z for z in bare)
    # CDS 1.0 has no geometry_line.
    z10 = api.client.get(f"/curbs/zones/{zid('b1')}", headers=_accept("1.0")).json()["data"]
    assert "geometry_line" not in z10
    assert "geometry_line_source" not in z10.get("custom_attributes", {})


@cds_openapi.needs_standards
def test_vehicle_type_confidence_stored_and_served_in_11(api: Api) -> None:
    e = event("park_start", "b1", T0, n=1)
    e["vehicle_type_confidence"] = 87
    plain = event("park_start", "b2", T0 + 1000, n=2)  # a source that measured none
    api.ingest([e, plain])
    window = {"start_time": T0 - H, "end_time": T0 + H}
    got = {}
    for v in ("1.0", "1.1"):
        r = api.client.get(
            "/events/events", params=window, headers={**api.auth("read"), **_accept(v)}
        )
        body = r.json()
        assert cds_openapi.spec(v).errors("Events", "/events/events", body) == []
        got[v] = {x["curb_zone_id"]: x for x in body["data"]["events"]}
    ids = {x["curb_zone_id"] for x in got["1.1"].values()}
    b1 = next(z for z in ids if got["1.1"][z].get("vehicle_type_confidence") is not None)
    assert got["1.1"][b1]["vehicle_type_confidence"] == 87
    assert sum("vehicle_type_confidence" in x for x in got["1.1"].values()) == 1
    assert all("vehicle_type_confidence" not in x for x in got["1.0"].values())
    # Out of the CDS range: the whole batch is refused, naming the field.
    bad = event("park_start", "b3", T0 + 2000, n=3)
    bad["vehicle_type_confidence"] = 101
    r = api.client.post(
        "/ingest/batch", json={"events": [bad], "sessions": []}, headers=api.auth("ingest")
    )
    assert r.status_code == 400 and "vehicle_type_confidence" in r.text


@cds_openapi.needs_standards
def test_pushed_vehicle_type_confidence_is_kept(api: Api) -> None:
    zone = api.client.get("/curbs/zones", headers=_accept("1.1")).json()["data"]["zones"][0]
    pushed = {
        "event_id": stable_id("pushed", "conf"),
        "event_type": "park_start",
        "event_time": T0,
        "event_publication_time": T0,
        "data_source_type": "camera",
        "data_source_device_id": stable_id("pushed-device", "x"),
        "curb_zone_id": zone["curb_zone_id"],
        "vehicle_type": "van",
        "vehicle_type_confidence": 42,
    }
    assert cds_openapi.spec("1.1").model_errors("curb_event.yaml", pushed) == []
    h = {**api.auth("ingest"), "Content-Type": "application/json"}
    assert api.client.post("/events/events", json=[pushed], headers=h).status_code == 201
    out = api.client.get(
        "/events/events",
        params={"start_time": T0 - H, "end_time": T0 + H},
        headers={**api.auth("read"), **_accept("1.1")},
    ).json()["data"]["events"]
    assert [e["vehicle_type_confidence"] for e in out] == [42]


def _walk(api: Api, path: str, key: str, headers: dict[str, str], **params: Any) -> list[Any]:
    """Follow ``next`` from the first page; check each page's links and schema."""
    version = headers["Accept"].rsplit("=", 1)[1]
    api_name = "Curbs" if path.startswith("/curbs") else "Events"
    r = api.client.get(path, params=params, headers=headers)
    assert r.status_code == 200, r.text
    page = r.json()
    first = page["links"]["first"]
    seen: list[Any] = []
    n = 0
    while True:
        assert cds_openapi.spec(version).errors(api_name, path, page) == []
        assert set(page["links"]) == {"first", "last", "prev", "next"}
        assert page["links"]["first"] == first
        assert (page["links"]["prev"] is None) == (n == 0)
        seen += page["data"][key]
        n += 1
        nxt = page["links"]["next"]
        if nxt is None:
            # The last page is the one "last" names.
            assert api.client.get(page["links"]["last"], headers=headers).json() == page
            break
        page = api.client.get(nxt, headers=headers).json()
    return seen


@cds_openapi.needs_standards
@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_zones_areas_policies_paginated_with_links(api: Api, version: str) -> None:
    h = _accept(version)
    everything = api.client.get("/curbs/zones", headers=h).json()
    assert everything["links"]["next"] is None and everything["links"]["prev"] is None
    all_ids = [z["curb_zone_id"] for z in everything["data"]["zones"]]
    assert len(all_ids) == len(BAYS)
    paged = _walk(api, "/curbs/zones", "zones", h, limit=2)
    assert [z["curb_zone_id"] for z in paged] == all_ids  # same order, nothing lost or repeated
    areas = _walk(api, "/curbs/areas", "areas", h, limit=1)
    assert len({a["curb_area_id"] for a in areas}) == 2
    pols = api.client.get("/curbs/policies", headers=h).json()["data"]["policies"]
    assert len(_walk(api, "/curbs/policies", "policies", h, limit=1)) == len(pols)


def test_page_size_over_the_limit_is_a_400_naming_it(api: Api) -> None:
    for path, headers in (
        ("/curbs/zones", {}),
        ("/curbs/areas", {}),
        ("/curbs/objects", {}),
        ("/curbs/policies", {}),
        ("/events/events", api.auth("read")),
        ("/events/status", api.auth("read")),
    ):
        r = api.client.get(path, params={"limit": 10_001}, headers=headers)
        assert r.status_code == 400, (path, r.status_code)
        assert "limit" in r.text and "10000" in r.text, (path, r.text)


@cds_openapi.needs_standards
def test_events_pages_have_a_last_link(api: Api) -> None:
    evs = [event("park_start", name, T0 + i * 1000, n=i) for i, name in enumerate(["b1"] * 7)]
    api.ingest(evs)
    h = {**api.auth("read"), **_accept("1.1")}
    seen = _walk(api, "/events/events", "events", h, start_time=T0 - H, end_time=T0 + H, limit=3)
    assert len(seen) == 7 and len({e["event_id"] for e in seen}) == 7
    times = [e["event_time"] for e in seen]
    assert times == sorted(times, reverse=True)  # newest first across pages
    status = _walk(api, "/events/status", "status", h, limit=1)
    assert len(status) == 1
