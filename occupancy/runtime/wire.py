"""JSON shapes on the wire: CDS curb events and baywatch sessions.

The push client turns records into these shapes; ``POST /ingest/batch`` validates them
with the pydantic models below and turns them into store rows. Events follow the CDS
1.0 Events API (``event_location`` is a GeoJSON Point, times in ms, lengths in cm).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from occupancy.domain.records import (
    CurbEvent,
    DataSourceType,
    EventType,
    LaneType,
    OccupancySession,
    SessionKind,
    VehicleType,
)

Id = Field(min_length=1, max_length=64)
MS = Field(ge=0, le=10**14)  # ms since the epoch; the bound rejects seconds*1e6 mix-ups


class GeoPoint(BaseModel):
    """A GeoJSON Point (RFC 7946): ``[longitude, latitude]`` in WGS84 degrees."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: Literal["Point"]
    coordinates: tuple[float, float] = Field(description="[longitude, latitude], WGS84")

    @model_validator(mode="after")
    def _in_range(self) -> GeoPoint:
        lon, lat = self.coordinates
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError("coordinates must be [lon, lat] within WGS84 bounds")
        return self


class EventIn(BaseModel):
    """A CDS 1.0 curb event as an edge analyser sends it."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    event_id: str = Id
    event_type: EventType
    event_time: int = MS
    data_source_device_id: str = Field(min_length=1, max_length=200)
    data_source_type: DataSourceType = DataSourceType.CAMERA
    event_location: GeoPoint | None = None
    curb_zone_id: str | None = Field(default=None, max_length=64)
    lane_zone_id: str | None = Field(default=None, max_length=64)
    event_session_id: str | None = Field(default=None, max_length=64)
    vehicle_type: VehicleType | None = None
    vehicle_length: int | None = Field(default=None, ge=0, le=10_000, description="cm")
    vehicle_type_confidence: int | None = Field(
        default=None, ge=1, le=100, description="CDS 1.1: confidence of vehicle_type, 1-100"
    )
    vehicle_blocked_lane_types: list[LaneType] = Field(default_factory=list, max_length=10)
    run_id: str | None = Field(default=None, max_length=64)

    def row(self, published_ms: int) -> dict[str, Any]:
        """The ``events`` row, published at ``published_ms`` (ms since the epoch: CDS
        ``event_publication_time`` is when the event became available in this API).
        """
        loc = self.event_location
        return {
            "event_id": self.event_id,
            "event_type": self.event_type.value,
            "event_time": self.event_time,
            # CDS: when the event became available in this API, i.e. now.
            "event_publication_time": published_ms,
            "data_source_device_id": self.data_source_device_id,
            "data_source_type": self.data_source_type.value,
            "curb_zone_id": self.curb_zone_id,
            "lane_zone_id": self.lane_zone_id,
            "event_session_id": self.event_session_id,
            "lon": None if loc is None else loc.coordinates[0],
            "lat": None if loc is None else loc.coordinates[1],
            "vehicle_type": None if self.vehicle_type is None else self.vehicle_type.value,
            "vehicle_length": self.vehicle_length,
            "vehicle_type_confidence": self.vehicle_type_confidence,
            "vehicle_blocked_lane_types": [t.value for t in self.vehicle_blocked_lane_types],
            "run_id": self.run_id,
            "attempt": None,
        }


class SessionIn(BaseModel):
    """A baywatch occupancy session (park or double park) as an edge analyser sends it."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    session_id: str = Id
    kind: SessionKind
    data_source_device_id: str = Field(min_length=1, max_length=200)
    data_source_type: DataSourceType = DataSourceType.CAMERA
    start_ms: int = MS
    end_ms: int = MS
    vehicle_type: VehicleType
    curb_zone_id: str | None = Field(default=None, max_length=64)
    lane_zone_id: str | None = Field(default=None, max_length=64)
    vehicle_length: int | None = Field(default=None, ge=0, le=10_000, description="cm")
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    max_stay_min: float | None = Field(default=None, ge=0)
    blocked_lane_types: list[LaneType] = Field(default_factory=list, max_length=10)
    start_censored: bool = False
    end_censored: bool = False
    run_id: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _ordered(self) -> SessionIn:
        if self.end_ms < self.start_ms:
            raise ValueError(f"session {self.session_id}: end_ms is before start_ms")
        return self

    def row(self) -> dict[str, Any]:
        """The ``sessions`` row, with ``dwell_s`` and ``overstay`` computed."""
        dwell = (self.end_ms - self.start_ms) / 1000.0
        return {
            "session_id": self.session_id,
            "kind": self.kind.value,
            "data_source_device_id": self.data_source_device_id,
            "data_source_type": self.data_source_type.value,
            "curb_zone_id": self.curb_zone_id,
            "lane_zone_id": self.lane_zone_id,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "dwell_s": dwell,
            "vehicle_type": self.vehicle_type.value,
            "vehicle_length": self.vehicle_length,
            "lon": self.lon,
            "lat": self.lat,
            "max_stay_min": self.max_stay_min,
            "overstay": self.max_stay_min is not None and dwell > self.max_stay_min * 60.0,
            "blocked_lane_types": [t.value for t in self.blocked_lane_types],
            "start_censored": self.start_censored,
            "end_censored": self.end_censored,
            "run_id": self.run_id,
            "attempt": None,
        }


MAX_BATCH = 10_000


class IngestBatch(BaseModel):
    """One ``POST /ingest/batch`` body: CDS events and sessions, at most ``MAX_BATCH`` of each."""

    model_config = ConfigDict(extra="forbid")
    events: list[EventIn] = Field(default_factory=list, max_length=MAX_BATCH)
    sessions: list[SessionIn] = Field(default_factory=list, max_length=MAX_BATCH)


class IngestResult(BaseModel):
    """How many events and sessions a batch held and how many were new (ids not yet stored)."""

    events_received: int
    events_new: int
    sessions_received: int
    sessions_new: int


def event_json(e: CurbEvent) -> dict[str, Any]:
    """A CDS event as the ingest API takes it (JSON-ready, GeoJSON location)."""
    d: dict[str, Any] = {
        "event_id": e.event_id,
        "event_type": e.event_type.value,
        "event_time": e.event_time,
        "data_source_device_id": e.data_source_device_id,
        "data_source_type": e.data_source_type.value,
        "vehicle_blocked_lane_types": [t.value for t in e.vehicle_blocked_lane_types],
    }
    loc = e.event_location()
    if loc is not None:
        d["event_location"] = loc
    for k in (
        "curb_zone_id",
        "lane_zone_id",
        "event_session_id",
        "vehicle_length",
        "vehicle_type_confidence",
        "run_id",
    ):
        v = getattr(e, k)
        if v is not None:
            d[k] = v
    if e.vehicle_type is not None:
        d["vehicle_type"] = e.vehicle_type.value
    return d


def session_json(s: OccupancySession) -> dict[str, Any]:
    """A session as the ingest API takes it (JSON-ready)."""
    d: dict[str, Any] = {
        "session_id": s.session_id,
        "kind": s.kind.value,
        "data_source_device_id": s.data_source_device_id,
        "data_source_type": s.data_source_type.value,
        "start_ms": s.start_ms,
        "end_ms": s.end_ms,
        "vehicle_type": s.vehicle_type.value,
        "blocked_lane_types": [t.value for t in s.blocked_lane_types],
        "start_censored": s.start_censored,
        "end_censored": s.end_censored,
    }
    for k in (
        "curb_zone_id",
        "lane_zone_id",
        "vehicle_length",
        "lon",
        "lat",
        "max_stay_min",
        "run_id",
    ):
        v = getattr(s, k)
        if v is not None:
            d[k] = v
    return d
