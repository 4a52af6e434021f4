"""Bays -> areas: any polygon layer (kerb areas, IRIS, communes, arrondissements) or H3 cells.

Per-bay totals (``occupancy.statistics.hourly.period_totals``) are combined exactly where
that is possible: sums add up, occupancy and turnover are weighted by each bay's
observed space-hours, mean dwell and shares by sessions. Quantiles cannot be
combined from per-bay quantiles and are left out of area rows. Lengths and
areas are measured in a projected metric CRS (Lambert-93 in France, see
``occupancy.domain.geo.metric_crs``).
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely

from occupancy.domain.geo import WGS84, metric_crs


class SpatialError(ValueError):
    """A polygon layer that cannot be used; the message names the file and the problem."""


def bays_frame(zones: pd.DataFrame) -> gpd.GeoDataFrame:
    """Bays as a GeoDataFrame of their footprint polygons (WGS84)."""
    geoms = [
        shapely.from_geojson(json.dumps(g)) if isinstance(g, dict) else None
        for g in zones["geometry"].tolist()
    ]
    pts = shapely.points(zones["lon"].to_numpy(float), zones["lat"].to_numpy(float))
    geoms_arr = np.array([g if g is not None else p for g, p in zip(geoms, pts, strict=True)])
    frame = zones.drop(columns=["geometry"]).copy()
    return gpd.GeoDataFrame(frame, geometry=geoms_arr, crs=WGS84)


def read_polygons(path: str | Path, *, id_col: str | None = None) -> gpd.GeoDataFrame:
    """A polygon layer (GeoJSON, GeoPackage, ...) in WGS84 with ``area_id``/``area_name``."""
    p = Path(path)
    if not p.exists():
        raise SpatialError(f"{p}: no such file")
    try:
        g = gpd.read_file(p)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise SpatialError(f"{p}: cannot read as a GIS layer: {exc}") from exc
    if g.empty:
        raise SpatialError(f"{p}: no features")
    types = set(g.geom_type.dropna())
    if not types <= {"Polygon", "MultiPolygon"}:
        raise SpatialError(f"{p}: expected polygons, found {', '.join(sorted(types))}")
    if g.crs is None:
        raise SpatialError(f"{p}: no CRS; cannot place it")
    g = g.to_crs(WGS84)
    cols = [c for c in g.columns if c != "geometry"]
    if id_col is not None and id_col not in cols:
        raise SpatialError(f"{p}: no column {id_col!r} (has {', '.join(cols)})")
    key = id_col or _guess_id(g, cols)
    name = _guess_name(g, cols, key)
    out = gpd.GeoDataFrame(
        {
            "area_id": g[key].astype(str) if key else g.index.astype(str),
            "area_name": g[name].astype(str) if name else None,
        },
        geometry=g.geometry,
        crs=WGS84,
    )
    return out


def _guess_id(g: gpd.GeoDataFrame, cols: list[str]) -> str | None:
    for c in cols:
        if c.lower() in ("id", "code", "c_arinsee", "code_insee", "insee", "code_iris", "area_id"):
            return c
    for c in cols:
        if g[c].is_unique and g[c].notna().all():
            return c
    return None


def _guess_name(g: gpd.GeoDataFrame, cols: list[str], key: str | None) -> str | None:
    for c in cols:
        if c.lower() in ("name", "nom", "l_ar", "nom_com", "nom_iris", "area_name", "libelle"):
            return c
    return key


def assign_polygons(zones: pd.DataFrame, polygons: gpd.GeoDataFrame) -> pd.DataFrame:
    """``curb_zone_id`` -> ``area_id``/``area_name`` of the polygon holding the bay's point."""
    pts = gpd.GeoDataFrame(
        {"curb_zone_id": zones["curb_zone_id"].to_numpy()},
        geometry=shapely.points(zones["lon"].to_numpy(float), zones["lat"].to_numpy(float)),
        crs=WGS84,
    )
    j = gpd.sjoin(pts, polygons, how="left", predicate="within")
    j = j[~j.index.duplicated(keep="first")]
    return pd.DataFrame(
        {
            "curb_zone_id": j["curb_zone_id"].to_numpy(),
            "area_id": j["area_id"].to_numpy(),
            "area_name": j["area_name"].to_numpy(),
        }
    )


def assign_h3(zones: pd.DataFrame, resolution: int) -> pd.DataFrame:
    """``curb_zone_id`` -> H3 cell (``area_id``) of the bay's point at ``resolution``."""
    if not 0 <= resolution <= 15:
        raise SpatialError(f"H3 resolution {resolution} outside 0..15")
    # h3 has no vectorised call; this loops over bays (thousands), never over sessions.
    cells = [
        h3.latlng_to_cell(float(la), float(lo), resolution)
        for lo, la in zip(zones["lon"].to_numpy(), zones["lat"].to_numpy(), strict=True)
    ]
    return pd.DataFrame(
        {"curb_zone_id": zones["curb_zone_id"].to_numpy(), "area_id": cells, "area_name": cells}
    )


def h3_polygons(cells: list[str]) -> gpd.GeoDataFrame:
    """H3 cells (ids) as WGS84 polygons, one row per cell with ``area_id`` = ``area_name`` =
    the cell id (h3 gives (lat, lng) boundaries; they are swapped to (lon, lat) here).
    """
    polys = [shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in cells]
    return gpd.GeoDataFrame({"area_id": cells, "area_name": cells}, geometry=polys, crs=WGS84)


def aggregate_totals(
    totals: pd.DataFrame,
    zones: pd.DataFrame,
    assignment: pd.DataFrame,
    polygons: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Combine per-bay ``period_totals`` into one row per area of ``assignment``.

    Bays outside every polygon are left out. ``polygons`` (with ``area_id``)
    gives each area its geometry; without it the convex hull of its bays is used.
    """
    spaces = (
        pd.to_numeric(zones.get("num_spaces"), errors="coerce").fillna(1).clip(lower=1)
        if "num_spaces" in zones
        else pd.Series(1.0, index=zones.index)
    )
    base = pd.DataFrame(
        {
            "curb_zone_id": zones["curb_zone_id"].to_numpy(),
            "spaces": spaces.to_numpy(float),
            "length_m": pd.to_numeric(zones.get("length_cm"), errors="coerce").to_numpy(float)
            / 100.0
            if "length_cm" in zones
            else np.nan,
        }
    )
    t = totals.merge(base, on="curb_zone_id").merge(
        assignment.dropna(subset=["area_id"]), on="curb_zone_id"
    )
    n = t["total_sessions"].astype(float)
    cap_h = t["spaces"] * t["observed_hours"]
    t = t.assign(
        _occ=t["occupancy_percent"].fillna(0) * cap_h,
        _cap=cap_h,
        _dwell=t["average_dwell_time"].fillna(0) * n,
        _over=t["overstay_share"].fillna(0) * n,
        _mis=t["misuse_share"].fillna(0) * n,
    )
    g = t.groupby("area_id", sort=True)
    out = pd.DataFrame(
        {
            "area_name": g["area_name"].first(),
            "n_bays": g.size(),
            "n_spaces": g["spaces"].sum().astype(int),
            "kerb_length_m": g["length_m"].sum(min_count=1),
            "total_sessions": g["total_sessions"].sum(),
            "turnover": g["total_sessions"].sum() / g["_cap"].sum(),
            "average_dwell_time": g["_dwell"].sum() / g["total_sessions"].sum(),
            "occupancy_percent": g["_occ"].sum() / g["_cap"].sum(),
            "overstay_share": g["_over"].sum() / g["total_sessions"].sum(),
            "misuse_share": g["_mis"].sum() / g["total_sessions"].sum(),
            "double_park_sessions": g["double_park_sessions"].sum(),
            "double_park_minutes": g["double_park_minutes"].sum(),
            "observed_hours": g["observed_hours"].sum(),
        }
    ).reset_index()
    if polygons is not None:
        geo = polygons.drop_duplicates("area_id").set_index("area_id").geometry
        geoms = geo.reindex(out["area_id"]).to_numpy()
    else:
        pts = gpd.GeoSeries(
            shapely.points(zones["lon"].to_numpy(float), zones["lat"].to_numpy(float)),
            index=zones["curb_zone_id"].to_numpy(),
            crs=WGS84,
        )
        hull = t.groupby("area_id")["curb_zone_id"].agg(list)
        geoms = np.array(
            [
                shapely.convex_hull(shapely.union_all(pts.loc[hull[a]].to_numpy()))
                for a in out["area_id"]
            ]
        )
    gdf = gpd.GeoDataFrame(out, geometry=geoms, crs=WGS84)
    area_km2 = gdf.to_crs(metric_crs(zones["lon"].to_numpy(), zones["lat"].to_numpy())).area / 1e6
    gdf["area_km2"] = area_km2.to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        gdf["bays_per_km2"] = np.where(area_km2 > 0, gdf["n_bays"] / area_km2, np.nan)
    return gdf
