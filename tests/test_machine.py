"""The occupancy state machine on synthetic track sequences with exact expectations."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import Polygon

from occupancy.domain.records import EventType, LaneType, SessionKind, VehicleType
from occupancy.observe.machine import OccupancyMachine, Output, TrackObservation
from occupancy.observe.zones import Zone

T0 = 1_700_000_000_000
STEP = 500  # 2 analysed frames per second
# A session ends halfway between its last supported frame and the next analysed one.
HALF = STEP // 2


def _zone(
    key: str, x0: float, x1: float, y0: float, y1: float, kind: SessionKind, **kw: object
) -> Zone:
    poly = Polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    return Zone(
        key=key,
        local_id=key,
        name=key,
        kind=kind,
        ground=poly,
        pixels=np.zeros((4, 2)),
        lonlat=[(0.0, 0.0)] * 5,
        axis=(1.0, 0.0),
        min_stationary_ms=10_000,
        **kw,  # type: ignore[arg-type]
    )


BAY = _zone("bay", 0, 12, 0, 2.5, SessionKind.PARK, max_stay_min=1.0)
LANE = _zone(
    "lane",
    0,
    12,
    2.5,
    5.5,
    SessionKind.DOUBLE_PARK,
    lane_types=(LaneType.TRAVEL_LANE,),
    beside_curb_zone_id="bay",
)


def machine() -> OccupancyMachine:
    return OccupancyMachine(
        [BAY, LANE],
        device_id="cam",
        run_id="run",
        stationary_tolerance_m=1.0,
        grace_s=5.0,
        to_lonlat=lambda xy: (2.35 + xy[0] * 1e-5, 48.85 + xy[1] * 1e-5),
    )


def obs(tid: int, x: float, y: float, vt: VehicleType = VehicleType.CAR) -> TrackObservation:
    return TrackObservation(tid, (x, y), vt, 0.8, ((x - 2.2, y), (x + 2.2, y)))


class Script:
    """Feeds a machine one analysed frame per STEP and collects everything it emits."""

    def __init__(self) -> None:
        self.m = machine()
        self.t = T0
        self.out: list[Output] = []

    def run(self, seconds: float, frame: list[TrackObservation] | None = None, move=None) -> None:  # type: ignore[no-untyped-def]
        for _ in range(round(seconds * 1000 / STEP)):
            observations = move(self.t) if move else (frame or [])
            self.out.append(self.m.step(self.t, observations))
            self.t += STEP

    def finish(self) -> None:
        self.out.append(self.m.finish())

    @property
    def sessions(self):  # type: ignore[no-untyped-def]
        return [s for o in self.out for s in o.sessions]

    @property
    def events(self):  # type: ignore[no-untyped-def]
        return [e for o in self.out for e in o.events]


def drive(tid: int, x_from: float, x_to: float, y: float, t_start: int, speed: float = 5.0):  # type: ignore[no-untyped-def]
    def at(t: int) -> list[TrackObservation]:
        x = x_from + np.sign(x_to - x_from) * speed * (t - t_start) / 1000
        if (x_to - x_from) * (x - x_to) >= 0:
            x = x_to
        return [obs(tid, float(x), y)]

    return at


def test_arrival_dwell_departure() -> None:
    s = Script()
    s.run(2)  # empty street
    arrive = s.t
    s.run(4, move=drive(1, -14, 6, 1.2, arrive))  # 20 m at 5 m/s: at rest at arrive+4 s
    stopped = arrive + 4000  # the first frame at rest (x=6)
    s.run(80, [obs(1, 6, 1.2)])
    last = s.t - STEP + HALF  # it left between its last frame at rest and the next
    s.run(10)  # gone
    assert len(s.sessions) == 1
    sess = s.sessions[0]
    assert sess.kind is SessionKind.PARK and sess.curb_zone_id == "bay"
    assert sess.start_ms == stopped
    assert sess.end_ms == last
    assert sess.dwell_s == pytest.approx(79.75)
    assert sess.overstay  # max_stay is one minute
    assert not sess.start_censored and not sess.end_censored
    assert sess.vehicle_length == 440
    types = [e.event_type for e in s.events]
    assert types == [EventType.PARK_START, EventType.PARK_END]
    assert s.events[0].event_time == stopped and s.events[1].event_time == last
    assert s.events[0].event_session_id == sess.session_id


def test_occlusion_gap_keeps_one_session() -> None:
    s = Script()
    s.run(20, [obs(1, 6, 1.2)])
    s.run(2)  # hidden for 2 s by a passing van
    s.run(20, [obs(1, 6, 1.2)])
    s.run(10)
    assert len(s.sessions) == 1
    assert s.sessions[0].dwell_s == pytest.approx(41.75)


def test_occlusion_with_new_track_id_keeps_one_session() -> None:
    s = Script()
    s.run(20, [obs(1, 6, 1.2)])
    s.run(3)
    s.run(20, [obs(7, 6.3, 1.1)])  # the tracker lost it and gave it a new id
    s.run(10)
    assert len(s.sessions) == 1
    assert s.sessions[0].track_ids == (1, 7)


def test_short_stop_and_drive_through_make_no_session() -> None:
    s = Script()
    t = s.t
    s.run(8, move=drive(1, -10, 30, 1.2, t, speed=5.0))  # straight through the bay
    s.run(6, [obs(2, 6, 1.2)])  # stops 6 s < 10 s minimum
    s.run(10)
    s.finish()
    assert s.sessions == []
    assert s.events == []


def test_back_to_back_vehicles_make_two_sessions() -> None:
    s = Script()
    s.run(30, [obs(1, 6, 1.2)])
    a_last = s.t - STEP + HALF
    s.run(3)
    t = s.t
    s.run(4, move=drive(2, -14, 6.2, 1.2, t))
    s.run(30, [obs(2, 6.2, 1.2)])
    s.run(10)
    assert len(s.sessions) == 2
    a, b = s.sessions
    assert a.end_ms == a_last
    assert b.start_ms > a.end_ms
    assert a.session_id != b.session_id


def test_double_parking_in_lane_zone() -> None:
    s = Script()
    s.run(30, [obs(1, 5, 4.0, VehicleType.TRUCK)])
    s.run(10)
    assert len(s.sessions) == 1
    sess = s.sessions[0]
    assert sess.kind is SessionKind.DOUBLE_PARK
    assert sess.lane_zone_id == "lane" and sess.curb_zone_id == "bay"
    assert sess.blocked_lane_types == (LaneType.TRAVEL_LANE,)
    assert sess.vehicle_type is VehicleType.VAN  # a 4.4 m "truck" is a van
    start = next(e for e in s.events if e.event_type is EventType.PARK_START)
    assert start.vehicle_blocked_lane_types == (LaneType.TRAVEL_LANE,)


def test_vehicle_present_at_both_ends_is_censored() -> None:
    s = Script()
    s.run(30, [obs(1, 6, 1.2)])
    s.finish()
    assert len(s.sessions) == 1
    sess = s.sessions[0]
    assert sess.start_censored and sess.end_censored
    assert sess.start_ms == T0
    assert [e.event_type for e in s.events] == [EventType.PARK_START]


def test_comms_gap_records_events_and_censors() -> None:
    s = Script()
    s.run(20, [obs(1, 6, 1.2)])
    out = s.m.gap(s.t, s.t + 60_000)
    assert [e.event_type for e in out.events][:2] == [
        EventType.COMMS_LOST,
        EventType.COMMS_RESTORED,
    ]
    assert len(out.sessions) == 1 and out.sessions[0].end_censored


def test_ids_are_deterministic() -> None:
    a, b = Script(), Script()
    for s in (a, b):
        s.run(30, [obs(1, 6, 1.2)])
        s.run(10)
    assert [x.session_id for x in a.sessions] == [x.session_id for x in b.sessions]
    assert [e.event_id for e in a.events] == [e.event_id for e in b.events]


def test_two_vehicles_at_rest_in_one_zone_at_once_get_distinct_ids() -> None:
    s = Script()
    s.run(20, [obs(1, 3, 1.2), obs(2, 9, 1.2)])  # two vans in a 12 m bay, both there from the start
    s.finish()
    assert len(s.sessions) == 2
    assert len({x.session_id for x in s.sessions}) == 2
    assert len({e.event_id for e in s.events}) == len(s.events) == 2


def test_vehicle_type_confidence_is_the_detectors_class_confidence() -> None:
    """CDS 1.1 ``vehicle_type_confidence`` (1-100): the mean class confidence of every
    sighting, a sighting of another class counting 0."""
    s = Script()
    s.run(2)

    def frame(t: int) -> list[TrackObservation]:
        # Three sightings of four say van at 0.9, the fourth car at 0.6.
        n = (t - T0) // STEP
        vt = VehicleType.CAR if n % 4 == 0 else VehicleType.VAN
        conf = 0.6 if vt is VehicleType.CAR else 0.9
        return [TrackObservation(1, (6, 1.2), vt, conf, ((3.8, 1.2), (8.2, 1.2)))]

    s.run(60, move=frame)
    s.run(10)
    starts = [e for e in s.events if e.event_type is EventType.PARK_START]
    ends = [e for e in s.events if e.event_type is EventType.PARK_END]
    assert len(starts) == 1 and len(ends) == 1
    assert ends[0].vehicle_type is VehicleType.VAN
    # 0.75 x 0.9 = 67.5 % over the whole stay, within a sighting's share (1 %)
    assert ends[0].vehicle_type_confidence == pytest.approx(67.5, abs=1.0)
    assert starts[0].vehicle_type_confidence is not None
    assert 1 <= starts[0].vehicle_type_confidence <= 100
