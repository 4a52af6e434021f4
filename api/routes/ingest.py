"""Ingestion from edge analysers: ``POST /ingest/batch`` (key, scope ingest).

Stored idempotently: an ``event_id``/``session_id`` already stored is left as is, so
a client re-sending a batch whose acknowledgement it lost doubles nothing. New events
are applied to live state at once (the push stream sees them without waiting for the
database poll).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.keys import Scope
from api.security import require
from api.state import ApiState, get_state
from occupancy.runtime.wire import IngestBatch, IngestResult
from occupancy.storage.store import now_ms

router = APIRouter(prefix="/ingest", tags=["Ingestion"])


@router.post("/batch", response_model=IngestResult, dependencies=[Depends(require(Scope.INGEST))])
def ingest_batch(batch: IngestBatch, state: ApiState = Depends(get_state)) -> IngestResult:
    """Store a batch of CDS events and sessions; returns how many of each were new."""
    published = now_ms()
    ev_rows = [e.row(published) for e in batch.events]
    se_rows = [s.row() for s in batch.sessions]
    # Sessions first: an event is only visible once what it belongs to is stored.
    new_sessions = state.store.ingest_sessions(se_rows)
    new_events = state.store.ingest_events(ev_rows)
    if new_events:
        state.live.apply(ev_rows)
    return IngestResult(
        events_received=len(ev_rows),
        events_new=new_events,
        sessions_received=len(se_rows),
        sessions_new=new_sessions,
    )
