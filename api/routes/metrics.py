"""CDS Metrics API (1.0 and 1.1) as CSV: sessions and hourly aggregates (key, scope read).

Aggregates are computed by ``occupancy.statistics.hourly.hourly_aggregates`` over the
selected zones and window. An hour counts as observed only where a camera watched it:
time outside every run's footage (``unobserved_intervals``) and time between
``comms_lost`` and ``comms_restored`` are offline, so an hour a camera mostly missed
reads -1 as CDS prescribes. Sizes are checked before anything is loaded: a request
over ``MAX_CELLS`` zone-hours or ``max_rows`` sessions is a 400 naming the limit.
Simulated sessions are never mixed with observed ones: ``data_source=observed``
(the default) or ``simulated`` chooses, and every session row says which it is.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any, Literal

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response

from api.cds import CDS_CSV, cds_csv, cds_csv_version, doc_responses
from api.curbs_model import cds_ids, cds_uuid, vehicle_type_for
from api.geo import BBox
from api.keys import Scope
from api.params import Circle, TimeWindow, bad_request, bbox_param, circle_cm_param, window_param
from api.queries import count_sessions, session_event_ids, session_rows, sessions_frame
from api.security import require
from api.state import ApiState, get_state
from occupancy.domain.states import COMMS_EVENTS
from occupancy.statistics.exports import CDS_AGGREGATE_COLUMNS, CDS_SESSION_COLUMNS
from occupancy.storage.store import now_ms

router = APIRouter(
    prefix="/metrics",
    tags=["CDS Metrics"],
    dependencies=[Depends(require(Scope.READ)), Depends(cds_csv_version)],
)

_CSV = doc_responses(CDS_CSV, "CDS CSV")
MAX_AGG_WINDOW_MS = 31 * 86_400_000
# One answer holds at most this many zone-hours (x 4 metrics rows): bounds memory/time.
MAX_CELLS = 500_000

# CDS columns, then ours: "true" where a row comes from simulated data.
SESSION_COLUMNS = [*CDS_SESSION_COLUMNS, "simulated"]
AGGREGATE_COLUMNS = list(CDS_AGGREGATE_COLUMNS)
MetricType = Literal["total_sessions", "turnover", "average_dwell_time", "occupancy_percent"]
DataSource = Literal["observed", "simulated"]


def _sources(data_source: DataSource) -> list[str]:
    """Stored ``data_source_type`` values of observed or of simulated data."""
    return ["simulated"] if data_source == "simulated" else ["camera"]


def _select_zones(
    state: ApiState,
    place_type: str | None,
    place_id: str | None,
    bbox: BBox | None,
    circle: Circle | None,
) -> list[str] | None:
    """Zone ids the filters select (ordered by distance for a circle); None = all."""
    if (place_type is None) != (place_id is None):
        raise bad_request("curb_place_type and curb_place_id must be given together")
    live = state.live
    ids = cds_ids(state)
    chosen: list[str] | None = None
    if place_type == "zone":
        zone = ids.find_zone(str(place_id))
        if zone is None:
            raise HTTPException(404, f"no curb zone with id {place_id!r}")
        chosen = [zone]
    elif place_type == "area":
        stored = ids.find_area(str(place_id))
        area = None if stored is None else state.areas().get(stored)
        if area is None:
            raise HTTPException(404, f"no curb area with id {place_id!r}")
        chosen = list(area.zone_ids)
    elif place_type == "space":
        raise HTTPException(404, "this server has no curb spaces")
    if bbox is not None:
        inside = {live.bays[i].curb_zone_id for i in live.in_bbox(bbox)}
        chosen = [z for z in (chosen if chosen is not None else inside) if z in inside]
    if circle is not None:
        near = [
            live.bays[i].curb_zone_id for i, _ in live.near(circle.lat, circle.lng, circle.radius_m)
        ]
        keep = set(chosen) if chosen is not None else None
        chosen = [z for z in near if keep is None or z in keep]
    return chosen


def _csv(columns: Sequence[str], rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: "" if v is None else v for k, v in r.items()})
    return buf.getvalue()


@router.get("/sessions", responses=_CSV, response_class=Response)
def query_sessions(
    curb_place_type: Literal["area", "zone", "space"] | None = Query(None),
    curb_place_id: str | None = Query(None, max_length=100),
    bbox: BBox | None = Depends(bbox_param),
    circle: Circle | None = Depends(circle_cm_param),
    window: TimeWindow = Depends(window_param),
    data_source: DataSource = Query("observed", description="observed or simulated sessions"),
    max_rows: int = Query(200_000, ge=1, le=1_000_000, description="refuse larger answers"),
    version: str = Depends(cds_csv_version),
    state: ApiState = Depends(get_state),
) -> Response:
    """Parking sessions overlapping the window, one CSV row each."""
    zones = _select_zones(state, curb_place_type, curb_place_id, bbox, circle)
    sources = _sources(data_source)
    n = count_sessions(
        state.store,
        start_ms=window.start_ms,
        end_ms=window.end_ms,
        zone_ids=zones,
        sources=sources,
    )
    if n > max_rows:
        raise bad_request(
            f"{n:,} sessions match, more than max_rows={max_rows:,}: "
            "narrow the time window or the area"
        )
    rows = session_rows(
        state.store,
        start_ms=window.start_ms,
        end_ms=window.end_ms,
        zone_ids=zones,
        sources=sources,
        kind="park",
    )
    ev = session_event_ids(state.store, [r["session_id"] for r in rows])
    ids = cds_ids(state)
    area_of = {b.curb_zone_id: b.area_id for b in state.live.bays}

    def uid(kind: str, v: str | None) -> str | None:
        return None if v is None else cds_uuid(kind, v)

    out = []
    for r in rows:
        sid, zone = r["session_id"], r["curb_zone_id"]
        area = area_of.get(zone or "")
        out.append(
            {
                "session_type": "parking",
                "event_session_id": cds_uuid("session", sid),
                "event_id_start": uid("event", ev.get((sid, "park_start"))),
                "event_id_end": uid("event", ev.get((sid, "park_end"))),
                "event_location_start_latitude": r["lat"],
                "event_location_start_longitude": r["lon"],
                "event_location_end_latitude": r["lat"],
                "event_location_end_longitude": r["lon"],
                "event_time_start": r["start_ms"],
                # A session still open at the end of observation has no end event.
                "event_time_end": None if r["end_censored"] else r["end_ms"],
                "curb_zone_id": None if zone is None else ids.zone(zone),
                "curb_area_ids": None if not area else ids.area(area),
                "curb_space_id": None,
                "vehicle_length": r["vehicle_length"] or None,
                "vehicle_type": vehicle_type_for(r["vehicle_type"], version),
                "simulated": "true" if r["data_source_type"] == "simulated" else "false",
            }
        )
    return cds_csv(_csv(SESSION_COLUMNS, out), version)


@router.get("/aggregates", responses=_CSV, response_class=Response)
def query_aggregates(
    curb_place_type: Literal["area", "zone", "space"] | None = Query(None),
    curb_place_id: str | None = Query(None, max_length=100),
    metric_type: MetricType | None = Query(None),
    bbox: BBox | None = Depends(bbox_param),
    circle: Circle | None = Depends(circle_cm_param),
    window: TimeWindow = Depends(window_param),
    data_source: DataSource = Query("observed", description="observed or simulated sessions"),
    version: str = Depends(cds_csv_version),
    state: ApiState = Depends(get_state),
) -> Response:
    """Hourly CDS aggregates per zone (at most 31 days; default: the last 7 days of data).

    Hours nobody observed read -1; a metric with no value in an observed hour (the
    mean dwell of an hour without sessions) has no row rather than an empty value.
    """
    zones = _select_zones(state, curb_place_type, curb_place_id, bbox, circle)
    end = window.end_ms
    sources = _sources(data_source)
    n_zones = len(state.live.bays) if zones is None else len(set(zones))
    span = (
        end - window.start_ms
        if end is not None and window.start_ms is not None
        else DEFAULT_AGG_WINDOW_MS
    )
    _check_size(n_zones, span)  # before any query: a city-wide default is refused at once
    if end is None:
        latest = session_rows(
            state.store,
            start_ms=None,
            end_ms=None,
            zone_ids=zones,
            limit=1,
            newest_first=True,
            sources=sources,
        )
        end = int(latest[0]["end_ms"]) + 1 if latest else now_ms()
    start = window.start_ms if window.start_ms is not None else end - DEFAULT_AGG_WINDOW_MS
    if end - start > MAX_AGG_WINDOW_MS:
        raise bad_request("the time window may span at most 31 days")
    table = aggregates_frame(state, zones, start, end, sources=sources)
    if metric_type is not None and not table.empty:
        table = table[table["metric_type"] == metric_type]
    if curb_place_type == "area" and not table.empty:
        area_uuid = cds_ids(state).area(cds_ids(state).find_area(str(curb_place_id)) or "")
        table = _area_rollup(table, area_uuid)
    elif not table.empty:
        ids = cds_ids(state)
        table = table.assign(curb_place_id=[ids.zone(z) for z in table["curb_place_id"]])
    return cds_csv(_csv(AGGREGATE_COLUMNS, table.to_dict("records")), version)


DEFAULT_AGG_WINDOW_MS = 7 * 86_400_000


def _check_size(n_zones: int, span_ms: int) -> None:
    """400 when ``n_zones`` x the hours of ``span_ms`` exceed ``MAX_CELLS``."""
    hours = -(-span_ms // 3_600_000)
    if n_zones * hours > MAX_CELLS:
        raise bad_request(
            f"{n_zones:,} zones x {hours:,} hours is too much for one answer "
            f"(at most {MAX_CELLS:,} zone-hours): narrow the area or the time window"
        )


def aggregates_frame(
    state: ApiState,
    zone_ids: list[str] | None,
    start_ms: int,
    end_ms: int,
    *,
    sources: list[str] | None = None,
) -> pd.DataFrame:
    """CDS aggregate rows (one per zone, local hour and metric; stored zone ids).

    Raises a 400 before loading anything when the request covers more than
    ``MAX_CELLS`` zone-hours. ``sources`` keeps sessions of those
    ``data_source_type`` values (default: all).
    """
    from occupancy.statistics import hourly as stats

    _check_size(len(state.live.bays) if zone_ids is None else len(set(zone_ids)), end_ms - start_ms)
    zones = state.store.zones_frame()
    sessions = sessions_frame(
        state.store, start_ms=start_ms, end_ms=end_ms, zone_ids=zone_ids, sources=sources
    )
    if zone_ids is not None:
        keep = set(zone_ids)
        zones = zones[zones["curb_zone_id"].isin(keep)]
        sessions = sessions[sessions["curb_zone_id"].isin(keep)]
    if zones.empty:
        return pd.DataFrame(columns=AGGREGATE_COLUMNS)
    comms = state.store.events_frame(end_ms=end_ms, event_types=[str(e) for e in COMMS_EVENTS])
    offline = stats.unwatched_intervals(
        comms,
        state.store.runs_frame(),
        start_ms,
        end_ms,
        now_ms=now_ms(),
        tz=state.settings.api_time_zone,
    )
    wide = stats.hourly_aggregates(
        sessions,
        zones,
        start_ms=start_ms,
        end_ms=end_ms,
        tz=state.settings.api_time_zone,
        offline=offline,
    )
    if sources == ["camera"] and "device_id" in zones:
        # Observed data only: a bay no camera watches was observed in no hour (-1, not 0).
        unwatched = set(zones.loc[zones["device_id"].isna(), "curb_zone_id"].astype(str))
        if unwatched:
            blind = wide["curb_zone_id"].astype(str).isin(unwatched).to_numpy()
            wide = wide.copy()
            for metric in stats.CDS_METRICS:
                wide.loc[blind, metric] = stats.OFFLINE
    local = pd.DatetimeIndex(wide["local_hour"])
    base = pd.DataFrame(
        {
            "curb_place_type": "zone",
            "curb_place_id": wide["curb_zone_id"].astype(str).to_numpy(),
            "date": local.strftime("%Y-%m-%d"),
            "hour": local.hour,
        }
    )
    parts = []
    for metric in stats.CDS_METRICS:
        part = base.copy()
        part["metric_type"] = metric
        part["value"] = wide[metric].round(4).to_numpy()
        # No value (e.g. no session: no mean dwell) is no row: CDS values are never empty.
        parts.append(part[part["value"].notna()])
    return pd.concat(parts, ignore_index=True)[AGGREGATE_COLUMNS]


def _area_rollup(table: pd.DataFrame, area_id: str) -> pd.DataFrame:
    """Area aggregates: sums of counts, means of the rest, over hours the zones were seen."""
    seen = table[table["value"].notna() & (table["value"] != -1)]
    how = {"total_sessions": "sum", "turnover": "sum"}
    parts = []
    for metric, g in seen.groupby("metric_type"):
        agg = g.groupby(["date", "hour"], as_index=False)["value"].agg(how.get(str(metric), "mean"))
        agg["metric_type"] = metric
        parts.append(agg)
    keys = ["metric_type", "date", "hour"]
    # An hour none of the area's zones was observed stays -1 (CDS: source offline).
    unseen = table[table["value"] == -1][keys].drop_duplicates()
    if parts:
        seen_keys = pd.concat(parts, ignore_index=True)[keys]
        unseen = unseen.merge(seen_keys, on=keys, how="left", indicator=True)
        unseen = unseen[unseen["_merge"] == "left_only"][keys]
    parts.append(unseen.assign(value=-1.0))
    out = pd.concat(parts, ignore_index=True)
    if out.empty:
        return pd.DataFrame(columns=AGGREGATE_COLUMNS)
    out["curb_place_type"], out["curb_place_id"] = "area", area_id
    return out.sort_values(["metric_type", "date", "hour"])[AGGREGATE_COLUMNS]
