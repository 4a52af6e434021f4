"""Immutable records that flow out of observation: CDS curb events and occupancy sessions.

Field names follow the Curb Data Specification 1.0 Events API where a CDS field
exists (``event_id``, ``event_type``, ``event_time`` in ms since the epoch,
``curb_zone_id``, ``vehicle_length`` in cm, ...). A *session* is baywatch's own
pairing of a ``park_start`` with its ``park_end``: the unit every statistic is
computed from.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

# Namespace for every deterministic id baywatch derives (zones, sessions, events):
# re-analysing the same footage must give the same ids, so storage can be idempotent.
BAYWATCH_NAMESPACE = uuid.UUID("5f1d7c1e-3b9a-4c47-9d4e-0b6f1f0d2a11")


def stable_id(*parts: object) -> str:
    """A UUID (CDS ids are UUIDs) that depends only on ``parts``."""
    return str(uuid.uuid5(BAYWATCH_NAMESPACE, "|".join(str(p) for p in parts)))


_uuid7_lock = threading.Lock()
_uuid7_last = 0  # the last (ms << 12 | counter) handed out in this process


def time_ordered_id() -> str:
    """A new UUIDv7 (RFC 9562 section 5.7), as a string; later calls sort after earlier ones.

    The first 48 bits are the Unix time in ms, the next 12 a counter (RFC 9562 section
    6.2, method 1) so that ids made in one millisecond by one process still sort in the
    order they were made; the rest is random. Queues order by it: two jobs submitted
    in the same millisecond are served in submission order, not at random as with UUIDv4.
    (Python's ``uuid.uuid7`` arrives only in 3.14.)
    """
    global _uuid7_last
    with _uuid7_lock:
        stamp = max(time.time_ns() // 1_000_000 << 12, _uuid7_last + 1)
        _uuid7_last = stamp
    ms, counter = stamp >> 12, stamp & 0xFFF
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand
    return str(uuid.UUID(int=value))


class EventType(StrEnum):
    """CDS 1.0 Events ``event_type`` values baywatch emits (a camera sees parking and its own
    outages; CDS defines more).
    """

    PARK_START = "park_start"
    PARK_END = "park_end"
    COMMS_LOST = "comms_lost"
    COMMS_RESTORED = "comms_restored"


class VehicleType(StrEnum):
    """CDS 1.0 vehicle types that a camera can tell apart."""

    CAR = "car"
    VAN = "van"
    TRUCK = "truck"
    FREIGHT = "freight"
    BUS = "bus"
    MOTORCYCLE = "motorcycle"
    BICYCLE = "bicycle"
    CARGO_BICYCLE = "cargo_bicycle"
    OTHER = "other"
    UNSPECIFIED = "unspecified"


class LaneType(StrEnum):
    """CDS 1.0 lane types, for ``vehicle_blocked_lane_types``."""

    TRAVEL_LANE = "travel_lane"
    TURN_LANE = "turn_lane"
    BIKE_LANE = "bike_lane"
    BUS_LANE = "bus_lane"
    PARKING = "parking"
    SHOULDER = "shoulder"
    MEDIAN = "median"
    SIDEWALK = "sidewalk"
    UNSPECIFIED = "unspecified"


class SessionKind(StrEnum):
    """What a session is: parked in a bay (``park``) or double parked in a lane zone beside
    one (``double_park``).
    """

    PARK = "park"
    DOUBLE_PARK = "double_park"


class DataSourceType(StrEnum):
    """CDS ``data_source_type`` of a record: ``camera`` for observed data, ``simulated`` for
    data baywatch made up (never published as observed).
    """

    CAMERA = "camera"
    # Not a CDS value on purpose: simulated data must never pass for observed data.
    SIMULATED = "simulated"


@dataclass(frozen=True, slots=True)
class CurbEvent:
    """One CDS curb event."""

    event_id: str
    event_type: EventType
    event_time: int  # ms since the Unix epoch, UTC
    data_source_device_id: str
    lon: float | None = None
    lat: float | None = None
    curb_zone_id: str | None = None
    lane_zone_id: str | None = None
    event_session_id: str | None = None
    vehicle_type: VehicleType | None = None
    vehicle_length: int | None = None  # cm
    # CDS 1.1: recognition confidence of vehicle_type, 1-100 (None: not measured)
    vehicle_type_confidence: int | None = None
    vehicle_blocked_lane_types: tuple[LaneType, ...] = ()
    data_source_type: DataSourceType = DataSourceType.CAMERA
    run_id: str | None = None

    def event_location(self) -> dict[str, object] | None:
        """GeoJSON point (RFC 7946: longitude first)."""
        if self.lon is None or self.lat is None:
            return None
        return {"type": "Point", "coordinates": [self.lon, self.lat]}


@dataclass(frozen=True, slots=True)
class OccupancySession:
    """A vehicle parked in a bay, or double parked in a lane zone, from arrival to departure.

    ``start_censored`` means the vehicle was already there when observation
    began; ``end_censored`` that it was still there (or the camera went offline)
    when observation ended. Their true dwell is longer than ``dwell_s``.
    """

    session_id: str
    kind: SessionKind
    data_source_device_id: str
    start_ms: int
    end_ms: int
    vehicle_type: VehicleType
    curb_zone_id: str | None = None
    lane_zone_id: str | None = None
    vehicle_length: int | None = None  # cm
    lon: float | None = None
    lat: float | None = None
    max_stay_min: float | None = None
    blocked_lane_types: tuple[LaneType, ...] = ()
    start_censored: bool = False
    end_censored: bool = False
    data_source_type: DataSourceType = DataSourceType.CAMERA
    run_id: str | None = None
    track_ids: tuple[int, ...] = field(default=(), compare=False)

    @property
    def dwell_s(self) -> float:
        """Seconds from arrival to departure."""
        return (self.end_ms - self.start_ms) / 1000.0

    @property
    def overstay(self) -> bool:
        """Whether the dwell exceeded the bay's ``max_stay_min`` (False when it has none)."""
        return self.max_stay_min is not None and self.dwell_s > self.max_stay_min * 60.0
