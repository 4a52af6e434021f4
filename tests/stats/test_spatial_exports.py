"""Spatial aggregation to a polygon layer and to H3; exports in every format."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import h3
import pandas as pd
import pytest
import shapely

from occupancy.statistics import exports, spatial
from occupancy.statistics.hourly import hourly_aggregates, period_totals
from tests.stats.conftest import frame, ms, session

# Three bays: two in the west square, one in the east square.
ZONES = pd.DataFrame(
    {
        "curb_zone_id": ["W1", "W2", "E1"],
        "name": ["w1", "w2", "e1"],
        "lon": [2.301, 2.302, 2.311],
        "lat": [48.851, 48.852, 48.851],
        "num_spaces": [1, 2, 1],
        "length_cm": [1000, 1500, 800],
        "area_id": ["x", "x", "y"],
        "area_name": ["X", "X", "Y"],
        "geometry": [None, None, None],
        "vehicle_types": [["van"], ["van"], None],
    }
)
START, END = ms("2025-06-10 10:00"), ms("2025-06-10 12:00")


def squares(tmp_path: Path, crs: str = "EPSG:4326") -> Path:
    g = gpd.GeoDataFrame(
        {"code": ["west", "east"], "nom": ["West", "East"]},
        geometry=[
            shapely.box(2.300, 48.850, 2.305, 48.855),
            shapely.box(2.310, 48.850, 2.315, 48.855),
        ],
        crs="EPSG:4326",
    ).to_crs(crs)
    p = tmp_path / "areas.gpkg"
    g.to_file(p)
    return p


def totals() -> pd.DataFrame:
    s = frame(
        [
            session("W1", ms("2025-06-10 10:00"), ms("2025-06-10 11:00")),  # 60 min
            session("W2", ms("2025-06-10 10:00"), ms("2025-06-10 10:20")),  # 20 min
            session("W2", ms("2025-06-10 10:30"), ms("2025-06-10 11:10"), vehicle="car"),
            session("E1", ms("2025-06-10 11:00"), ms("2025-06-10 11:30"), kind="double_park"),
        ]
    )
    return period_totals(s, ZONES, start_ms=START, end_ms=END)


def test_aggregate_to_polygon_layer_in_lambert93(tmp_path: Path) -> None:
    polys = spatial.read_polygons(squares(tmp_path, "EPSG:2154"))
    assert polys.crs.to_epsg() == 4326
    assign = spatial.assign_polygons(ZONES, polys)
    assert assign["area_id"].tolist() == ["west", "west", "east"]
    g = spatial.aggregate_totals(totals(), ZONES, assign, polys).set_index("area_id")
    w, e = g.loc["west"], g.loc["east"]
    assert (w["area_name"], w["n_bays"], w["n_spaces"], w["kerb_length_m"]) == ("West", 2, 3, 25.0)
    assert w["total_sessions"] == 3
    # 60 + 60 occupied minutes over 3 spaces x 2 hours
    assert w["occupancy_percent"] == pytest.approx(120 / 360 * 100)
    assert w["average_dwell_time"] == pytest.approx(40.0)
    assert w["turnover"] == pytest.approx(3 / 6)
    assert w["misuse_share"] == pytest.approx(1 / 3)
    assert (e["total_sessions"], e["double_park_sessions"], e["double_park_minutes"]) == (
        0,
        1,
        30.0,
    )
    # 0.005 x 0.005 degree square at 48.85 N: about 0.367 km x 0.556 km
    assert w["area_km2"] == pytest.approx(0.2038, abs=0.002)


def test_aggregate_to_h3() -> None:
    assign = spatial.assign_h3(ZONES, 7)
    cell = h3.latlng_to_cell(48.851, 2.301, 7)
    assert assign["area_id"].iloc[0] == cell
    cells = sorted(assign["area_id"].unique())
    g = spatial.aggregate_totals(totals(), ZONES, assign, spatial.h3_polygons(cells))
    assert g["n_bays"].sum() == 3
    assert g["total_sessions"].sum() == 3
    row = g.set_index("area_id").loc[cell]
    assert row.geometry.contains(shapely.Point(2.301, 48.851))
    with pytest.raises(spatial.SpatialError, match=r"outside 0\.\.15"):
        spatial.assign_h3(ZONES, 16)


def test_polygon_layer_errors(tmp_path: Path) -> None:
    with pytest.raises(spatial.SpatialError, match="no such file"):
        spatial.read_polygons(tmp_path / "none.geojson")
    pts = tmp_path / "pts.geojson"
    gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)], crs="EPSG:4326").to_file(pts)
    with pytest.raises(spatial.SpatialError, match="expected polygons, found Point"):
        spatial.read_polygons(pts)
    with pytest.raises(spatial.SpatialError, match="no column 'zz'"):
        spatial.read_polygons(squares(tmp_path), id_col="zz")


def test_exports(tmp_path: Path) -> None:
    polys = spatial.read_polygons(squares(tmp_path))
    g = spatial.aggregate_totals(totals(), ZONES, spatial.assign_polygons(ZONES, polys), polys)
    gj = exports.write_geojson(g, tmp_path / "a.geojson")
    data = json.loads(gj.read_text())
    assert "crs" not in data and data["type"] == "FeatureCollection"
    assert {f["properties"]["area_id"] for f in data["features"]} == {"west", "east"}
    ring = data["features"][0]["geometry"]["coordinates"][0]
    assert shapely.LinearRing(ring).is_ccw  # RFC 7946 right-hand rule for exterior rings
    back = gpd.read_parquet(exports.write_geoparquet(g, tmp_path / "a.parquet"))
    assert back.crs.to_epsg() == 4326 and len(back) == 2
    csv = pd.read_csv(exports.write_csv(g, tmp_path / "a.csv"))
    assert "geometry" not in csv.columns and len(csv) == 2


def test_cds_csv_formats(tmp_path: Path) -> None:
    s = frame([session("W1", ms("2025-10-26 01:30"), ms("2025-10-26 02:30", fold=1))])
    s["lat"], s["lon"], s["vehicle_length"] = 48.851, 2.301, 520
    out = exports.cds_sessions(s, ZONES)
    assert list(out.columns) == [*exports.CDS_SESSION_COLUMNS, "data_source_type"]
    r = out.iloc[0]
    assert (r["session_type"], r["curb_area_ids"], r["event_time_start"]) == (
        "parking",
        "x",
        ms("2025-10-26 01:30"),
    )
    h = hourly_aggregates(s, ZONES, start_ms=ms("2025-10-26 01:00"), end_ms=ms("2025-10-26 04:00"))
    agg = exports.cds_aggregates(h[h["curb_zone_id"] == "W1"])
    assert list(agg.columns) == [*exports.CDS_AGGREGATE_COLUMNS, "data_source_type"]
    occ = agg[agg["metric_type"] == "occupancy_percent"]
    # 01:00, 02:00 (summer), 02:00 (winter), 03:00 local: the wall clock repeats hour 2
    assert occ["hour"].tolist() == [1, 2, 2, 3]
    assert occ["value"].tolist() == [50.0, 100.0, 50.0, 0.0]
    assert set(occ["date"]) == {"2025-10-26"}
    dwell = agg[agg["metric_type"] == "average_dwell_time"]
    assert dwell[["hour", "value"]].values.tolist() == [[1, 120.0]]  # other hours: no session
    p = exports.write_cds_csv([agg.iloc[:3], agg.iloc[3:]], tmp_path / "agg.csv")
    lines = p.read_text().splitlines()
    assert lines[0] == "curb_place_type,curb_place_id,metric_type,date,hour,value,data_source_type"
    assert len(lines) == 1 + len(agg)
    assert "zone,W1,occupancy_percent,2025-10-26,1,50,camera" in lines
    assert "zone,W1,total_sessions,2025-10-26,1,1,camera" in lines
