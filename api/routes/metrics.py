"""CDS 1.0 Metrics API as CSV: sessions and hourly aggregates (key, scope read).

Aggregates are computed by ``occupancy.statistics.hourly.hourly_aggregates`` over the selected
zones and window, with camera offline time taken from the events, so an hour a
camera mostly missed reads -1 as CDS prescribes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any, Literal

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response

from api.cds import CDS_CSV, accept_cds_csv, cds_csv, doc_responses
from api.geo import BBox
from api.keys import Scope
from api.params import Circle, TimeWindow, bad_request, bbox_param, circle_cm_param, window_param
from api.queries import session_event_ids, session_rows
from api.security import require
from api.state import ApiState, get_state
from occupancy.statistics.exports import CDS_AGGREGATE_COLUMNS, CDS_SESSION_COLUMNS
from occupancy.storage.store import now_ms

router = APIRouter(
    prefix="/metrics",
    tags=["CDS Metrics"],
    dependencies=[Depends(require(Scope.READ)), Depends(accept_cds_csv)],
)

_CSV = doc_responses(CDS_CSV, "CDS CSV")
MAX_AGG_WINDOW_MS = 31 * 86_400_000
# One answer holds at most this many zone-hours (x 4 metrics rows): bounds memory/time.
MAX_CELLS = 500_000

# CDS columns, then ours: whether a row was observed by a camera or simulated.
SESSION_COLUMNS = [*CDS_SESSION_COLUMNS, "data_source_type"]
AGGREGATE_COLUMNS = list(CDS_AGGREGATE_COLUMNS)
MetricType = Literal["total_sessions", "turnover", "average_dwell_time", "occupancy_percent"]


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
    chosen: list[str] | None = None
    if place_type == "zone":
        if place_id not in live.index:
            raise HTTPException(404, f"no curb zone with id {place_id!r}")
        chosen = [str(place_id)]
    elif place_type == "area":
        area = state.areas().get(str(place_id))
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
    max_rows: int = Query(200_000, ge=1, le=1_000_000, description="refuse larger answers"),
    state: ApiState = Depends(get_state),
) -> Response:
    """Parking sessions overlapping the window, one CSV row each."""
    zones = _select_zones(state, curb_place_type, curb_place_id, bbox, circle)
    rows = session_rows(
        state.store,
        start_ms=window.start_ms,
        end_ms=window.end_ms,
        zone_ids=zones,
        limit=max_rows + 1,
    )
    if len(rows) > max_rows:
        raise bad_request(
            f"more than {max_rows:,} sessions match: narrow the time window or the area"
        )
    rows = [r for r in rows if r["kind"] == "park"]
    ev = session_event_ids(state.store, [r["session_id"] for r in rows])
    area_of = {b.curb_zone_id: b.area_id for b in state.live.bays}
    out = []
    for r in rows:
        sid, area = r["session_id"], area_of.get(r["curb_zone_id"] or "")
        out.append(
            {
                "session_type": "parking",
                "event_session_id": sid,
                "event_id_start": ev.get((sid, "park_start")),
                "event_id_end": ev.get((sid, "park_end")),
                "event_location_start_latitude": r["lat"],
                "event_location_start_longitude": r["lon"],
                "event_location_end_latitude": r["lat"],
                "event_location_end_longitude": r["lon"],
                "event_time_start": r["start_ms"],
                # A session still open at the end of observation has no end event.
                "event_time_end": None if r["end_censored"] else r["end_ms"],
                "curb_zone_id": r["curb_zone_id"],
                "curb_area_ids": area,
                "curb_space_id": None,
                "vehicle_length": r["vehicle_length"],
                "vehicle_type": r["vehicle_type"],
                "data_source_type": r["data_source_type"],
            }
        )
    return cds_csv(_csv(SESSION_COLUMNS, out))


@router.get("/aggregates", responses=_CSV, response_class=Response)
def query_aggregates(
    curb_place_type: Literal["area", "zone", "space"] | None = Query(None),
    curb_place_id: str | None = Query(None, max_length=100),
    metric_type: MetricType | None = Query(None),
    bbox: BBox | None = Depends(bbox_param),
    circle: Circle | None = Depends(circle_cm_param),
    window: TimeWindow = Depends(window_param),
    state: ApiState = Depends(get_state),
) -> Response:
    """Hourly CDS aggregates per zone (at most 31 days; default: the last 7 days of data)."""
    zones = _select_zones(state, curb_place_type, curb_place_id, bbox, circle)
    end = window.end_ms
    if end is None:
        latest = session_rows(
            state.store, start_ms=None, end_ms=None, zone_ids=zones, limit=1, newest_first=True
        )
        end = int(latest[0]["end_ms"]) + 1 if latest else now_ms()
    start = window.start_ms if window.start_ms is not None else end - 7 * 86_400_000
    if end - start > MAX_AGG_WINDOW_MS:
        raise bad_request("the time window may span at most 31 days")
    table = aggregates_frame(state, zones, start, end)
    if metric_type is not None and not table.empty:
        table = table[table["metric_type"] == metric_type]
    if curb_place_type == "area" and not table.empty:
        table = _area_rollup(table, str(curb_place_id))
    return cds_csv(_csv(AGGREGATE_COLUMNS, table.to_dict("records")))


def aggregates_frame(
    state: ApiState, zone_ids: list[str] | None, start_ms: int, end_ms: int
) -> pd.DataFrame:
    """CDS aggregate rows (one per zone, local hour and metric) from ``occupancy.statistics.hourly``."""
    from occupancy.statistics import hourly as stats

    sessions = state.store.sessions_frame(start_ms=start_ms, end_ms=end_ms)
    zones = state.store.zones_frame()
    if zone_ids is not None:
        keep = set(zone_ids)
        zones = zones[zones["curb_zone_id"].isin(keep)]
        sessions = sessions[sessions["curb_zone_id"].isin(keep)]
    if zones.empty:
        return pd.DataFrame(columns=AGGREGATE_COLUMNS)
    cells = len(zones) * -(-(end_ms - start_ms) // 3_600_000)
    if cells > MAX_CELLS:
        raise bad_request(
            f"{len(zones):,} zones x {cells // len(zones):,} hours is too much for one answer "
            f"(at most {MAX_CELLS:,} zone-hours): narrow the area or the time window"
        )
    comms = state.store.events_frame(end_ms=end_ms, event_types=["comms_lost", "comms_restored"])
    offline = stats.offline_intervals(comms, end_ms)
    wide = stats.hourly_aggregates(
        sessions,
        zones,
        start_ms=start_ms,
        end_ms=end_ms,
        tz=state.settings.api_time_zone,
        offline=offline,
    )
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
        # NaN (e.g. no session: no mean dwell) is written as an empty CSV cell.
        part["value"] = wide[metric].round(4).astype(object).where(wide[metric].notna(), None)
        parts.append(part)
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
    if not parts:
        return pd.DataFrame(columns=AGGREGATE_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    out["curb_place_type"], out["curb_place_id"] = "area", area_id
    return out.sort_values(["metric_type", "date", "hour"])[AGGREGATE_COLUMNS]
