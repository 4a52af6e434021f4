"""Map API for planners (basemap, initial view, activity) and camera set-up endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from api.routes import setup as setup_routes
from occupancy.config.site import SourceSpec, load_site
from occupancy.domain.curb_zone import records_from_rows
from occupancy.domain.records import stable_id
from occupancy.inventory.basemap import BasemapError, build_basemap, street_key
from tests.api.conftest import BAYS, Api, make_api, zid
from tests.conftest import FOOTAGE, SAMPLES, SHARED

GEO = SHARED / "geodata"
PBF = GEO / "paris_3e_streets.osm.pbf"
needs_geodata = pytest.mark.skipif(not PBF.exists(), reason="../shared/geodata is missing")
PARIS = ZoneInfo("Europe/Paris")


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=PARIS).timestamp() * 1000)  # type: ignore[misc]


@pytest.fixture
def api(tmp_path: Path, store_url: str) -> Iterator[Api]:
    """The service over SQLite, then PostgreSQL+PostGIS where configured."""
    yield from make_api(tmp_path, db=store_url, data_dir=tmp_path / "data", api_rate_limit_per_s=0)


# -- basemap ---------------------------------------------------------------------------


@needs_geodata
def test_basemap_from_osm_pbf(tmp_path: Path) -> None:
    s = build_basemap(PBF, tmp_path / "bm", areas=GEO / "paris_arrondissements.geojson")
    assert s.counts["streets"] > 1000 and s.counts["areas"] == 20
    w, south, e, n = s.bounds
    assert 2.35 < w < e < 2.39 and 48.85 < south < n < 48.88  # the Marais
    import json

    streets = json.loads((tmp_path / "bm" / "streets.geojson").read_text())["features"]
    classes = {f["properties"]["class"] for f in streets}
    assert {"major", "minor", "pedestrian"} <= classes
    keys = {f["properties"]["street_key"] for f in streets}
    assert "RUE DE BRETAGNE" in keys and "BOULEVARD DE SEBASTOPOL" in keys
    # The inventory's spelling joins OSM's.
    assert street_key("BD DE SEBASTOPOL") == "BOULEVARD DE SEBASTOPOL"
    assert street_key("Rue de l'Écluse") == street_key("RUE DE L ECLUSE")
    for f in streets[:50]:
        lon, lat = f["geometry"]["coordinates"][0]
        assert 2.3 < lon < 2.4 and 48.8 < lat < 48.9  # RFC 7946 [lon, lat]


def test_basemap_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(BasemapError, match="no such OSM file"):
        build_basemap(tmp_path / "none.osm.pbf", tmp_path / "bm")
    bad = tmp_path / "bad.osm.pbf"
    bad.write_bytes(b"not a pbf")
    with pytest.raises(BasemapError) as err:
        build_basemap(bad, tmp_path / "bm")
    assert "\n" not in str(err.value) and "bad.osm.pbf" in str(err.value)


def test_basemap_cli_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from baywatch.cli import app

    r = CliRunner().invoke(app, ["basemap", "build", str(tmp_path / "x.osm.pbf")])
    assert r.exit_code == 2
    assert "no such OSM file" in r.output and "Traceback" not in r.output


@needs_geodata
def test_basemap_served_and_view_on_the_city(api: Api, tmp_path: Path) -> None:
    c = api.client
    assert c.get("/map/basemap/streets").status_code == 404
    cfg = c.get("/map/config").json()
    assert cfg["basemap"]["mode"] == "online"  # nothing built: the OSM tiles
    build_basemap(PBF, api.state.settings.basemap_dir)
    cfg = c.get("/map/config").json()
    assert cfg["basemap"]["mode"] == "local" and cfg["basemap"]["layers"]["streets"] > 1000
    r = c.get("/map/basemap/streets")
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    assert c.get("/map/basemap/secrets").status_code == 400
    # A sample camera in California does not pull the view off Paris.
    far = {
        "curb_zone_id": stable_id("test-bay", "far"),
        "source": "test",
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [[-122, 37.39], [-121.9999, 37.39], [-121.9999, 37.3901], [-122, 37.39]]
            ],
        },
        "lon": -121.99995,
        "lat": 37.39005,
        "last_updated_ms": 1,
    }
    api.store.upsert_zones(records_from_rows([far]))
    api.state.follower.reload_zones(force=True)
    cfg = c.get("/map/config").json()
    assert cfg["bounds"][0] < -121  # every bay
    w, s, e, n = cfg["view"]
    assert 2.36 < w < e < 2.37 and 48.84 < s < n < 48.86  # the Paris bays only


# -- activity --------------------------------------------------------------------------


def _session(
    name: str, start: int, kind: str = "park", dwell_min: float = 10, vt: str = "van", n: int = 0
) -> dict[str, object]:
    lat, lon = BAYS[name][0], BAYS[name][1]
    return {
        "session_id": stable_id("act", name, start, kind, n),
        "kind": kind,
        "data_source_device_id": "cam-1",
        "data_source_type": "camera",
        "start_ms": start,
        "end_ms": start + int(dwell_min * 60_000),
        "vehicle_type": vt,
        "curb_zone_id": zid(name),
        "lon": lon,
        "lat": lat,
        "max_stay_min": BAYS[name][4],
    }


def test_activity_counts_filters_and_groups(api: Api) -> None:
    mon = ms(2026, 1, 5, 9, 0)  # Monday 09:00 Paris
    sat = ms(2026, 1, 10, 9, 0)
    new_year = ms(2026, 1, 1, 9, 0)  # a Thursday and a public holiday
    sessions = [
        _session("b1", mon, "double_park"),
        _session("b1", mon + 60_000, "double_park", n=1),
        _session("b1", mon + 3_600_000 * 3, "double_park"),  # 12:00: outside 8-10
        _session("b1", sat, "double_park"),
        _session("b1", new_year, "double_park"),
        _session("b2", mon, "park", dwell_min=45, vt="car"),  # overstay (30) and misuse
        _session("b3", mon, "park", dwell_min=5),
    ]
    from occupancy.runtime.wire import SessionIn

    api.store.ingest_sessions([SessionIn.model_validate(s).row() for s in sessions])
    c = api.client
    base = {"start_ms": ms(2026, 1, 1), "end_ms": ms(2026, 1, 15), "hour_from": 8, "hour_to": 10}

    def get(**kw: object) -> dict[str, dict[str, object]]:
        r = c.get("/map/activity", params={**base, **kw})
        assert r.status_code == 200, r.text
        body = r.json()
        key = {"bay": "curb_zone_id", "street": "street_key", "area": "area_id", "h3": "h3"}
        return {f["properties"][key[body["group"]]]: f["properties"] for f in body["features"]}

    bays = get(day_type="working")
    b1 = bays[zid("b1")]
    assert b1["double_parking"] == 2  # Monday twice; not 12:00, not Saturday, not New Year
    # 14 days from Jan 1: working days exclude Jan 1 (holiday) and the two weekends -> 9.
    assert b1["value"] == pytest.approx(2 / 9, abs=1e-4)
    assert bays[zid("b2")]["overstays"] == 1 and bays[zid("b2")]["misuse"] == 1
    assert bays[zid("b3")]["overstays"] == 0 and bays[zid("b3")]["misuse"] == 0
    assert bays[zid("b1")]["stats_source"] == "observed"
    assert get(day_type="saturday")[zid("b1")]["double_parking"] == 1
    assert get(day_type="sunday_holiday")[zid("b1")]["double_parking"] == 1
    assert get(vehicle_type=["truck"])[zid("b1")]["double_parking"] == 0
    # b4 and b5 have no camera and no sessions: no data, not zero.
    assert get()[zid("b4")]["value"] is None
    areas = get(group="area", day_type="working")
    assert areas["a-north"]["double_parking"] == 2 and areas["a-north"]["bays"] == 3
    streets = get(group="street")
    assert streets["PLACE DES VOSGES"]["bays"] == 5
    assert len(get(group="h3", resolution=12)) >= 3
    bad = [
        {"hour_from": 10, "hour_to": 8},
        {"end_ms": base["start_ms"] + 100 * 86_400_000},
        {"vehicle_type": ["spaceship"]},
        {"day_type": "weekday"},
        {"group": "country"},
    ]
    for params in bad:
        r = c.get("/map/activity", params={**base, **params})
        assert r.status_code == 400, params
        assert "\n" not in r.json()["error_description"]


# -- camera set-up ---------------------------------------------------------------------


def _square_cps() -> list[dict[str, object]]:
    """Four control points: a 40 m square around bay b1 seen straight down, 10 px per m."""
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    lat0, lon0 = BAYS["b1"][0], BAYS["b1"][1]
    out = []
    for (dx, dy), px in zip(
        ((-20, -20), (20, -20), (20, 20), (-20, 20)),
        ((100, 500), (500, 500), (500, 100), (100, 100)),
        strict=True,
    ):
        lon, lat, _ = geod.fwd(lon0, lat0, 90, dx)
        lon, lat, _ = geod.fwd(lon, lat, 0, dy)
        out.append({"pixel": list(px), "lonlat": [lon, lat]})
    return out


def test_setup_needs_admin(api: Api) -> None:
    body = {"control_points": _square_cps()}
    assert api.client.post("/setup/calibrate", json=body).status_code == 401
    r = api.client.post("/setup/calibrate", json=body, headers=api.auth("read"))
    assert r.status_code == 403


def test_setup_calibrate_projects_inventory_bays(api: Api) -> None:
    r = api.client.post(
        "/setup/calibrate",
        json={"control_points": _square_cps(), "frame_size": [600, 600]},
        headers=api.auth("admin"),
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["ok"] and out["rms_error_m"] < 0.01
    near = {b["curb_zone_id"]: b for b in out["bays"]}
    assert zid("b1") in near and zid("b5") not in near  # b5 is 1.1 km away
    xs = [p[0] for p in near[zid("b1")]["pixels"]]
    ys = [p[1] for p in near[zid("b1")]["pixels"]]
    # b1 is a ~4.4 m x 6.7 m square at the centre: about 300 px +- 22/33 px at 10 px/m.
    assert 300 - 30 < min(xs) < max(xs) < 300 + 30
    assert 300 - 40 < min(ys) < max(ys) < 300 + 40
    collinear = [*_square_cps()[:3], {"pixel": [300, 500], "lonlat": _square_cps()[0]["lonlat"]}]
    r = api.client.post(
        "/setup/calibrate", json={"control_points": collinear}, headers=api.auth("admin")
    )
    assert r.status_code == 400 and "control_points" in r.json()["error_description"]


def test_setup_site_validated_by_cli_model(api: Api, tmp_path: Path) -> None:
    site = {
        "camera_id": "cam-vosges",
        "frame_size": [600, 600],
        "calibration": {"control_points": _square_cps()},
        "bays": [
            {
                "id": "b1",
                "pixels": [[270, 270], [330, 270], [330, 330], [270, 330]],
                "curb_zone_id": zid("b1"),
            }
        ],
        "lane_zones": [
            {
                "id": "lane",
                "pixels": [[340, 200], [400, 200], [400, 400], [340, 400]],
                "beside_bay": "b1",
            }
        ],
    }
    h = api.auth("admin")
    r = api.client.post("/setup/site", params={"save": True}, json=site, headers=h)
    assert r.status_code == 200, r.text
    saved = api.state.settings.data_dir / "sites" / "cam-vosges.yaml"
    assert saved.read_text() == r.json()["yaml"]
    loaded = load_site(saved)
    assert loaded.bays[0].curb_zone_id == zid("b1") and loaded.lane_zones[0].beside_bay == "b1"
    assert yaml.safe_load(r.json()["yaml"])["camera_id"] == "cam-vosges"
    bad = {**site, "bays": [{**site["bays"][0], "pixels": [[270, 270], [900, 270], [330, 330]]}]}
    r = api.client.post("/setup/site", json=bad, headers=h)
    assert r.status_code == 400
    assert "bays.0.pixels" in r.json()["error_description"]


@pytest.mark.skipif(not FOOTAGE.exists(), reason="../shared/footage is missing")
def test_setup_frame_upload_image_video_garbage(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    h = {**api.auth("admin"), "Content-Type": "application/octet-stream"}
    jpg = (FOOTAGE / "meva" / "rvmot-a1c9" / "frame-0000.jpg").read_bytes()
    r = api.client.post("/setup/frame", content=jpg, headers=h)
    assert r.status_code == 200 and (r.json()["width"], r.json()["height"]) == (896, 504)
    assert r.json()["image"].startswith("data:image/jpeg;base64,")
    mp4 = FOOTAGE / "intel" / "car-detection.mp4"
    if mp4.exists():
        r = api.client.post(
            "/setup/frame", params={"at_s": 1.0}, content=mp4.read_bytes(), headers=h
        )
        assert r.status_code == 200, r.text
    assert api.client.post("/setup/frame", content=b"garbage" * 100, headers=h).status_code == 400
    assert api.client.post("/setup/frame", content=b"", headers=h).status_code == 400
    monkeypatch.setattr(setup_routes, "MAX_UPLOAD_BYTES", 1000)
    assert api.client.post("/setup/frame", content=jpg, headers=h).status_code == 413
    # Nothing written: no frame kept anywhere under the data folder.
    data = api.state.settings.data_dir
    assert not data.exists() or not [p for p in data.rglob("*") if p.is_file()]


def test_setup_camera_url_allow_list(api: Api) -> None:
    r = api.client.post(
        "/setup/frame-from-url", json={"url": "file:///etc/passwd"}, headers=api.auth("admin")
    )
    assert r.status_code == 403
    assert setup_routes.url_allowed("http://cam/1.jpg", ["http://cam/"])
    assert not setup_routes.url_allowed("http://cam.evil/1.jpg", ["http://cam"])
    assert setup_routes.url_allowed("http://cam", ["http://cam"])


def test_sample_site_round_trips_through_setup(api: Api) -> None:
    """The hand-written sample, sent as the page sends it, comes back equivalent."""
    # Its source.uri is a path on the CLI's machine, which a server never takes from a
    # client (api.site_policy): the page sends a camera URL or nothing.
    sample = load_site(SAMPLES / "meva-a1c9.yaml").model_copy(update={"source": SourceSpec()})
    body = sample.model_dump(mode="json", exclude_defaults=True)
    r = api.client.post("/setup/site", json=body, headers=api.auth("admin"))
    assert r.status_code == 200, r.text
    again = yaml.safe_load(r.json()["yaml"])
    from occupancy.config.site import Site

    assert Site.model_validate(again) == sample


@pytest.mark.skipif(not FOOTAGE.exists(), reason="../shared/footage is missing")
def test_setup_frame_from_allow_listed_camera_url(tmp_path: Path) -> None:
    """A snapshot URL under an allow-listed prefix gives its frame; another port does not."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(FOOTAGE / "meva"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    prefix = f"http://127.0.0.1:{server.server_port}/"
    try:
        for api in make_api(tmp_path, data_dir=tmp_path / "data", api_setup_camera_urls=[prefix]):
            h = api.auth("admin")
            r = api.client.post(
                "/setup/frame-from-url",
                json={"url": prefix + "rvmot-a1c9/frame-0000.jpg"},
                headers=h,
            )
            assert r.status_code == 200, r.text
            assert (r.json()["width"], r.json()["height"]) == (896, 504)
            r = api.client.post(
                "/setup/frame-from-url", json={"url": prefix + "missing.jpg"}, headers=h
            )
            assert r.status_code == 400 and "HTTP 404" in r.json()["error_description"]
            other = f"http://127.0.0.1:{server.server_port + 1}/x.jpg"
            r = api.client.post("/setup/frame-from-url", json={"url": other}, headers=h)
            assert r.status_code == 403
    finally:
        server.shutdown()
