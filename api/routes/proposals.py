"""Optimiser proposals for planners: list and read them as GeoJSON, accept or reject them.

``GET /proposals`` and ``GET /proposals/{id}`` are public like the map (rate-limited
for anonymous callers); ``POST /proposals/{id}/review`` needs a key with scope
``review`` (or ``admin``) and records the key's name and the time.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from api.keys import Principal, Scope
from api.security import public, require
from api.state import ApiState, get_state
from occupancy.storage import proposals as store_proposals

router = APIRouter(prefix="/proposals", tags=["Proposals (planners)"])
_reviewer = require(Scope.REVIEW)

Kind = Literal["add", "remove", "move", "retime", "enforce"]
Status = Literal["pending", "accepted", "rejected"]


class Effect(BaseModel):
    """A proposal's expected effect a day: deliveries served, double parking avoided, kerb freed (m)."""

    deliveries_served_per_day: float = Field(
        description="expected change, + is more served; add/remove/move: incremental, in"
        " the run's order (they sum to the run's total); enforce: the bay's own gain"
    )
    double_parking_avoided_per_day: float = Field(description="expected, + is fewer")
    kerb_m_freed: float = Field(description="kerb metres given back (- is taken)")


class RunInfo(BaseModel):
    """The optimiser run a proposal comes from: what it answered, where, over which
    period, when, and whether it is the newest run of its area and kind."""

    run_id: str
    kind: Literal["placement", "timeslots"] = Field(
        description="placement: where bays should be; timeslots: each bay's delivery regime"
    )
    area_id: str | None
    created_at: str = Field(description="ISO 8601 UTC time the run was stored")
    period_start: str | None = Field(description="ISO 8601 UTC start of the sessions read")
    period_end: str | None = Field(description="ISO 8601 UTC end of the sessions read")
    solver_status: str = Field(description="OPTIMAL or FEASIBLE")
    evidence_shares: dict[str, float] | None = Field(
        description="share of demand observed / simulated / estimated"
    )
    latest: bool = Field(
        description="the newest run of this area and kind: a later run supersedes its proposals"
    )


class ProposalProperties(BaseModel):
    """What a proposal is, where, why, its effect and its review."""

    id: str
    run_id: str
    run: RunInfo = Field(description="the optimiser run the proposal belongs to")
    kind: Kind
    curb_zone_id: str | None = Field(description="the bay, or the candidate kerb site")
    area_id: str | None
    reason: str
    effect: Effect
    evidence: Literal["observed", "simulated", "estimated"] = Field(
        description=(
            "observed: camera sessions; simulated: the simulator's sessions (demo data);"
            " estimated: a declared layer (shops) where no camera watches"
        )
    )
    details: dict[str, Any] = Field(
        description="bays_before/after; delivery_hours(_before) for retime; from_curb_zone_id,"
        " distance_m for move"
    )
    status: Status
    reviewed_by: str | None = Field(description="name of the API key that reviewed it")
    reviewed_at: str | None = Field(description="ISO 8601 UTC time of the review")
    review_note: str | None
    created_at: str


class ProposalFeature(BaseModel):
    """A proposal as a GeoJSON Feature (RFC 7946, WGS84)."""

    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any] = Field(description="GeoJSON Point, or LineString for a move (WGS84)")
    properties: ProposalProperties


class ProposalCollection(BaseModel):
    """Proposals as a GeoJSON FeatureCollection; ``runs`` (a foreign member, RFC 7946
    section 6.1) lists the runs its features come from, newest first."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    runs: list[RunInfo]
    features: list[ProposalFeature]


class ReviewIn(BaseModel):
    """A planner's review of a proposal: accept or reject, with an optional note."""

    model_config = {"extra": "forbid"}

    decision: Literal["accept", "reject"]
    # No NUL or other control character but tab and newline: PostgreSQL cannot store NUL in
    # text, and a note is read by people; the same note is refused on every backend.
    note: str | None = Field(default=None, max_length=2000, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$")


def _iso(ms: int | None) -> str | None:
    from datetime import UTC, datetime

    if ms is None:
        return None
    return (
        datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


def _run(row: dict[str, Any]) -> RunInfo:
    return RunInfo(
        run_id=row["run_id"],
        kind=row["kind"],
        area_id=row["area_id"],
        created_at=_iso(row["created_ms"]) or "",
        period_start=_iso(row["period_start_ms"]),
        period_end=_iso(row["period_end_ms"]),
        solver_status=row["status"],
        evidence_shares=row["evidence_shares"],
        latest=row["latest"],
    )


def _feature(row: dict[str, Any], run: RunInfo) -> ProposalFeature:
    return ProposalFeature(
        id=row["proposal_id"],
        geometry=row["geometry"],
        properties=ProposalProperties(
            id=row["proposal_id"],
            run_id=row["run_id"],
            run=run,
            kind=row["kind"],
            curb_zone_id=row["curb_zone_id"],
            area_id=row["area_id"],
            reason=row["reason"],
            effect=Effect(**row["effect"]),
            evidence=row["evidence"],
            details=row["details"] or {},
            status=row["status"],
            reviewed_by=row["reviewed_by"],
            reviewed_at=_iso(row["reviewed_ms"]),
            review_note=row["review_note"],
            created_at=_iso(row["created_ms"]) or "",
        ),
    )


def _features(state: ApiState, rows: list[dict[str, Any]]) -> list[ProposalFeature]:
    runs = {
        r["run_id"]: _run(r)
        for r in store_proposals.list_runs(state.store, sorted({r["run_id"] for r in rows}))
    }
    return [_feature(r, runs[r["run_id"]]) for r in rows]


@router.get("", response_model=ProposalCollection, dependencies=[Depends(public)])
def list_proposals(
    status: Status | None = Query(None),
    kind: Kind | None = Query(None),
    area: str | None = Query(None, max_length=100, description="area_id"),
    run_id: str | None = Query(None, max_length=64, description="one run's proposals"),
    runs: Literal["latest", "all"] = Query(
        "latest",
        description="latest: the newest run of each area and kind (placement, timeslots),"
        " what a planner reviews; all: every run's, older ones superseded (ignored with run_id)",
    ),
    limit: int = Query(1000, ge=1, le=10_000),
    state: ApiState = Depends(get_state),
) -> ProposalCollection:
    """Proposals as a GeoJSON FeatureCollection, newest run first. By default only the
    newest run of each area and kind: rerunning the optimiser supersedes a run's
    proposals instead of stacking them. Every feature names its run (``run``), and
    ``runs`` lists the runs in the answer. An ``area`` that is neither a current curb
    area nor the area of any stored proposal is a 404 naming it, as on ``/map/bays``."""
    if (
        area is not None
        and area not in state.areas()
        and not store_proposals.list_proposals(state.store, area_id=area, latest=False, limit=1)
    ):
        raise HTTPException(404, f"no area with id {area!r}")
    rows = store_proposals.list_proposals(
        state.store,
        status=status,
        kind=kind,
        area_id=area,
        run_id=run_id,
        latest=runs == "latest",
        limit=limit,
    )
    features = _features(state, rows)
    shown = {f.properties.run_id: f.properties.run for f in features}
    ordered = sorted(shown.values(), key=lambda r: (r.created_at, r.run_id), reverse=True)
    return ProposalCollection(runs=ordered, features=features)


@router.get("/{proposal_id}", response_model=ProposalFeature, dependencies=[Depends(public)])
def get_proposal(
    proposal_id: str = PathParam(max_length=64), state: ApiState = Depends(get_state)
) -> ProposalFeature:
    """One proposal as a GeoJSON Feature; 404 when unknown."""
    row = store_proposals.get_proposal(state.store, proposal_id)
    if row is None:
        raise HTTPException(404, f"no proposal with id {proposal_id!r}")
    return _features(state, [row])[0]


@router.post("/{proposal_id}/review", response_model=ProposalFeature)
def review_proposal(
    body: ReviewIn,
    proposal_id: str = PathParam(max_length=64),
    principal: Principal = Depends(_reviewer),
    state: ApiState = Depends(get_state),
) -> ProposalFeature:
    """Accept or reject a proposal; records the key's name and the time."""
    row = store_proposals.review(state.store, proposal_id, body.decision, principal.name, body.note)
    if row is None:
        raise HTTPException(404, f"no proposal with id {proposal_id!r}")
    return _features(state, [row])[0]
