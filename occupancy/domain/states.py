"""The states things go through, one enum per concept, and the one rule for a bay's state.

* ``BayState``: what a bay is now (free / occupied / unknown), as the API serves it and
  as CDS 1.1 ``Curbs API`` ``available_space_lengths`` reports it.
* ``ZoneViewState``: what a review video or live display draws for a zone (free,
  arriving, occupied, overstay), a finer view of the same fact.
* ``RunStatus``: a row of the ``runs`` ledger (one attempt at analysing a source).
* ``JobStatus``: a row of the API's ``jobs`` queue.
* ``CameraState``: one camera of ``baywatch watch``, as ``/healthz`` reports it.

Each is a ``StrEnum``: its members compare equal to, and store as, the strings the
database columns, JSON payloads and older clients already use.
"""

from __future__ import annotations

from enum import StrEnum

from occupancy.domain.records import EventType

# The CDS event types that say whether a vehicle is in a curb zone, and those that say
# whether the camera watching it can see (CDS 1.0 Events, ``event_type``).
PARK_EVENTS: tuple[EventType, ...] = (EventType.PARK_START, EventType.PARK_END)
COMMS_EVENTS: tuple[EventType, ...] = (EventType.COMMS_LOST, EventType.COMMS_RESTORED)


class BayState(StrEnum):
    """A bay's live state; derived from events by ``bay_state`` only."""

    FREE = "free"
    OCCUPIED = "occupied"
    UNKNOWN = "unknown"


def bay_state(latest_park: EventType | None, latest_comms: EventType | None) -> BayState:
    """A bay's state from its latest park event and its camera's latest comms event.

    ``latest_park`` is the type of the curb zone's most recent ``park_start`` or
    ``park_end`` of a vehicle in the bay (None when none was ever seen there; events of
    double parking beside it, which carry a ``lane_zone_id``, do not count); ``latest_comms`` the type of
    the most recent ``comms_lost`` or ``comms_restored`` of the device that watches it
    (None when it never dropped). "Most recent" is by ``event_time``.

    Rules: a camera that has lost comms (and not regained them) makes its bays
    ``UNKNOWN``, whatever they were; otherwise the latest park event decides
    (``park_start`` → ``OCCUPIED``, ``park_end`` → ``FREE``); a bay with no park event
    is ``UNKNOWN``: nobody has seen it, and an unobserved bay is not a free one.

    Raises ``ValueError`` when an argument is an event of the other family (a comms
    event as ``latest_park`` or a park event as ``latest_comms``).
    """
    if latest_park is not None and latest_park not in PARK_EVENTS:
        raise ValueError(f"latest_park must be one of {PARK_EVENTS}, not {latest_park!r}")
    if latest_comms is not None and latest_comms not in COMMS_EVENTS:
        raise ValueError(f"latest_comms must be one of {COMMS_EVENTS}, not {latest_comms!r}")
    if latest_comms is EventType.COMMS_LOST:
        return BayState.UNKNOWN
    if latest_park is EventType.PARK_START:
        return BayState.OCCUPIED
    if latest_park is EventType.PARK_END:
        return BayState.FREE
    return BayState.UNKNOWN


class ZoneViewState(StrEnum):
    """A zone as the occupancy machine sees it at one instant (``OccupancyMachine.views``)."""

    FREE = "free"
    ARRIVING = "arriving"  # a vehicle is at rest in it, not yet for the minimum time
    OCCUPIED = "occupied"
    OVERSTAY = "overstay"  # occupied for longer than the zone's max_stay_min

    @property
    def bay_state(self) -> BayState:
        """The ``BayState`` this view amounts to: the machine has emitted ``park_start``
        for exactly the occupied and overstay zones, so ``bay_state`` of its events gives
        the same answer (an arriving vehicle has no session yet)."""
        occupied = self in (ZoneViewState.OCCUPIED, ZoneViewState.OVERSTAY)
        return bay_state(EventType.PARK_START if occupied else EventType.PARK_END, None)


class RunStatus(StrEnum):
    """The status of one attempt in the ``runs`` ledger."""

    RUNNING = "running"
    COMPLETE = "complete"  # the source was read to its end; earlier attempts' rows dropped
    FAILED = "failed"  # the analysis raised; the error is in the row
    INTERRUPTED = "interrupted"  # stopped from outside (Ctrl-C, service shutdown)


class JobStatus(StrEnum):
    """The status of a batch job in the API's ``jobs`` queue."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class CameraState(StrEnum):
    """One camera followed by ``baywatch watch``."""

    STARTING = "starting"
    CONNECTING = "connecting"
    UP = "up"  # frames arrive
    DOWN = "down"  # no frame for the watchdog's timeout: comms_lost stored, reconnecting
    RECONNECTING = "reconnecting"
    FINISHED = "finished"  # a recorded file, analysed once to its end
    FAILED = "failed"  # the last attempt failed; retried with backoff
    STOPPED = "stopped"
