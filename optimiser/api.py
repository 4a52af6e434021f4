"""Plain-Python entry points for the CLI and the HTTP job runner (a facade).

``run_placement(PlacementRequest) -> PlacementResult`` and
``run_timeslots(TimeslotRequest) -> TimeslotResultModel``: pydantic in and out. The
models live in ``optimiser.requests``, the loading in ``optimiser.sources``, the runs
in ``optimiser.runners``, storing proposals in ``optimiser.publish``.
"""

from __future__ import annotations

from optimiser.requests import (
    PlacementJob,
    PlacementRequest,
    PlacementResult,
    Sources,
    TimeslotJob,
    TimeslotRequest,
    TimeslotResultModel,
    placement_request,
    request_error,
    timeslot_request,
)
from optimiser.runners import run_placement, run_timeslots

__all__ = [
    "PlacementJob",
    "PlacementRequest",
    "PlacementResult",
    "Sources",
    "TimeslotJob",
    "TimeslotRequest",
    "TimeslotResultModel",
    "placement_request",
    "request_error",
    "run_placement",
    "run_timeslots",
    "timeslot_request",
]
