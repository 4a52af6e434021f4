"""GeoJSON everywhere is RFC 7946: counter-clockwise exteriors, at most 7 decimals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely

from occupancy.domain.geojson import is_ccw
from occupancy.statistics import exports
from tests.api.conftest import Api


def _positions(coords: Any) -> list[list[float]]:
    if coords and isinstance(coords[0], int | float):
        return [coords]
    return [p for c in coords for p in _positions(c)]


def _exteriors(geom: dict[str, Any]) -> list[list[list[float]]]:
    if geom["type"] == "Polygon":
        return [geom["coordinates"][0]]
    if geom["type"] == "MultiPolygon":
        return [p[0] for p in geom["coordinates"]]
    return []


def _check(geoms: list[dict[str, Any]]) -> None:
    assert geoms
    for g in geoms:
        for ring in _exteriors(g):
            assert is_ccw(ring), ring
        for x, y in _positions(g["coordinates"]):
            for v in (x, y):
                assert len(repr(v).split(".")[-1]) <= 7, v


def test_api_geojson_is_rfc7946(api: Api) -> None:
    c = api.client
    _check([z["geometry"] for z in c.get("/curbs/zones").json()["data"]["zones"]])
    _check([a["geometry"] for a in c.get("/curbs/areas").json()["data"]["areas"]])
    for path in ("/map/bays", "/map/areas", "/map/h3"):
        fc = c.get(path).json()
        _check([f["geometry"] for f in fc["features"]])


def test_exported_geojson_is_rfc7946(tmp_path: Path) -> None:
    # A clockwise square with 12 decimals, as a careless source would give it.
    cw = shapely.Polygon([(2.123456789012, 48.1), (2.123456789012, 48.2), (2.2, 48.2), (2.2, 48.1)])
    assert not cw.exterior.is_ccw
    gdf = gpd.GeoDataFrame({"n": [1]}, geometry=[cw], crs="EPSG:4326")
    out = json.loads(exports.write_geojson(gdf, tmp_path / "a.geojson").read_text())
    _check([f["geometry"] for f in out["features"]])
