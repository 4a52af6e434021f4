"""Proposals in the database (``occupancy.storage.proposals``), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from occupancy.storage import proposals as sp
from occupancy.storage.store import Store


def _row(kind: str, evidence: str, area: str) -> dict[str, object]:
    return {
        "kind": kind,
        "curb_zone_id": f"bay-{kind}",
        "area_id": area,
        "geometry": {"type": "Point", "coordinates": [2.36, 48.86]},
        "reason": f"{kind} because",
        "effect": {
            "deliveries_served_per_day": 1.5,
            "double_parking_avoided_per_day": 1.5,
            "kerb_m_freed": 0.0,
        },
        "evidence": evidence,
        "details": {"bays_before": 1, "bays_after": 2},
    }


def test_save_filter_and_review(store_url: str) -> None:
    store = Store(store_url)
    run = {
        "kind": "placement",
        "area_id": "75103",
        "period_start_ms": 1,
        "period_end_ms": 2,
        "request": {"budget": {"max_changes": 3}},
        "status": "OPTIMAL",
        "objective": 1.0,
        "bound": 1.0,
        "gap": 0.0,
        "abs_gap": 0.0,
        "evidence_shares": {"simulated": 1.0},
        "summary": "s",
    }
    run_id, ids = sp.save_run(
        store, run, [_row("add", "observed", "75103"), _row("enforce", "simulated", "75104")]
    )
    assert len(ids) == 2 and sp.get_run(store, run_id)["evidence_shares"] == {"simulated": 1.0}
    assert [r["kind"] for r in sp.list_proposals(store, area_id="75104")] == ["enforce"]
    assert len(sp.list_proposals(store, status="pending")) == 2
    got = sp.review(store, ids[0], "reject", "planner A", "bus stop there")
    assert got is not None and got["status"] == "rejected" and got["reviewed_by"] == "planner A"
    assert got["reviewed_ms"] and got["review_note"] == "bus stop there"
    assert [r["proposal_id"] for r in sp.list_proposals(store, status="rejected")] == [ids[0]]
    assert sp.review(store, "nope", "accept", "planner A") is None
    with pytest.raises(ValueError, match="decision"):
        sp.review(store, ids[1], "maybe", "planner A")
    with pytest.raises(ValueError, match="kind"):
        sp.save_run(store, run, [_row("demolish", "observed", "75103")])
    store.close()


def test_latest_run_of_each_area_and_kind(store_url: str) -> None:
    """``latest`` keeps the newest run of each (area, kind); an older run is superseded."""
    store = Store(store_url)

    def run(kind: str, area: str) -> str:
        row = {
            "kind": kind,
            "area_id": area,
            "request": {},
            "status": "OPTIMAL",
            "evidence_shares": {"observed": 1.0},
        }
        return sp.save_run(store, row, [_row("add", "observed", area)])[0]

    old = run("placement", "75103")
    new = run("placement", "75103")
    slots = run("timeslots", "75103")
    other = run("placement", "75104")
    latest = {r["run_id"]: r["latest"] for r in sp.list_runs(store)}
    assert latest == {old: False, new: True, slots: True, other: True}
    got = {r["run_id"] for r in sp.list_proposals(store, status="pending", latest=True)}
    assert got == {new, slots, other}
    assert {r["run_id"] for r in sp.list_proposals(store, latest=True, run_id=old)} == {old}
    assert len(sp.list_proposals(store, status="pending")) == 4
    store.close()
