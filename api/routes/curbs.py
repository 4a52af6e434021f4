"""CDS 1.0 Curbs API: zones, areas and policies (public, no key needed)."""

from __future__ import annotations

import numpy as np
import shapely
from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import Response

from api.cds import CDS_JSON, accept_cds_json, cds_json, doc_responses
from api.curbs_model import area_object, policy_id, policy_object, zone_object
from api.geo import BBox
from api.params import Circle, bad_request, bbox_param, circle_cm_param
from api.security import public
from api.state import ApiState, get_state
from occupancy.domain.geo import MetricProjection

router = APIRouter(
    prefix="/curbs",
    tags=["CDS Curbs"],
    dependencies=[Depends(public), Depends(accept_cds_json)],
)

_CDS = doc_responses(CDS_JSON, "CDS envelope")


def _zone_indices(state: ApiState, bbox: BBox | None, circle: Circle | None) -> list[int]:
    live = state.live
    if circle is not None:
        hits = live.near(circle.lat, circle.lng, circle.radius_m)
        idx = [i for i, _ in hits]
        if bbox is not None:
            inside = set(live.in_bbox(bbox))
            idx = [i for i in idx if i in inside]
        return idx
    if bbox is not None:
        return live.in_bbox(bbox)
    return list(range(len(live.bays)))


@router.get("/zones", responses=_CDS, response_class=Response)
def query_zones(
    area: str | None = Query(None, max_length=100, description="curb_area_id"),
    include_geometry: bool = Query(True),
    time: int | None = Query(
        None, ge=0, le=10**14, description="validity instant, ms since the epoch"
    ),
    bbox: BBox | None = Depends(bbox_param),
    circle: Circle | None = Depends(circle_cm_param),
    state: ApiState = Depends(get_state),
) -> Response:
    """Curb zones, filtered by area, bounding box and/or distance (nearest first)."""
    live = state.live
    idx = _zone_indices(state, bbox, circle)
    if area is not None:
        if area not in state.areas():
            raise HTTPException(404, f"no curb area with id {area!r}")
        idx = [i for i in idx if live.bays[i].area_id == area]
    if time is not None:
        idx = [i for i in idx if _valid_at(live.bays[i].published_ms, time)]
    zones = [
        zone_object(
            live.bays[i], live.state(live.bays[i].curb_zone_id), include_geometry=include_geometry
        )
        for i in idx
    ]
    return cds_json({"zones": zones}, **state.envelope_args())


def _valid_at(published_ms: int | None, t: int) -> bool:
    return published_ms is None or published_ms <= t


@router.get("/zones/{curb_zone_id}", responses=_CDS, response_class=Response)
def fetch_zone(
    curb_zone_id: str = Path(max_length=64),
    time: int | None = Query(None, ge=0, le=10**14),
    state: ApiState = Depends(get_state),
) -> Response:
    i = state.live.index.get(curb_zone_id)
    if i is None:
        raise HTTPException(404, f"no curb zone with id {curb_zone_id!r}")
    b = state.live.bays[i]
    if time is not None and not _valid_at(b.published_ms, time):
        raise HTTPException(404, f"curb zone {curb_zone_id!r} was not valid at {time}")
    return cds_json(zone_object(b, state.live.state(curb_zone_id)), **state.envelope_args())


@router.get("/areas", responses=_CDS, response_class=Response)
def query_areas(
    bbox: BBox | None = Depends(bbox_param),
    circle: Circle | None = Depends(circle_cm_param),
    state: ApiState = Depends(get_state),
) -> Response:
    areas = list(state.areas().values())
    if bbox is not None:
        box = shapely.box(bbox.min_lng, bbox.min_lat, bbox.max_lng, bbox.max_lat)
        areas = [a for a in areas if a.shape.intersects(box)]
    if circle is not None:
        proj = MetricProjection.for_points([circle.lng], [circle.lat])
        px, py = proj.to_xy(np.array([circle.lng]), np.array([circle.lat]))
        centre = shapely.Point(px[0], py[0])

        def dist(a_shape: shapely.Geometry) -> float:
            coords = np.asarray(a_shape.exterior.coords)
            x, y = proj.to_xy(coords[:, 0], coords[:, 1])
            return float(shapely.Polygon(np.column_stack([x, y])).distance(centre))

        scored = [(dist(a.shape), a) for a in areas]
        areas = [a for d, a in sorted(scored, key=lambda t: t[0]) if d <= circle.radius_m]
    return cds_json({"areas": [area_object(a) for a in areas]}, **state.envelope_args())


@router.get("/areas/{curb_area_id}", responses=_CDS, response_class=Response)
def fetch_area(
    curb_area_id: str = Path(max_length=100), state: ApiState = Depends(get_state)
) -> Response:
    a = state.areas().get(curb_area_id)
    if a is None:
        raise HTTPException(404, f"no curb area with id {curb_area_id!r}")
    return cds_json(area_object(a), **state.envelope_args())


def _policies(state: ApiState) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for b in state.live.bays:
        pid = policy_id(b)
        if pid not in out:
            out[pid] = policy_object(b, b.published_ms or b.last_updated_ms)
    return out


@router.get("/policies", responses=_CDS, response_class=Response)
def query_policies(
    ids: str | None = Query(None, max_length=10_000, description="comma-separated policy ids"),
    state: ApiState = Depends(get_state),
) -> Response:
    pol = _policies(state)
    if ids is not None:
        wanted = [s.strip() for s in ids.split(",") if s.strip()]
        if not wanted:
            raise bad_request("ids: give at least one policy id")
        chosen = [pol[p] for p in wanted if p in pol]
    else:
        chosen = list(pol.values())
    return cds_json({"policies": chosen}, **state.envelope_args())


@router.get("/policies/{curb_policy_id}", responses=_CDS, response_class=Response)
def fetch_policy(
    curb_policy_id: str = Path(max_length=64), state: ApiState = Depends(get_state)
) -> Response:
    p = _policies(state).get(curb_policy_id)
    if p is None:
        raise HTTPException(404, f"no curb policy with id {curb_policy_id!r}")
    return cds_json(p, **state.envelope_args())
