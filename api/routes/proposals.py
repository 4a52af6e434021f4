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


class ProposalProperties(BaseModel):
    """What a proposal is, where, why, its effect and its review."""

    id: str
    run_id: str
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
    """Proposals as a GeoJSON FeatureCollection."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[ProposalFeature]


class ReviewIn(BaseModel):
    """A planner's review of a proposal: accept or reject, with an optional note."""

    model_config = {"extra": "forbid"}

    decision: Literal["accept", "reject"]
    note: str | None = Field(default=None, max_length=2000)


def _iso(ms: int | None) -> str | None:
    from datetime import UTC, datetime

    if ms is None:
        return None
    return (
        datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


def _feature(row: dict[str, Any]) -> ProposalFeature:
    return ProposalFeature(
        id=row["proposal_id"],
        geometry=row["geometry"],
        properties=ProposalProperties(
            id=row["proposal_id"],
            run_id=row["run_id"],
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


@router.get("", response_model=ProposalCollection, dependencies=[Depends(public)])
def list_proposals(
    status: Status | None = Query(None),
    kind: Kind | None = Query(None),
    area: str | None = Query(None, max_length=100, description="area_id"),
    run_id: str | None = Query(None, max_length=64),
    limit: int = Query(1000, ge=1, le=10_000),
    state: ApiState = Depends(get_state),
) -> ProposalCollection:
    """Proposals as a GeoJSON FeatureCollection, newest run first."""
    rows = store_proposals.list_proposals(
        state.store, status=status, kind=kind, area_id=area, run_id=run_id, limit=limit
    )
    return ProposalCollection(features=[_feature(r) for r in rows])


@router.get("/{proposal_id}", response_model=ProposalFeature, dependencies=[Depends(public)])
def get_proposal(
    proposal_id: str = PathParam(max_length=64), state: ApiState = Depends(get_state)
) -> ProposalFeature:
    """One proposal as a GeoJSON Feature; 404 when unknown."""
    row = store_proposals.get_proposal(state.store, proposal_id)
    if row is None:
        raise HTTPException(404, f"no proposal with id {proposal_id!r}")
    return _feature(row)


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
    return _feature(row)
