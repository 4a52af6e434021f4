"""Optimiser runs and their proposals in the database, and the planners' reviews.

A proposal row (``schema.proposals``) is one change a planner can accept or reject:
``kind`` add | remove | move | retime | enforce, its GeoJSON ``geometry`` (WGS84), the
``reason``, the expected ``effect`` (deliveries served and double parking avoided a
day) and the ``evidence`` behind it (observed | simulated | estimated). Every proposal
starts ``pending``; a review sets ``accepted`` or ``rejected`` with who (the API key's
name) and when (epoch ms). A decided proposal can be reviewed again (a planner may
change their mind); each review overwrites the last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import insert, select, update

from occupancy.domain.records import stable_id, time_ordered_id
from occupancy.storage.schema import optimiser_runs, proposals
from occupancy.storage.store import Store, now_ms

KINDS = ("add", "remove", "move", "retime", "enforce")
STATUSES = ("pending", "accepted", "rejected")
EVIDENCE = ("observed", "simulated", "estimated")
DECISIONS = {"accept": "accepted", "reject": "rejected"}


def save_run(
    store: Store, run: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]
) -> tuple[str, list[str]]:
    """Write one optimiser run and its proposals in one transaction.

    ``run``: the ``optimiser_runs`` columns but ``run_id`` and ``created_ms``; ``rows``: the
    ``proposals`` columns but the ids, ``run_id``, ``status`` and review fields. Returns the
    run id (random) and the proposal ids (derived from the run's id and the row's position)."""
    created = now_ms()
    run_id = time_ordered_id()  # two runs of one area may start in the same millisecond
    ids = [stable_id("proposal", run_id, i) for i in range(len(rows))]
    for r in rows:
        if r["kind"] not in KINDS or r["evidence"] not in EVIDENCE:
            raise ValueError(f"proposal kind {r['kind']!r} / evidence {r['evidence']!r}")
    with store.engine.begin() as conn:
        conn.execute(insert(optimiser_runs).values(run_id=run_id, created_ms=created, **run))
        if rows:
            conn.execute(
                insert(proposals),
                [
                    {
                        **r,
                        "proposal_id": pid,
                        "run_id": run_id,
                        "status": "pending",
                        "created_ms": created,
                    }
                    for pid, r in zip(ids, rows, strict=True)
                ],
            )
    return run_id, ids


def list_runs(store: Store, run_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Optimiser runs (every column but ``request``), newest first, each with ``latest``:
    whether it is the newest run of its area and kind (placement or time slots answer
    different questions, so each kind has its own latest). ``run_ids`` keeps those only."""
    cols = [c for c in optimiser_runs.c if c.name != "request"]
    q = select(*cols).order_by(optimiser_runs.c.created_ms.desc(), optimiser_runs.c.run_id.desc())
    with store.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(q).mappings()]
    seen: set[tuple[str | None, str]] = set()
    for r in rows:  # newest first: the first of each (area, kind) is its latest
        key = (r["area_id"], r["kind"])
        r["latest"] = key not in seen
        seen.add(key)
    if run_ids is not None:
        wanted = set(run_ids)
        rows = [r for r in rows if r["run_id"] in wanted]
    return rows


def list_proposals(
    store: Store,
    *,
    status: str | None = None,
    kind: str | None = None,
    area_id: str | None = None,
    run_id: str | None = None,
    latest: bool = False,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Proposals, newest run first, filtered by status, kind, area and run; ``latest``
    (ignored with ``run_id``) keeps the proposals of the newest run of each area and kind
    (``list_runs``), the ones a planner reviews: an older run's are superseded."""
    q = select(proposals)
    if status is not None:
        q = q.where(proposals.c.status == status)
    if kind is not None:
        q = q.where(proposals.c.kind == kind)
    if area_id is not None:
        q = q.where(proposals.c.area_id == area_id)
    if run_id is not None:
        q = q.where(proposals.c.run_id == run_id)
    elif latest:
        newest = [r["run_id"] for r in list_runs(store) if r["latest"]]
        q = q.where(proposals.c.run_id.in_(newest))
    q = q.order_by(proposals.c.created_ms.desc(), proposals.c.proposal_id).limit(limit)
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def get_proposal(store: Store, proposal_id: str) -> dict[str, Any] | None:
    """The stored optimiser proposal ``proposal_id`` as a row dict, or None."""
    with store.engine.connect() as conn:
        row = (
            conn.execute(select(proposals).where(proposals.c.proposal_id == proposal_id))
            .mappings()
            .first()
        )
    return None if row is None else dict(row)


def get_run(store: Store, run_id: str) -> dict[str, Any] | None:
    """The stored optimiser run ``run_id`` as a row dict, or None."""
    with store.engine.connect() as conn:
        row = (
            conn.execute(select(optimiser_runs).where(optimiser_runs.c.run_id == run_id))
            .mappings()
            .first()
        )
    return None if row is None else dict(row)


def review(
    store: Store, proposal_id: str, decision: str, reviewer: str, note: str | None = None
) -> dict[str, Any] | None:
    """Record a planner's decision ("accept" or "reject"); None if there is no such
    proposal. Raises ``ValueError`` for another decision."""
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
    with store.engine.begin() as conn:
        res = conn.execute(
            update(proposals)
            .where(proposals.c.proposal_id == proposal_id)
            .values(
                status=DECISIONS[decision],
                reviewed_by=reviewer,
                reviewed_ms=now_ms(),
                review_note=note,
            )
        )
    if res.rowcount == 0:
        return None
    return get_proposal(store, proposal_id)
