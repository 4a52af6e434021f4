"""Batch jobs: footage analyses and optimiser runs; submit, then poll (key, scope jobs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from api.jobs import Job
from api.keys import Scope
from api.params import bad_request
from api.security import require
from api.state import ApiState, get_state
from occupancy.domain.states import JobStatus
from optimiser.requests import PlacementJob, TimeslotJob

router = APIRouter(prefix="/jobs", tags=["Batch jobs"], dependencies=[Depends(require(Scope.JOBS))])


class JobIn(BaseModel):
    """A footage analysis job: the footage to analyse and the site (camera, bays, calibration)."""

    source: str = Field(
        min_length=1,
        max_length=4000,
        description="footage: a path readable by the server, or an http(s)/rtsp URL",
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


def check_source(source: str) -> None:
    """Refuse a job source the server must not or cannot read (400 with one line)."""
    scheme = urlparse(source).scheme.lower()
    if scheme in ("http", "https", "rtsp", "rtsps"):
        return
    if scheme not in ("", "file"):
        raise bad_request(
            f"source: unsupported URL scheme {scheme!r} (http, https, rtsp or a path)"
        )
    path = Path(urlparse(source).path if scheme == "file" else source)
    try:
        readable = path.is_file()
    except (OSError, ValueError):  # a name too long, or with a NUL byte
        readable = False
    if not readable:
        raise bad_request(f"source: {str(path)!r} is not a file the server can read")


@router.post("", status_code=202, response_model=JobOut)
def submit_job(job: JobIn, state: ApiState = Depends(get_state)) -> JobOut:
    """Queue footage for analysis; poll ``GET /jobs/{job_id}`` for progress."""
    check_source(job.source)
    from occupancy.config.site import SiteError, parse_site

    try:
        parse_site(job.site, Path("site"))
    except SiteError as exc:
        raise bad_request(str(exc)) from None
    return _out(state.jobs.submit(job.source, job.site))


@router.post("/placement", status_code=202, response_model=JobOut)
def submit_placement(request: PlacementJob, state: ApiState = Depends(get_state)) -> JobOut:
    """Queue an optimiser run on the database's bays and sessions of an area: where
    delivery bays should be. Its proposals land in ``GET /proposals`` (pending review).
    A body naming a file path or an output folder (``sources``, ``out_dir``) is a 400."""
    payload = request.model_dump(mode="json")
    return _out(state.jobs.submit(f"optimiser:placement:{request.area}", payload, kind="placement"))


@router.post("/timeslots", status_code=202, response_model=JobOut)
def submit_timeslots(request: TimeslotJob, state: ApiState = Depends(get_state)) -> JobOut:
    """Queue an optimiser run on an area: which of the city's delivery regimes each bay
    should have. Its proposals land in ``GET /proposals`` (pending review)."""
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
