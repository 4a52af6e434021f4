"""CDS Curbs API (1.0 and 1.1): zones, areas, policies and, in 1.1, cameras as Curb Objects.

Public, no key needed. Ids in and out are CDS UUIDs (``api.curbs_model.cds_uuid``);
a stored id is accepted in filters too. Curb Spaces are not offered: 501.

The list endpoints are paginated (general-information.md "Pagination": "Endpoints may
use pagination, which must comply with the JSON API specification"): ``limit``
(default 1,000, at most 10,000, a larger one is a 400 naming the limit) and
``offset``, with ``links`` ``first``/``last``/``prev``/``next`` (``next`` null on the
last page). The page is cut from the selected ids before any object is built.
"""

from __future__ import annotations

import numpy as np
import shapely
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response

from api.cds import (
    CDS_JSON,
    Page,
    cds_json,
    cds_json_version,
    doc_responses,
    not_implemented,
    page_links,
    page_param,
)
from api.curbs_model import (
    all_policies,
    area_object,
    build_cameras,
    camera_object,
    cds_ids,
    zone_object,
)
from api.geo import BBox
from api.live import Bay
from api.params import Circle, bad_request, bbox_param, circle_cm_param
from api.security import public
from api.state import ApiState, get_state
from occupancy.domain.geo import MetricProjection

router = APIRouter(
    prefix="/curbs",
    tags=["CDS Curbs"],
    dependencies=[Depends(public), Depends(cds_json_version)],
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


def _valid_at(b: Bay, t: int) -> bool:
    published = b.published_ms if b.published_ms is not None else b.updated_ms
    return published <= t


def _zone(
    state: ApiState, b: Bay, version: str, include_geometry: bool = True
) -> dict[str, object]:
    return zone_object(
        b,
        state.live.state(b.curb_zone_id),
        cds_ids(state),
        version=version,
        include_geometry=include_geometry,
        simulated=state.live.simulated(b.curb_zone_id),
    )


@router.get("/zones", responses=_CDS, response_class=Response)
def query_zones(
    request: Request,
    area: str | None = Query(None, max_length=100, description="curb_area_id (UUID)"),
    include_geometry: bool = Query(True),
    time: int | None = Query(
        None, ge=0, le=10**14, description="validity instant, ms since the epoch"
    ),
    bbox: BBox | None = Depends(bbox_param),
    circle: Circle | None = Depends(circle_cm_param),
    page: Page = Depends(page_param),
    version: str = Depends(cds_json_version),
    state: ApiState = Depends(get_state),
) -> Response:
    """Curb zones, filtered by area, bounding box and/or distance (nearest first), one page."""
    live = state.live
    idx = _zone_indices(state, bbox, circle)
    if area is not None:
        stored = cds_ids(state).find_area(area)
        if stored is None:
            raise HTTPException(404, f"no curb area with id {area!r}")
        idx = [i for i in idx if live.bays[i].area_id == stored]
    if time is not None:
        idx = [i for i in idx if _valid_at(live.bays[i], time)]
    zones = [_zone(state, live.bays[i], version, include_geometry) for i in page.slice(idx)]
    return cds_json(
        {"zones": zones},
        version=version,
        links=page_links(request, page, len(idx)),
        **state.envelope_args(),
    )


@router.get("/zones/{curb_zone_id}", responses=_CDS, response_class=Response)
def fetch_zone(
    curb_zone_id: str = Path(max_length=64),
    time: int | None = Query(None, ge=0, le=10**14),
    version: str = Depends(cds_json_version),
    state: ApiState = Depends(get_state),
) -> Response:
    """One Curb Zone (CDS Curbs API, ``/curbs/zones/{id}``), at ``time`` if given."""
    stored = cds_ids(state).find_zone(curb_zone_id)
    i = None if stored is None else state.live.index.get(stored)
    if i is None:
        raise HTTPException(404, f"no curb zone with id {curb_zone_id!r}")
    b = state.live.bays[i]
    if time is not None and not _valid_at(b, time):
        raise HTTPException(404, f"curb zone {curb_zone_id!r} was not valid at {time}")
    return cds_json(_zone(state, b, version), version=version, **state.envelope_args())


@router.get("/areas", responses=_CDS, response_class=Response)
def query_areas(
    request: Request,
    bbox: BBox | None = Depends(bbox_param),
    circle: Circle | None = Depends(circle_cm_param),
    page: Page = Depends(page_param),
    version: str = Depends(cds_json_version),
    state: ApiState = Depends(get_state),
) -> Response:
    """Curb Areas (CDS Curbs API, ``/curbs/areas``), within a box or a circle if given."""
    areas = list(state.areas().values())
    if bbox is not None:
        box = shapely.box(bbox.min_lng, bbox.min_lat, bbox.max_lng, bbox.max_lat)
        areas = [a for a in areas if a.shape.intersects(box)]
    if circle is not None:
        # The areas' projection: a centre outside its domain is far from all of them.
        ring = np.vstack([np.zeros((0, 2)), *(np.asarray(a.shape.exterior.coords) for a in areas)])
        proj = MetricProjection.for_points(ring[:, 0], ring[:, 1])
        px, py = proj.to_xy(np.array([circle.lng]), np.array([circle.lat]))
        centre = shapely.Point(px[0], py[0])
        if not np.all(np.isfinite([px[0], py[0]])):
            areas = []  # outside the projection's domain: far from every area

        def dist(a_shape: shapely.Geometry) -> float:
            coords = np.asarray(a_shape.exterior.coords)
            x, y = proj.to_xy(coords[:, 0], coords[:, 1])
            return float(shapely.Polygon(np.column_stack([x, y])).distance(centre))

        scored = [(dist(a.shape), a) for a in areas]
        areas = [a for d, a in sorted(scored, key=lambda t: t[0]) if d <= circle.radius_m]
    ids = cds_ids(state)
    return cds_json(
        {"areas": [area_object(a, ids) for a in page.slice(areas)]},
        version=version,
        links=page_links(request, page, len(areas)),
        **state.envelope_args(),
    )


@router.get("/areas/{curb_area_id}", responses=_CDS, response_class=Response)
def fetch_area(
    curb_area_id: str = Path(max_length=100),
    version: str = Depends(cds_json_version),
    state: ApiState = Depends(get_state),
) -> Response:
    """One Curb Area (CDS Curbs API, ``/curbs/areas/{id}``)."""
    ids = cds_ids(state)
    stored = ids.find_area(curb_area_id)
    a = None if stored is None else state.areas().get(stored)
    if a is None:
        raise HTTPException(404, f"no curb area with id {curb_area_id!r}")
    return cds_json(area_object(a, ids), version=version, **state.envelope_args())


@router.get("/policies", responses=_CDS, response_class=Response)
def query_policies(
    request: Request,
    ids: str | None = Query(None, max_length=10_000, description="comma-separated policy ids"),
    page: Page = Depends(page_param),
    version: str = Depends(cds_json_version),
    state: ApiState = Depends(get_state),
) -> Response:
    """Curb Policies (CDS Curbs API, ``/curbs/policies``), all or the ids given."""
    pol = all_policies(state.live.bays, version)
    if ids is not None:
        wanted = [s.strip() for s in ids.split(",") if s.strip()]
        if not wanted:
            raise bad_request("ids: give at least one policy id")
        chosen = [pol[p] for p in wanted if p in pol]
    else:
        chosen = list(pol.values())
    return cds_json(
        {"policies": list(page.slice(chosen))},
        version=version,
        links=page_links(request, page, len(chosen)),
        **state.envelope_args(),
    )


@router.get("/policies/{curb_policy_id}", responses=_CDS, response_class=Response)
def fetch_policy(
    curb_policy_id: str = Path(max_length=64),
    version: str = Depends(cds_json_version),
    state: ApiState = Depends(get_state),
) -> Response:
    """One Curb Policy (CDS Curbs API, ``/curbs/policies/{id}``)."""
    p = all_policies(state.live.bays, version).get(curb_policy_id)
    if p is None:
        raise HTTPException(404, f"no curb policy with id {curb_policy_id!r}")
    return cds_json(p, version=version, **state.envelope_args())


# Not in the service's OpenAPI: there is nothing to call (CDS wants the 501 answer).
@router.get("/spaces", include_in_schema=False)
def query_spaces() -> Response:
    """Curb Spaces are not offered: a bay is one zone (501, as CDS prescribes)."""
    raise not_implemented("/curbs/spaces")


@router.get("/spaces/{curb_space_id}", include_in_schema=False)
def fetch_space(curb_space_id: str = Path(max_length=64)) -> Response:
    """Curb Spaces are not offered (501, as CDS prescribes)."""
    raise not_implemented("/curbs/spaces")


def _objects_version(version: str) -> None:
    if version == "1.0":
        raise HTTPException(406, "Curb Objects exist in CDS 1.1 only; ask for version=1.1")


@router.get("/objects", responses=_CDS, response_class=Response)
def query_objects(
    request: Request,
    zone: str | None = Query(None, max_length=64, description="curb_zone_id (UUID)"),
    time: int | None = Query(None, ge=0, le=10**14),
    page: Page = Depends(page_param),
    version: str = Depends(cds_json_version),
    state: ApiState = Depends(get_state),
) -> Response:
    """The cameras, as CDS 1.1 Curb Objects of type ``surveillance_camera``."""
    _objects_version(version)
    ids = cds_ids(state)
    cams = list(build_cameras(state.live.bays).values())
    if zone is not None:
        stored = ids.find_zone(zone)
        if stored is None:
            raise HTTPException(404, f"no curb zone with id {zone!r}")
        cams = [c for c in cams if stored in c.zone_ids]
    if time is not None:
        cams = [c for c in cams if c.published_ms <= time]
    return cds_json(
        {"objects": [camera_object(c, ids) for c in page.slice(cams)]},
        version=version,
        links=page_links(request, page, len(cams)),
        **state.envelope_args(),
    )


@router.get("/objects/{curb_object_id}", responses=_CDS, response_class=Response)
def fetch_object(
    curb_object_id: str = Path(max_length=200),
    version: str = Depends(cds_json_version),
    state: ApiState = Depends(get_state),
) -> Response:
    """One camera as a Curb Object (CDS 1.1 Curbs API, ``/curbs/objects/{id}``)."""
    _objects_version(version)
    ids = cds_ids(state)
    stored = ids.find_device(curb_object_id)
    cam = None if stored is None else build_cameras(state.live.bays).get(stored)
    if cam is None:
        raise HTTPException(404, f"no curb object with id {curb_object_id!r}")
    return cds_json(camera_object(cam, ids), version=version, **state.envelope_args())
