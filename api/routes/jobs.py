"""Batch jobs: footage analyses and optimiser runs; submit, then poll (key, scope jobs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from api.jobs import Job
from api.keys import Scope
from api.params import bad_request
from api.security import require
from api.site_policy import SiteRefused, check_client_site
from api.sources import SourceRefused
from api.state import ApiState, get_state
from occupancy.domain.states import JobStatus
from optimiser.requests import PlacementJob, TimeslotJob

router = APIRouter(prefix="/jobs", tags=["Batch jobs"], dependencies=[Depends(require(Scope.JOBS))])


class JobIn(BaseModel):
    """A footage analysis job: the footage to analyse and the site (camera, bays, calibration)."""

    # A misspelt field is a 400 naming it (as in the site and the optimiser jobs), not ignored.
    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        min_length=1,
        max_length=4000,
        description=(
            "footage: 'upload:<id>' (from PUT /jobs/uploads), a path under a configured media "
            "root, or an http(s)/rtsp(s) URL under a configured prefix (api.sources)"
        ),
    )
    site: dict[str, Any] = Field(description="site description (cameras, bays) as JSON")


class JobOut(BaseModel):
    """A job as the API shows it: status, progress in [0, 1], error or result, times (ms)."""

    job_id: str
    kind: str
    source: str
    status: JobStatus
    progress: float
    error: str | None
    result: dict[str, Any] | None
    submitted_ms: int
    started_ms: int | None
    finished_ms: int | None


def _out(j: Job) -> JobOut:
    return JobOut(
        job_id=j.job_id,
        kind=j.kind,
        source=j.source,
        status=j.status,
        progress=j.progress,
        error=j.error,
        result=None if j.result is None else dict(j.result),
        submitted_ms=j.submitted_ms,
        started_ms=j.started_ms,
        finished_ms=j.finished_ms,
    )


class UploadOut(BaseModel):
    """An upload stored: its id, and the ``source`` a job names it by."""

    upload_id: str
    source: str = Field(description="what to give as a job's source")
    bytes: int


@router.put(
    "/uploads",
    status_code=201,
    response_model=UploadOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
    responses={413: {"description": "footage larger than api_max_upload_bytes"}},
)
async def upload_footage(request: Request, state: ApiState = Depends(get_state)) -> UploadOut:
    """Upload footage (the raw file as the body), streamed to the service's data folder.

    The size limit is ``api_max_upload_bytes``; the footage is deleted when the job that
    uses it ends.
    """
    policy = state.jobs.footage
    if policy is None:
        raise HTTPException(503, "uploads are not configured")
    upload_id, size = await policy.save_upload(request.stream())
    if size == 0:
        policy.upload_path(upload_id).unlink(missing_ok=True)
        raise bad_request("upload: the body is empty")
    return UploadOut(upload_id=upload_id, source=f"upload:{upload_id}", bytes=size)


@router.post("", status_code=202, response_model=JobOut)
def submit_job(job: JobIn, state: ApiState = Depends(get_state)) -> JobOut:
    """Queue footage for analysis; poll ``GET /jobs/{job_id}`` for progress.

    400 naming the field for a bad ``source`` or site, and for a site naming a path:
    ``detector.model`` is never accepted, ``source.uri`` only under the footage policy
    (``api.site_policy``)."""
    from occupancy.config.site import SiteError, parse_site

    policy = state.jobs.footage
    if policy is None:
        raise HTTPException(503, "footage jobs are not configured")
    try:
        source = policy.check(job.source)
    except SourceRefused as exc:
        raise bad_request(str(exc)) from None

    try:
        check_client_site(parse_site(job.site, Path("site")), policy)
    except (SiteError, SiteRefused) as exc:
        raise bad_request(str(exc)) from None
    return _out(state.jobs.submit(source, job.site))


def _check_area(request: PlacementJob | TimeslotJob, state: ApiState) -> None:
    """400 naming the field when the job could not run: a malformed ``period``, an
    ``area`` with no bays in this database (or no bays at all), an area with no
    session in the period and no declared demand layer, or ``rules.fixed_bay_ids``
    naming no bay of the area (``optimiser.store_inputs.check_area``)."""
    from api.jobs import SHOPS
    from optimiser.errors import OptimiserInputError
    from optimiser.store_inputs import check_area

    try:
        check_area(
            state.store,
            request.area,
            request.period,
            state.settings.api_time_zone,
            SHOPS.is_file(),
            request.rules.fixed_bay_ids,
        )
    except OptimiserInputError as exc:
        raise bad_request(str(exc)) from None


_REFUSED: dict[int | str, dict[str, Any]] = {
    400: {"description": "a path, a malformed period, an unknown or empty area, unknown fixed bays"}
}


@router.post("/placement", status_code=202, response_model=JobOut, responses=_REFUSED)
def submit_placement(request: PlacementJob, state: ApiState = Depends(get_state)) -> JobOut:
    """Queue an optimiser run on the database's bays and sessions of an area: where
    delivery bays should be. Its proposals land in ``GET /proposals`` (pending review).
    A body naming a file path or an output folder (``sources``, ``out_dir``) is a 400;
    so is a malformed ``period``, an ``area`` with no bays in the database, one with
    no session in the period and no declared demand layer, or ``rules.fixed_bay_ids``
    naming no bay of the area."""
    _check_area(request, state)
    payload = request.model_dump(mode="json")
    return _out(state.jobs.submit(f"optimiser:placement:{request.area}", payload, kind="placement"))


@router.post("/timeslots", status_code=202, response_model=JobOut, responses=_REFUSED)
def submit_timeslots(request: TimeslotJob, state: ApiState = Depends(get_state)) -> JobOut:
    """Queue an optimiser run on an area: which of the city's delivery regimes each bay
    should have. Its proposals land in ``GET /proposals`` (pending review). Refused
    (400) like a placement job."""
    _check_area(request, state)
    payload = request.model_dump(mode="json")
    return _out(state.jobs.submit(f"optimiser:timeslots:{request.area}", payload, kind="timeslots"))


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: str = PathParam(max_length=64), state: ApiState = Depends(get_state)) -> JobOut:
    """One job by id; 404 when unknown."""
    j = state.jobs.get(job_id)
    if j is None:
        raise HTTPException(404, f"no job with id {job_id!r}")
    return _out(j)


@router.get("", response_model=list[JobOut])
def list_jobs(
    status: JobStatus | None = Query(None),
    limit: int = Query(100, ge=1, le=1000),
    state: ApiState = Depends(get_state),
) -> list[JobOut]:
    """The newest jobs (at most ``limit``), of one status when given."""
    return [_out(j) for j in state.jobs.list(status, limit)]
