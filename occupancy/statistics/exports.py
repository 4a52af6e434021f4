"""Write statistics as GeoJSON (RFC 7946), GeoParquet, CSV and the CDS Metrics CSV formats.

CDS Metrics 1.0 (``metrics/README.md``): ``/metrics/sessions`` and
``/metrics/aggregates`` are CSV files with the columns below. Timestamps are
CDS Timestamps (integer ms since the epoch, UTC); ``date``/``hour`` are local.
Both files carry one extra trailing column, ``data_source_type`` (a CDS Events
field name), so that simulated numbers can never pass for observed ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from occupancy.statistics.hourly import CDS_METRICS

CDS_CONTENT_TYPE = "application/vnd.cds+csv;version=1.0"
# Values as CDS writes them: "6", "2.9", "-1", "0.05" (no trailing ".0").
CDS_FLOAT = "%.10g"

CDS_SESSION_COLUMNS = (
    "session_type",
    "event_session_id",
    "event_id_start",
    "event_id_end",
    "event_location_start_latitude",
    "event_location_start_longitude",
    "event_location_end_latitude",
    "event_location_end_longitude",
    "event_time_start",
    "event_time_end",
    "curb_zone_id",
    "curb_area_ids",
    "curb_space_id",
    "vehicle_length",
    "vehicle_type",
)
CDS_AGGREGATE_COLUMNS = ("curb_place_type", "curb_place_id", "metric_type", "date", "hour", "value")


def _sanitise(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Column types every driver writes: categories to strings, tz-aware times to ISO text."""
    out = gdf.copy()
    for c in out.columns:
        if c == out.geometry.name:
            continue
        s = out[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            out[c] = s.astype(str)
        elif isinstance(s.dtype, pd.DatetimeTZDtype):
            out[c] = s.map(lambda t: t.isoformat())
        elif s.dtype == object:
            out[c] = s.map(lambda v: v if v is None or isinstance(v, str | int | float) else str(v))
    return out


def write_geojson(gdf: gpd.GeoDataFrame, path: str | Path) -> Path:
    """RFC 7946 GeoJSON: WGS84, longitude first, right-hand-rule (counter-clockwise)
    exterior rings, at most 7 decimals (about 1 cm), no ``crs`` member (GDAL's writer)."""
    p = Path(path)
    if p.exists():
        p.unlink()
    _sanitise(gdf.to_crs("EPSG:4326")).to_file(
        p,
        driver="GeoJSON",
        layer_options={"RFC7946": "YES", "WRITE_NAME": "NO", "COORDINATE_PRECISION": "7"},
    )
    return p


def write_geoparquet(gdf: gpd.GeoDataFrame, path: str | Path) -> Path:
    """Write a GeoDataFrame as GeoParquet in WGS84 (EPSG:4326), with column types every
    reader takes; returns the path.
    """
    p = Path(path)
    _sanitise(gdf.to_crs("EPSG:4326")).to_parquet(p, index=False)
    return p


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as CSV without its geometry column; returns the path."""
    p = Path(path)
    f = pd.DataFrame(frame.drop(columns=["geometry"], errors="ignore"))
    f.to_csv(p, index=False)
    return p


def cds_sessions(sessions: pd.DataFrame, zones: pd.DataFrame | None = None) -> pd.DataFrame:
    """Sessions as CDS ``/metrics/sessions`` rows (``session_type`` = parking)."""
    n = len(sessions)
    area = pd.Series([None] * n, dtype=object)
    if zones is not None and "area_id" in zones:
        amap = dict(zip(zones["curb_zone_id"], zones["area_id"], strict=True))
        area = sessions["curb_zone_id"].astype(object).map(amap)
    lat = sessions["lat"].to_numpy() if "lat" in sessions else np.full(n, np.nan)
    lon = sessions["lon"].to_numpy() if "lon" in sessions else np.full(n, np.nan)
    out = pd.DataFrame(
        {
            "session_type": "parking",
            # baywatch's session id is the event_session_id its park_start/park_end carry
            "event_session_id": sessions["session_id"].astype(str).to_numpy(),
            "event_id_start": None,
            "event_id_end": None,
            "event_location_start_latitude": lat,
            "event_location_start_longitude": lon,
            "event_location_end_latitude": lat,
            "event_location_end_longitude": lon,
            "event_time_start": sessions["start_ms"].to_numpy(np.int64),
            "event_time_end": sessions["end_ms"].to_numpy(np.int64),
            "curb_zone_id": sessions["curb_zone_id"].astype(object).to_numpy(),
            "curb_area_ids": np.asarray(area, dtype=object),
            "curb_space_id": None,
            "vehicle_length": sessions.get("vehicle_length", pd.Series([None] * n)).to_numpy(),
            "vehicle_type": sessions["vehicle_type"].astype(str).to_numpy(),
            "data_source_type": sessions["data_source_type"].astype(str).to_numpy()
            if "data_source_type" in sessions
            else "camera",
        }
    )
    return out


def cds_aggregates(
    hourly: pd.DataFrame,
    *,
    curb_place_type: str = "zone",
    id_col: str = "curb_zone_id",
    data_source_type: str = "camera",
) -> pd.DataFrame:
    """Hourly aggregates as CDS ``/metrics/aggregates`` rows (long: one row per metric).

    Hours without a defined value (mean dwell with no session) are omitted; -1
    marks offline hours as CDS specifies. On the autumn DST day local hour 2
    appears twice, as it does on the wall clock.
    """
    lh = pd.DatetimeIndex(hourly["local_hour"])
    date = lh.strftime("%Y-%m-%d")
    hour = lh.hour.to_numpy()
    parts = []
    for metric in CDS_METRICS:
        v = hourly[metric].to_numpy(float)
        ok = ~np.isnan(v)
        parts.append(
            pd.DataFrame(
                {
                    "curb_place_type": curb_place_type,
                    "curb_place_id": hourly[id_col].astype(str).to_numpy()[ok],
                    "metric_type": metric,
                    "date": np.asarray(date)[ok],
                    "hour": hour[ok],
                    "value": np.round(v[ok], 4),
                    "data_source_type": data_source_type,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def write_cds_csv(frames: Iterable[pd.DataFrame], path: str | Path) -> Path:
    """Write CDS CSV rows, possibly in chunks (a year of a city is far larger than memory)."""
    p = Path(path)
    first = True
    with p.open("w", encoding="utf-8", newline="") as fh:
        for f in frames:
            f.to_csv(fh, index=False, header=first, float_format=CDS_FLOAT)
            first = False
    return p
