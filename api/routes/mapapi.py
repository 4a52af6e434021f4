"""Planners' map API: bays, areas and H3 cells as GeoJSON with live state and statistics.

Statistics come from ``occupancy.statistics.hourly``: ``occupancy`` is 1 - P(free) from the
weekly profile (optionally at one hour and weekday: the map's hour slider), and the
CDS metrics (``occupancy_percent``, ``total_sessions``, ``turnover``,
``average_dwell_time``) are hourly aggregates averaged over a time range.

Observed and simulated numbers are never mixed: every statistic endpoint takes
``data=observed`` (the default: camera sessions only) or ``data=simulated`` (the
simulator's only), answers which in ``data_source`` and, for simulated data,
``simulated: true`` on the collection and on each feature. A bay or hour nobody
observed has ``null``, never 0 (a bay no camera watches has no observed statistics).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

import h3
import numpy as np
import orjson
import shapely
from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import Response

from api.cds import doc_responses
from api.geo import BBox
from api.params import bad_request, bbox_param
from api.profiles import DataKind
from api.queries import session_rows
from api.security import public
from api.state import ApiState, get_state
from occupancy.domain.geojson import point, rfc7946_geometry
from occupancy.domain.records import VehicleType

router = APIRouter(prefix="/map", tags=["Map (planners)"], dependencies=[Depends(public)])

GEOJSON = "application/geo+json"
_GJ = doc_responses(GEOJSON, "GeoJSON FeatureCollection")
Stat = Literal[
    "none", "occupancy", "occupancy_percent", "total_sessions", "turnover", "average_dwell_time"
]
CDS_METRICS = {"occupancy_percent", "total_sessions", "turnover", "average_dwell_time"}
MAX_RANGE_MS = 31 * 86_400_000
DATA_QUERY = Query(
    "observed",
    description="observed (camera sessions, the default) or simulated statistics; never mixed",
)
# Stored data_source_type values of each kind of data.
_SOURCES: dict[str, list[str]] = {"observed": ["camera"], "simulated": ["simulated"]}


def geojson(obj: Any) -> Response:
    """A GeoJSON response (``application/geo+json``) of ``obj``."""
    return Response(orjson.dumps(obj), media_type=GEOJSON)


def _stat_values(
    state: ApiState,
    zone_ids: list[str],
    stat: str,
    hour: int | None,
    weekday: int | None,
    start_ms: int | None,
    end_ms: int | None,
    data: DataKind = "observed",
) -> dict[str, float | None]:
    if stat == "none":
        return {}
    if stat == "occupancy":
        return {z: state.profiles.occupancy(z, hour, weekday, data) for z in zone_ids}
    if start_ms is None or end_ms is None:
        raise bad_request(f"stat={stat} needs a time range: start_ms and end_ms")
    if end_ms <= start_ms or end_ms - start_ms > MAX_RANGE_MS:
        raise bad_request("start_ms must be before end_ms, at most 31 days apart")
    from api.routes.metrics import aggregates_frame

    if data == "simulated":
        # Only the bays the simulator covers: elsewhere "no session" is no data, not 0.
        covered = set(state.profiles.snapshot.simulated)
        zone_ids = [z for z in zone_ids if z in covered]
    t = aggregates_frame(state, zone_ids, start_ms, end_ms, sources=_SOURCES[data])
    # -1: no camera watched that hour (CDS "offline"); left out of the mean, never 0.
    t = t[(t["metric_type"] == stat) & t["value"].notna() & (t["value"] != -1)]
    if hour is not None:
        t = t[t["hour"].astype(int) == hour]
    means = t.astype({"value": float}).groupby("curb_place_id")["value"].mean()
    return {z: round(float(means[z]), 4) for z in zone_ids if z in means.index}


def _selected(state: ApiState, bbox: BBox | None, area: str | None) -> list[int]:
    live = state.live
    idx = live.in_bbox(bbox) if bbox is not None else list(range(len(live.bays)))
    if area is not None:
        if area not in state.areas():
            raise HTTPException(404, f"no area with id {area!r}")
        idx = [i for i in idx if live.bays[i].area_id == area]
    return idx


@router.get("/bays", responses=_GJ, response_class=Response)
def map_bays(
    bbox: BBox | None = Depends(bbox_param),
    area: str | None = Query(None, max_length=100),
    stat: Stat = Query("none", description="statistic to attach as property 'value'"),
    hour: int | None = Query(None, ge=0, le=23, description="local hour of day"),
    weekday: int | None = Query(None, ge=0, le=6, description="0 = Monday"),
    start_ms: int | None = Query(None, ge=0, le=10**14),
    end_ms: int | None = Query(None, ge=0, le=10**14),
    data: DataKind = DATA_QUERY,
    state: ApiState = Depends(get_state),
) -> Response:
    """Bays as GeoJSON points with live state and the chosen statistic of ``data``
    (observed by default); ``value`` null where that data has nothing."""
    live = state.live
    idx = _selected(state, bbox, area)
    ids = [live.bays[i].curb_zone_id for i in idx]
    values = _stat_values(state, ids, stat, hour, weekday, start_ms, end_ms, data)
    covered = state.profiles.snapshot.of(data)
    label = "camera" if data == "observed" else "simulated"
    feats = []
    for i in idx:
        b = live.bays[i]
        st = live.state_of(i)
        feats.append(
            {
                "type": "Feature",
                "id": i,
                "geometry": point(b.lon, b.lat),
                "properties": {
                    "curb_zone_id": b.curb_zone_id,
                    "name": b.name,
                    # The footprint was made by the import (e.g. a rectangle from a point).
                    "geometry_derived": b.geometry_derived,
                    "state": st.state.value,
                    "state_source": _state_source(live, b.curb_zone_id, st.state.value),
                    "since_ms": st.since_ms,
                    "max_stay_min": b.max_stay_min,
                    "length_cm": b.length_cm,
                    "num_spaces": b.num_spaces,
                    "area_id": b.area_id,
                    "street_name": b.street_name,
                    "camera": b.device_id is not None,
                    # Where this bay's statistics of the asked data come from (null: none).
                    "stats_source": label
                    if b.curb_zone_id in covered or values.get(b.curb_zone_id) is not None
                    else None,
                    "simulated": data == "simulated",
                    "value": values.get(b.curb_zone_id),
                },
            }
        )
    return geojson(
        {
            "type": "FeatureCollection",
            "stat": stat,
            "data_source": data,
            "simulated": data == "simulated",
            "features": feats,
        }
    )


def _state_source(live: Any, curb_zone_id: str, value: str) -> str | None:
    """Where a bay's live state comes from, as ``/availability/free`` says it:
    ``simulated`` or ``observed``; null while the state is unknown."""
    if value == "unknown":
        return None
    return "simulated" if live.simulated(curb_zone_id) else "observed"


def _summary(
    state: ApiState,
    idx: list[int],
    hour: int | None,
    weekday: int | None,
    data: DataKind = "observed",
) -> dict[str, Any]:
    live = state.live
    # Live states of the asked data only: in an observed answer a state the simulator
    # set is not an observation (counted in ``simulated_states``, not in free/occupied).
    sources = [
        (live.state_of(i).state.value, live.simulated(live.bays[i].curb_zone_id)) for i in idx
    ]
    want_sim = data == "simulated"
    counts = Counter(v if v == "unknown" or sim == want_sim else "other" for v, sim in sources)
    occ = [state.profiles.occupancy(live.bays[i].curb_zone_id, hour, weekday, data) for i in idx]
    seen = [o for o in occ if o is not None]
    return {
        "bays": len(idx),
        "free": counts.get("free", 0),
        "occupied": counts.get("occupied", 0),
        "unknown": counts.get("unknown", 0),
        # bays whose live state comes from the other kind of data (left out above)
        "other_source_states": counts.get("other", 0),
        "occupancy": round(float(np.mean(seen)), 4) if seen else None,
        "bays_with_stats": len(seen),
        "data_source": data,
        "simulated": data == "simulated",
    }


@router.get("/areas", responses=_GJ, response_class=Response)
def map_areas(
    hour: int | None = Query(None, ge=0, le=23),
    weekday: int | None = Query(None, ge=0, le=6),
    data: DataKind = DATA_QUERY,
    state: ApiState = Depends(get_state),
) -> Response:
    """Areas as polygons with bay counts by live state and mean occupancy."""
    live = state.live
    feats = []
    for a in state.areas().values():
        idx = [live.index[z] for z in a.zone_ids]
        props = {
            "curb_area_id": a.curb_area_id,
            "name": a.name,
            **_summary(state, idx, hour, weekday, data),
        }
        feats.append({"type": "Feature", "geometry": a.geometry, "properties": props})
    return geojson(
        {
            "type": "FeatureCollection",
            "data_source": data,
            "simulated": data == "simulated",
            "features": feats,
        }
    )


@router.get("/h3", responses=_GJ, response_class=Response)
def map_h3(
    resolution: int = Query(9, ge=5, le=12, description="H3 resolution (9: ~0.1 km² cells)"),
    bbox: BBox | None = Depends(bbox_param),
    area: str | None = Query(None, max_length=100),
    hour: int | None = Query(None, ge=0, le=23),
    weekday: int | None = Query(None, ge=0, le=6),
    data: DataKind = DATA_QUERY,
    state: ApiState = Depends(get_state),
) -> Response:
    """H3 hexagons holding bays, with counts by live state and mean occupancy."""
    live = state.live
    cells: dict[str, list[int]] = {}
    for i in _selected(state, bbox, area):
        b = live.bays[i]
        cells.setdefault(h3.latlng_to_cell(b.lat, b.lon, resolution), []).append(i)
    feats = []
    for cell, idx in sorted(cells.items()):
        ring = [[lng, lat] for lat, lng in h3.cell_to_boundary(cell)]
        ring.append(ring[0])
        feats.append(
            {
                "type": "Feature",
                "geometry": rfc7946_geometry(shapely.Polygon(ring)),
                "properties": {"h3": cell, **_summary(state, idx, hour, weekday, data)},
            }
        )
    return geojson(
        {
            "type": "FeatureCollection",
            "data_source": data,
            "simulated": data == "simulated",
            "features": feats,
        }
    )


@router.get("/bays/{curb_zone_id}")
def bay_profile(
    curb_zone_id: str = Path(max_length=64),
    sessions_limit: int = Query(20, ge=0, le=500),
    data: DataKind = DATA_QUERY,
    state: ApiState = Depends(get_state),
) -> dict[str, Any]:
    """One bay: live state, weekly occupancy profile (7 x 24), hourly mean and recent
    sessions, all of ``data`` (observed by default); an hour without data is null."""
    live = state.live
    i = live.index.get(curb_zone_id)
    if i is None:
        raise HTTPException(404, f"no bay with id {curb_zone_id!r}")
    b = live.bays[i]
    st = live.state(curb_zone_id)
    prof = state.profiles
    weekly = [[prof.occupancy(curb_zone_id, h, d, data) for h in range(24)] for d in range(7)]
    hourly = [prof.occupancy(curb_zone_id, h, None, data) for h in range(24)]
    recent = session_rows(
        state.store,
        start_ms=None,
        end_ms=None,
        zone_ids=[curb_zone_id],
        limit=sessions_limit,
        newest_first=True,
        sources=_SOURCES[data],
    )
    return {
        "curb_zone_id": curb_zone_id,
        "name": b.name,
        "lon": b.lon,
        "lat": b.lat,
        "street_name": b.street_name,
        "max_stay_min": b.max_stay_min,
        "vehicle_types": list(b.vehicle_types) if b.vehicle_types else None,
        "length_cm": b.length_cm,
        "state": st.state.value if st else "unknown",
        "state_source": _state_source(live, curb_zone_id, st.state.value if st else "unknown"),
        "since_ms": st.since_ms if st else None,
        "data_source": data,
        "simulated": data == "simulated",
        "stats_source": (
            ("camera" if data == "observed" else "simulated")
            if curb_zone_id in prof.snapshot.of(data)
            else None
        ),
        "time_zone": state.settings.api_time_zone,
        "hourly_occupancy": hourly,
        "weekly_occupancy": weekly,
        "recent_sessions": [
            {
                "session_id": r["session_id"],
                "start_ms": r["start_ms"],
                "end_ms": r["end_ms"],
                "dwell_s": r["dwell_s"],
                "vehicle_type": r["vehicle_type"],
                # Against the bay's posted max stay (a session stored without one,
                # e.g. simulated, would otherwise never be marked).
                "overstay": bool(r["overstay"])
                or (b.max_stay_min is not None and float(r["dwell_s"]) > b.max_stay_min * 60),
                "max_stay_min": b.max_stay_min,
                "data_source_type": r["data_source_type"],
            }
            for r in recent
        ],
    }


@router.get("/config")
def map_config(state: ApiState = Depends(get_state)) -> dict[str, Any]:
    """What the web map needs to start: basemap setting and the extent of the bays."""
    live = state.live
    bounds = None
    if live.bays:
        bounds = [
            float(live.lon.min()),
            float(live.lat.min()),
            float(live.lon.max()),
            float(live.lat.max()),
        ]
    return {
        "tile_url": state.settings.api_tile_url,
        "time_zone": state.settings.api_time_zone,
        "bounds": bounds,
        "bays": len(live.bays),
        "view": initial_view(state),
        "data_end_ms": latest_session_ms(state),
        "basemap": basemap_info(state),
    }


# -- Basemap, initial view and activity (issue 15) --------------------------------------

BasemapLayer = Literal["streets", "water", "parks", "areas"]
MAX_ACTIVITY_RANGE_MS = 92 * 86_400_000
_FAR_M = 50_000.0  # bays further than this from the median bay are outliers for the view


def initial_view(state: ApiState) -> list[float] | None:
    """[west, south, east, north] the map opens on: the configured view, else the bounds
    of the bays within 50 km of the median bay (a demo mixing a city with a few sample
    cameras abroad opens on the city)."""
    if state.settings.api_default_view is not None:
        return list(state.settings.api_default_view)
    live = state.live
    if not live.bays:
        return None
    lon, lat = np.asarray(live.lon, dtype=float), np.asarray(live.lat, dtype=float)
    lon0, lat0 = float(np.median(lon)), float(np.median(lat))
    dx = (lon - lon0) * 111_320.0 * np.cos(np.radians(lat0))
    dy = (lat - lat0) * 110_540.0
    near = np.hypot(dx, dy) <= _FAR_M
    return [
        float(lon[near].min()),
        float(lat[near].min()),
        float(lon[near].max()),
        float(lat[near].max()),
    ]


def latest_session_ms(state: ApiState) -> int | None:
    """Start of the latest stored session: the map's default date range ends there.

    Also starts reading the sessions for ``/map/activity`` in the background (the map
    asks for its config when it opens)."""
    import threading

    from sqlalchemy import func, select

    from api.activity import warm

    threading.Thread(target=warm, args=(state.store,), daemon=True, name="activity-warm").start()

    from occupancy.storage.store import sessions

    with state.store.engine.connect() as conn:
        v = conn.execute(select(func.max(sessions.c.start_ms))).scalar()
    return None if v is None else int(v)


def basemap_info(state: ApiState) -> dict[str, Any]:
    """Which basemap the web map draws: ``local`` layers, ``online`` tiles or ``none``."""
    from occupancy.inventory.basemap import read_manifest

    s = state.settings
    manifest = read_manifest(s.basemap_dir) if s.api_basemap in ("auto", "local") else None
    if manifest is not None:
        return {
            "mode": "local",
            "layers": manifest.get("layers", {}),
            "bounds": manifest.get("bounds"),
            "attribution": manifest.get("attribution"),
        }
    if s.api_basemap in ("auto", "online") and s.api_tile_url:
        return {"mode": "online", "tile_url": s.api_tile_url}
    return {"mode": "none"}


@router.get("/basemap/{layer}", responses=_GJ, response_class=Response)
def basemap_layer(layer: BasemapLayer, state: ApiState = Depends(get_state)) -> Response:
    """One layer of the local basemap built by ``baywatch basemap build`` (GeoJSON,
    © OpenStreetMap contributors, ODbL). 404 when no local basemap was built."""
    path = state.settings.basemap_dir / f"{layer}.geojson"
    if not path.is_file():
        raise HTTPException(404, "no local basemap: run `baywatch basemap build OSM_PBF`")
    return Response(path.read_bytes(), media_type=GEOJSON)


def _watching_devices(
    state: ApiState, bays: dict[str, Any], start_ms: int, end_ms: int
) -> set[str]:
    """The cameras of ``bays`` that watched at least one hour of [start_ms, end_ms), by
    the statistics' rule (``unwatched_intervals``, ``offline_hours``: an hour counts as
    observed only where a run covered the majority of it and comms were up)."""
    import pandas as pd

    from occupancy.domain.states import COMMS_EVENTS
    from occupancy.statistics import hourly as stats
    from occupancy.storage.store import now_ms

    devices = sorted({str(b.device_id) for b in bays.values() if b.device_id is not None})
    if not devices:
        return set()
    tz = state.settings.api_time_zone
    comms = state.store.events_frame(end_ms=end_ms, event_types=[str(e) for e in COMMS_EVENTS])
    offline = stats.unwatched_intervals(
        comms, state.store.runs_frame(), start_ms, end_ms, now_ms=now_ms(), tz=tz
    )
    # One pseudo-bay per device: its hours are the device's.
    zones = pd.DataFrame({"curb_zone_id": devices, "device_id": devices})
    empty = pd.DataFrame({"curb_zone_id": [], "start_ms": [], "end_ms": []})
    p = stats.prepare(empty, zones, offline=offline)
    t0, n_hours = stats.hour_grid(start_ms, end_ms, tz)
    _, off = stats.offline_hours(p, t0, n_hours)
    seen = np.flatnonzero(~off.all(axis=1))
    return {devices[int(i)] for i in seen}


@router.get("/activity", responses=_GJ, response_class=Response)
def map_activity(
    start_ms: int = Query(ge=0, le=10**14, description="window start, ms since the epoch"),
    end_ms: int = Query(ge=0, le=10**14, description="window end (exclusive), at most 92 days"),
    metric: Literal["double_parking", "sessions", "overstays", "misuse", "dwell_min"] = Query(
        "double_parking", description="what 'value' holds (per matching day; dwell: mean min)"
    ),
    group: Literal["bay", "street", "area", "h3"] = Query("bay"),
    hour_from: int = Query(0, ge=0, le=23, description="local start hour, inclusive"),
    hour_to: int = Query(24, ge=1, le=24, description="local start hour, exclusive"),
    day_type: Literal["all", "working", "saturday", "sunday_holiday"] = Query("all"),
    vehicle_type: list[VehicleType] | None = Query(
        None, max_length=10, description="count only these vehicle types"
    ),
    regime: Literal["all", "permanent", "periodic"] = Query(
        "all", description="permanent: delivery-only 24/7 (ZL permanente); periodic: hours"
    ),
    area: str | None = Query(None, max_length=100),
    resolution: int = Query(9, ge=5, le=12, description="H3 resolution for group=h3"),
    bbox: BBox | None = Depends(bbox_param),
    data: DataKind = DATA_QUERY,
    state: ApiState = Depends(get_state),
) -> Response:
    """Stops, double parking, overstays and misuse counted per bay, street, area or H3
    cell under the filters (rules in ``api.activity``). Streets and H3 cells get a
    MultiPoint / hexagon geometry derived from the bays (not a surveyed street line);
    streets also carry ``street_key`` to join the basemap's street lines."""
    from api.activity import (
        ActivityFilter,
        group_key,
        matching_days,
        per_bay,
        regime_of,
        session_frame,
        summarise,
    )

    if end_ms <= start_ms or end_ms - start_ms > MAX_ACTIVITY_RANGE_MS:
        raise bad_request("start_ms must be before end_ms, at most 92 days apart")
    if hour_to <= hour_from:
        raise bad_request("hour_to must be after hour_from")
    f = ActivityFilter(
        start_ms,
        end_ms,
        hour_from,
        hour_to,
        day_type,
        tuple(vehicle_type) if vehicle_type else None,
        regime,
    )
    live = state.live
    idx = [
        i
        for i in _selected(state, bbox, area)
        if regime == "all" or regime_of(live.bays[i]) == regime
    ]
    bays = {live.bays[i].curb_zone_id: live.bays[i] for i in idx}
    tz, country = state.settings.api_time_zone, state.settings.api_holidays
    frame = session_frame(state.store, f, tz, country, list(bays))
    if not frame.empty:
        # Observed or simulated sessions, never both in one count.
        is_sim = (frame["data_source_type"].astype(str) == "simulated").to_numpy()
        frame = frame[is_sim] if data == "simulated" else frame[~is_sim]
    acts = per_bay(frame, bays)
    n_days = len(matching_days(f, tz, country))
    snap = state.profiles.snapshot
    if data == "simulated":
        sources = dict.fromkeys(snap.simulated, "simulated")
    else:
        # A bay a camera watched during the window is observed even without any stop (0
        # is then true); a bay no camera watches, or whose camera's runs covered no hour
        # of the window, has no observed count (null).
        watching = _watching_devices(state, bays, start_ms, end_ms)
        sources = {
            z: "camera"
            for z in snap.observed
            if z not in bays or bays[z].device_id is None or bays[z].device_id in watching
        }
        sources |= {z: "camera" for z, b in bays.items() if b.device_id in watching}
    groups: dict[str, list[Any]] = {}
    for b in bays.values():
        key = group_key(b, group, resolution)
        if key is not None:
            groups.setdefault(key, []).append(b)
    areas = state.areas() if group == "area" else {}
    feats: list[dict[str, Any]] = []
    for key, members in groups.items():
        props = summarise(members, acts, sources, metric, n_days)
        first = members[0]
        geometry: dict[str, Any]
        if group == "bay":
            geometry = {"type": "Point", "coordinates": [first.lon, first.lat]}
            props = {
                "curb_zone_id": key,
                "name": first.name,
                "street_name": first.street_name,
                "area_id": first.area_id,
                "regime": regime_of(first),
                **props,
            }
        elif group == "street":
            geometry = {"type": "MultiPoint", "coordinates": [[b.lon, b.lat] for b in members]}
            props = {"street_key": key, "name": first.street_name, **props}
        elif group == "area":
            a = areas.get(key)
            geometry = (
                a.geometry
                if a is not None
                else {"type": "MultiPoint", "coordinates": [[b.lon, b.lat] for b in members]}
            )
            props = {"area_id": key, "name": first.area_name, **props}
        else:
            ring = [[lng, lat] for lat, lng in h3.cell_to_boundary(key)]
            ring.append(ring[0])
            geometry = {"type": "Polygon", "coordinates": [ring]}
            props = {"h3": key, **props}
        feats.append({"type": "Feature", "geometry": geometry, "properties": props})
    feats.sort(
        key=lambda ft: -(ft["properties"]["value"] if ft["properties"]["value"] is not None else -1)
    )
    return geojson(
        {
            "type": "FeatureCollection",
            "metric": metric,
            "group": group,
            "days": n_days,
            "data_source": data,
            "simulated": data == "simulated",
            "filter": {
                "start_ms": start_ms,
                "end_ms": end_ms,
                "hour_from": hour_from,
                "hour_to": hour_to,
                "day_type": day_type,
                "vehicle_type": vehicle_type,
                "regime": regime,
                "area": area,
            },
            "features": feats,
        }
    )
