"""Store a run's proposals in the database for planners (``occupancy.storage.proposals``).

Each proposal becomes a ``pending`` row with its kind, GeoJSON geometry, reason,
expected effect and evidence; the run's request, solver status, bound, gap and the
observed / simulated / estimated shares of its demand go in ``optimiser_runs``.
"""

from __future__ import annotations

from typing import Any

from occupancy.storage.proposals import save_run
from occupancy.storage.store import Store
from optimiser.proposals import effect, geometry, length_details
from optimiser.runners import Run


def save(store: Store, kind: str, run: Run, request: dict[str, Any]) -> tuple[str, list[str]]:
    """Write the run and its proposals; returns (run id, proposal ids)."""
    res = run.result
    start, end = run.loaded.period_ms
    request = {k: v for k, v in request.items() if k != "sources"}
    rows = []
    for p in run.proposals:
        details: dict[str, Any] = {"bays_before": p.bays_before, "bays_after": p.bays_after}
        if p.from_site_id is not None:
            details.update(from_curb_zone_id=p.from_site_id, distance_m=p.distance_m)
        if p.hours is not None:
            details.update(delivery_hours=p.hours, delivery_hours_before=p.hours_before)
        details.update(length_details(p))
        rows.append(
            {
                "kind": p.action,
                "curb_zone_id": p.site_id,
                "area_id": p.area_id or run.loaded.area_id,
                "geometry": geometry(p),
                "reason": p.reason,
                "effect": effect(p),
                "evidence": p.evidence,
                "details": details,
            }
        )
    return save_run(
        store,
        {
            "kind": kind,
            "area_id": run.loaded.area_id,
            "period_start_ms": start,
            "period_end_ms": end,
            "request": request,
            "status": res.status,
            "objective": res.objective,
            "bound": res.bound,
            "gap": res.gap if res.gap != float("inf") else None,
            "abs_gap": getattr(res, "abs_gap", None),
            "evidence_shares": res.evidence_shares,
            "summary": res.summary,
        },
        rows,
    )
