"""The per-zone occupancy state machine: tracked vehicles in, sessions and CDS events out.

Rules (each a reason a naive per-frame "box centre in polygon" test is wrong):

* A vehicle's position is its ground footprint (bottom of its box through the
  homography), not its box centre. It is in the first zone holding that point, or,
  where the point misses every zone (oblique views, slots drawn along painted
  lines), in the zone holding the largest share of the lower part of its box on the
  ground (``occupancy.observe.zones.zone_index``).
* It *parks* in a zone when its footprint lies in the zone and it has been at rest
  for the zone's minimum stationary time. At rest since ``s`` means every sighting
  since ``s`` lies within the rest radius of where it is now (the median of its last
  sightings): a vehicle creeping in, or braking over its last metre, is not yet at
  rest, and the session starts at the moment of rest, not when the minimum elapsed.
  The rest radius is half of ``stationary_tolerance_m``, or the ground error of
  ``_JITTER_PX`` pixels at the vehicle's range if larger (far from the camera one
  pixel spans metres). Drive-throughs and shorter stops make no session.
* A session ends when no observation has supported it for ``grace_s``; its end is
  halfway between the last supported frame and the next analysed one (the vehicle left
  in between), at most half of ``_END_SPAN_MAX_MS`` after the last. Expiry is decided before support in each step, so a
  vehicle arriving in the step in which the previous one's grace runs out cannot
  continue its session. Support comes from the vehicle's own tracks while they
  stay within the rest radius of where it parked (the first metre of pulling away is
  leaving), or from a new track *born at the parked position*, in the same zone, and at
  rest there (the tracker lost it behind an occlusion and gave it a new id); a track in
  another zone is another vehicle, however close (far from the camera the tolerance
  spans metres and reaches the neighbouring vehicle). A track that
  drove in from elsewhere is a new vehicle, and so is an own track seen driving
  away and coming back (ByteTrack re-uses lost ids): two vehicles one after the
  other make two sessions; so is an own track seen off its spot for ``_AWAY_MS``.
  When its own track is seen driving away and nothing else stands at the spot, the
  session ends at once.
* A track seen driving off its spot starts no new session in that zone while it stands
  at the farthest it has gone (a pause while manoeuvring out: the emptied bay must not
  get a short session from the departing vehicle); coming back towards the spot by the
  tolerance, or leaving the zone first, makes it an arrival again (ByteTrack may hand
  the departing vehicle's id to the next one).
* Rest and staying put are judged on the part of the footprint that moved least: the
  box's bottom centre, bottom-left or bottom-right corner on the ground. A door or
  tailgate opening, or a person loading beside the vehicle, moves one side of its box
  (and its centre by half as much), never both sides; a vehicle that moves, moves both.
* A new track first seen on a vehicle that another track (held by no session, not seen
  driving away) stands for in the same zone continues that track's history: a door
  opening makes the detector draw a second, wider box with a new id, and the vehicle
  has not just arrived.
* A box whose ground footprint lies mostly within that of a parked vehicle
  (``_NESTED_SHARE``), and that stood still since it was first seen, is part of that
  vehicle (the detector boxes the half a passer-by leaves visible, or the front of a
  long vehicle): it supports the vehicle's session and opens none of its own, however
  far its bottom centre is from the vehicle's. Two vehicles cannot stand on one patch
  of ground; one that drove in is judged by the rules above.
* A box cut by the frame's side border has one real side: its footprint point is the
  middle of the visible part, and a door, tailgate or person beside the vehicle on its
  inner side moves that point by half of what it moves the side (up to ``_SIDE_MAX_M``).
  Its rest radius is at least ``_SIDE_MAX_M / 2``, and its drift is judged median to
  median (``_CLIPPED_CREEP_FRACTION``): the box of a half-hidden parked vehicle flips
  between the vehicle alone and the vehicle with what stands beside it (heavily
  compressed footage), a vehicle leaving through the border drifts steadily.
* Sightings from before the tracker confirmed a track (``TrackObservation.earlier``: its
  first sighting, and weaker boxes at the same place just before it) count as the
  track's history, judged by the same rules: a vehicle the detector saw only faintly at
  first (the starved first keyframe of a compressed stream) was there all the same.
  They never start a track: only the tracker does. A new box on a vehicle that another
  track stands for takes over that track's history only if its own goes back less far.
* Time a track was not seen does not count as time at rest, and boxes off the spot for
  less than ``_AWAY_MS`` between sightings on it do not end it (a passer-by in front).
* No stay starts before a session that ended at the same spot (in the same zone, within
  the continuation radius) ended: two vehicles do not stand on one spot at once. A box
  that stood beside a parked vehicle (a second box on it, or a tracker id it is handed
  later) must be at rest for the minimum time *after* that session ended, not
  back-dated into it.
* A vehicle already at rest within the first analysed second (``_CENSOR_WINDOW_MS``)
  has a left-censored session; one still there when it ends (or when the camera
  drops) a right-censored one.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely

from occupancy.domain.records import (
    CurbEvent,
    EventType,
    OccupancySession,
    SessionKind,
    VehicleType,
    stable_id,
)
from occupancy.domain.states import ZoneViewState
from occupancy.observe.classify import refine
from occupancy.observe.zones import Zone, zone_index

XY = tuple[float, float]
# Where a vehicle is, for judging rest: its footprint point, then (when known) the bottom-left
# and bottom-right corners of its box on the ground.
Pose = tuple[XY, ...]
# Bottom edge of a box at an angle under this to the zone axis measures the vehicle's length.
_LENGTH_MAX_ANGLE = math.radians(30)
# Gaps between observations beyond this count as unseen time, not time at rest.
_UNSEEN_SLACK_MS = 1000
# A new track continues a session only once it has been at rest this long where the
# parked vehicle was: traffic passing over the spot must not stretch the session.
_REBORN_REST_MS = 1000
# A vehicle at rest within this long of the first analysed frame (or of the return from an
# outage) was there before observation began: the tracker confirms a track only on its
# second sighting and detection may miss a frame or two, so "the first frame" is too strict.
_CENSOR_WINDOW_MS = 1000
# Fraction of the stationary tolerance within which a vehicle at rest stays: half of it
# separates a parked vehicle's detection jitter (centimetres close up) from a creep that
# would stay within the whole tolerance for the minimum stationary time.
_REST_FRACTION = 0.5
# Detector jitter of a parked vehicle's box bottom, in pixels: the rest radius is never
# below the ground distance this spans at the vehicle's range.
_JITTER_PX = 2.0
# Sightings kept per track to find the moment of rest; where all of them agree, the
# vehicle has been at rest at least that long and its earlier start is kept.
_REST_HISTORY = 40
# An own track seen off its parked spot this long without a break has left, even if it
# never got beyond the departure radius: ByteTrack hands a departing vehicle's id to the
# next one arriving at the same bay, whose approach stays close to the spot. A box
# distorted by a passing vehicle is off the spot for a frame or two, not for 2 s.
_AWAY_MS = 2000
# Sightings whose median is "where the vehicle is now": one outlier box does not move it.
# How far one side of a box at rest may move while its other side stays: a door or a person
# beside the vehicle (about a metre). A box jumping to the neighbouring car moves a side
# by two car widths.
_SIDE_MAX_M = 1.5
# A new track first seen where another, seen within this long and not yet holding a
# session, stands is a second box (or a new id) on that vehicle: it takes over its history.
_FRAGMENT_MS = 1000
_MEDIAN_OF = 3
# A session ends halfway between its last supported frame and the next analysed frame, but
# never more than half of this after the last (a gap in the footage is not a stay).
_END_SPAN_MAX_MS = 1000
# Share of a new box's ground footprint inside a parked vehicle's footprint above which it
# is a box on that vehicle, not another vehicle: a part box (half of a side-on SUV with a
# pedestrian in front) lies wholly inside; a vehicle double-parked beside or behind
# another overlaps it by a strip of its lower box at most.
_NESTED_SHARE = 0.6
# Fraction of the rest radius by which a vehicle at rest may have drifted since it came
# to rest (its first sighting at rest to the median of its last), never less than
# ``_JITTER_PX`` pixels on the ground: a creep at walking pace into a bay
# drifts more, a parked vehicle's jitter averages out (seen obliquely, one pixel of a
# box's bottom edge can span 0.15 m, more than a quarter of a 0.5-m radius).
_CREEP_FRACTION = 0.25
# For a box cut by the frame's side border: fraction of the rest radius by which the
# median of its first sightings at rest may lie from the median of its last. A parked
# vehicle's box flipping on its one real side averages out; a vehicle leaving through the
# border at 0.6 m/s moves its visible middle 0.3 m a second and fails it within 2 s.
_CLIPPED_CREEP_FRACTION = 0.5


@dataclass(frozen=True, slots=True)
class TrackObservation:
    """One tracked vehicle in one analysed frame, on the ground.

    ``track_id`` is the tracker's id (``Detections.tracker_id``); ``ground`` the
    vehicle's footprint point and ``edge`` the bottom-left and bottom-right corners of its
    box, in the camera's ground frame (metres, x east, y north, see ``GroundProjection``);
    ``vehicle_type`` the detector class mapped by the site; ``confidence`` in [0, 1].
    """

    track_id: int
    ground: XY  # footprint, local metres
    vehicle_type: VehicleType  # from the detector class, before length refinement
    confidence: float
    edge: tuple[XY, XY] | None = None  # bottom-left and bottom-right corners on the ground
    # Ground distance (m) of one pixel at the footprint (homography Jacobian); None: unknown.
    metres_per_px: float | None = None
    # The vehicle's ground footprint, a ring of ground points (the lower part of its box
    # projected); a point that misses every zone is placed by the zone holding most of it.
    footprint: tuple[XY, ...] | None = None
    # Its box touches the frame's left or right border: one side is the border's (``edge``
    # is None then), the other the only real one.
    clipped: bool = False
    # Sightings of this vehicle from before its track was confirmed, oldest first: (time in
    # ms since the epoch, observation); only on the step the track is first reported.
    earlier: tuple[tuple[int, TrackObservation], ...] = ()

    @property
    def pose(self) -> Pose:
        """The footprint point, then the box's bottom corners when known (see ``Pose``)."""
        return (self.ground,) if self.edge is None else (self.ground, *self.edge)


@dataclass(slots=True)
class _Track:
    first_seen: int
    first_pos: XY
    anchor: XY  # where it came to rest (its position at still_since)
    still_since: int
    last_seen: int
    pos: XY
    anchor_pose: Pose = ()  # its pose when it came to rest
    unseen_ms: int = 0  # time unobserved since still_since: not evidence of rest
    recent: deque[tuple[int, Pose]] = field(default_factory=lambda: deque(maxlen=_REST_HISTORY))
    zone: int | None = None  # index of the zone it was last seen in

    def at_rest_ms(self, t: int) -> int:
        return t - self.still_since - self.unseen_ms


@dataclass(slots=True)
class _Occupant:
    zone: Zone
    start_ms: int
    anchor: XY
    anchor_pose: Pose
    track_ids: set[int]
    last_present: int
    start_censored: bool
    tol: float  # stationary tolerance at its range (m); own sightings within half support it
    departed: set[int] = field(default_factory=set)  # own tracks seen driving away
    away_since: dict[int, int] = field(default_factory=dict)  # own tracks seen off the spot
    left: int | None = None  # the step its vehicle was seen leaving an empty spot
    absent_from: int = 0  # the first analysed frame after last_present without it
    seq: int = 0  # how many sessions opened before it in this zone with the same start
    votes: dict[VehicleType, float] = field(default_factory=lambda: defaultdict(float))
    sightings: int = 0  # observations that voted
    lengths: list[float] = field(default_factory=list)
    # Ground footprint of its vehicle, from its own sightings at rest (None: unknown).
    footprint: shapely.Polygon | None = None

    def vehicle_type(self) -> VehicleType:
        base = (
            max(self.votes.items(), key=lambda kv: kv[1])[0]
            if self.votes
            else VehicleType.UNSPECIFIED
        )
        return refine(base, self.length_m())

    def vehicle_type_confidence(self) -> int | None:
        """CDS 1.1 ``vehicle_type_confidence`` (1-100) of the detector class the type comes
        from: the mean class confidence over every sighting, a sighting of another class
        counting 0 (so a class the detector wavers on scores low). A length refinement
        (car -> van) keeps its base class's figure: the detector has no score for it.
        None without sightings.
        """
        if not self.votes or self.sightings == 0:
            return None
        best = max(self.votes.values())
        return min(100, max(1, round(100.0 * best / self.sightings)))

    def length_m(self) -> float | None:
        return float(np.median(self.lengths)) if len(self.lengths) >= 2 else None


@dataclass(slots=True)
class _Departure:
    """A track seen driving off its spot (``anchor``) in ``zone_key``: ``far`` is the farthest
    it has been from it since, ``tol`` the session's stationary tolerance (m)."""

    zone_key: str
    anchor: XY
    far: float
    tol: float


@dataclass(frozen=True, slots=True)
class ZoneView:
    """What a zone looks like now, for review videos and live displays."""

    state: ZoneViewState
    dwell_s: float


@dataclass(frozen=True, slots=True)
class Output:
    """What one call of the machine produced: CDS events and the sessions that closed."""

    events: tuple[CurbEvent, ...] = ()
    sessions: tuple[OccupancySession, ...] = ()


def _median(sightings: Sequence[tuple[int, Pose]]) -> Pose:
    """Point by point median of the poses (as many points as the shortest has)."""
    arr = np.array([pose[: min(len(q) for _, q in sightings)] for _, pose in sightings])
    med = np.median(arr, axis=0)
    return tuple((float(x), float(y)) for x, y in med)


def _dist(a: XY, b: XY) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def _pose_dist(a: Pose, b: Pose) -> float:
    """How far a vehicle moved between two poses (metres): its footprint point's move, or
    one bottom corner's where the other side moved by no more than ``_SIDE_MAX_M`` (one
    side of the box changed: a door, a tailgate, a person beside it)."""
    d = _dist(a[0], b[0])
    if len(a) == len(b) == 3:
        left, right = _dist(a[1], b[1]), _dist(a[2], b[2])
        if right <= _SIDE_MAX_M:
            d = min(d, left)
        if left <= _SIDE_MAX_M:
            d = min(d, right)
    return d


class OccupancyMachine:
    """Turns ground observations of tracked vehicles into sessions and CDS events, per zone.

    ``zones`` are compiled site zones (ground polygons in metres). Vehicles within
    ``stationary_tolerance_m`` (metres) of where they came to rest count as at rest; a
    session survives ``grace_s`` seconds without support. ``device_id`` and ``run_id``
    go into every record and every deterministic id; ``to_lonlat`` maps a ground point
    to WGS84 (lon, lat) for event locations. The rules are in the module docstring.
    """

    def __init__(
        self,
        zones: Sequence[Zone],
        *,
        device_id: str,
        run_id: str,
        stationary_tolerance_m: float,
        grace_s: float,
        to_lonlat: Callable[[XY], XY],
    ) -> None:
        self.zones = list(zones)
        self._zone_at = {z.key: i for i, z in enumerate(self.zones)}
        self.device_id = device_id
        self.run_id = run_id
        self.tol = stationary_tolerance_m
        self.match_r = 1.5 * stationary_tolerance_m
        # An own track this far from where the vehicle parked has driven away.
        self.depart_r = max(3.0, 2 * self.match_r)
        self.grace_ms = round(grace_s * 1000)
        self.to_lonlat = to_lonlat
        self.tracks: dict[int, _Track] = {}
        self.occupants: list[_Occupant] = []
        self.first_t: int | None = None
        self.last_t: int | None = None
        self._arriving: set[str] = set()
        self._opened: dict[tuple[str, int], int] = {}
        self._lost_ms: int | None = None  # last good frame of an outage not yet restored
        self._censor_until: int | None = None
        # Tracks seen driving off a spot and not yet out of its zone, by track id.
        self._departures: dict[int, _Departure] = {}
        # Sessions closed recently: (zone key, anchor, end ms, continuation radius m).
        self._ended: list[tuple[str, XY, int, float]] = []

    # -- public ----------------------------------------------------------------------

    def step(self, t_ms: int, observations: Sequence[TrackObservation]) -> Output:
        """Advance to ``t_ms`` with the vehicles seen in that analysed frame.

        ``t_ms`` is the frame's time (ms since the epoch) and must not decrease from one call
        to the next; call it for every analysed frame, also with no observations (that is
        how absent vehicles time out). ``observations`` hold at most one per ``track_id``
        (ground metres, see ``TrackObservation``). Returns the ``park_start``/``park_end``
        events emitted and the sessions closed at this step; a session's ``park_start``
        carries the time the vehicle came to rest, earlier than ``t_ms``.
        """
        if self.first_t is None:
            self.first_t = t_ms
            self._censor_until = t_ms + _CENSOR_WINDOW_MS
        self.last_t = t_ms
        where = zone_index(
            self.zones,
            np.array([o.ground for o in observations], dtype=np.float64).reshape(-1, 2),
            [None if o.footprint is None else np.asarray(o.footprint) for o in observations],
        )
        for o, zi in zip(observations, where, strict=True):
            self._update_track(t_ms, o, zi)
            dep = self._departures.get(o.track_id)
            if dep is not None:
                if zi is None or self.zones[zi].key != dep.zone_key:
                    del self._departures[o.track_id]  # out of the zone: a return is an arrival
                else:
                    dep.far = max(dep.far, _dist(o.ground, dep.anchor))
        events: list[CurbEvent] = []
        sessions: list[OccupancySession] = []
        # Close sessions whose vehicle has been gone longer than the grace period, before
        # anything this step could (wrongly) continue them.
        for occ in list(self.occupants):
            if t_ms - occ.last_present > self.grace_ms:
                self._close(occ, censored=False, events=events, sessions=sessions)
        claimed = self._support_occupants(t_ms, observations, where)
        for occ in list(self.occupants):
            if occ.left == t_ms:
                self._close(occ, censored=False, events=events, sessions=sessions)
        self._open_new(t_ms, observations, where, claimed, events, sessions)
        self._forget_stale(t_ms)
        return Output(tuple(events), tuple(sessions))

    def comms_lost(self, lost_ms: int, detected_ms: int) -> Output:
        """The source went silent after its last good frame at ``lost_ms``; noticed at
        ``detected_ms``. ``comms_lost`` is stored now, stamped ``lost_ms``; sessions it
        hides for longer than grace are closed (right-censored at their last sighting)."""
        events: list[CurbEvent] = []
        if self._lost_ms is None:
            self._lost_ms = lost_ms
            events.append(self._comms_event(EventType.COMMS_LOST, lost_ms))
        sessions: list[OccupancySession] = []
        if detected_ms - lost_ms > self.grace_ms:
            self._close_all_hidden(events, sessions)
        return Output(tuple(events), tuple(sessions))

    def gap(self, lost_ms: int, restored_ms: int) -> Output:
        """The source came back after an outage from ``lost_ms`` to ``restored_ms``.

        ``comms_lost`` is recorded here only if ``comms_lost()`` did not already; sessions
        the outage hid for longer than grace end as right-censored."""
        events: list[CurbEvent] = []
        if self._lost_ms is None:
            events.append(self._comms_event(EventType.COMMS_LOST, lost_ms))
        events.append(self._comms_event(EventType.COMMS_RESTORED, restored_ms))
        self._lost_ms = None
        sessions: list[OccupancySession] = []
        if restored_ms - lost_ms > self.grace_ms:
            self._close_all_hidden(events, sessions)
            self.first_t = restored_ms  # what is at rest on return was there before it
            self._censor_until = restored_ms + _CENSOR_WINDOW_MS
        return Output(tuple(events), tuple(sessions))

    def _close_all_hidden(self, events: list[CurbEvent], sessions: list[OccupancySession]) -> None:
        for occ in list(self.occupants):
            self._close(occ, censored=True, events=events, sessions=sessions)
        self.tracks.clear()

    def finish(self) -> Output:
        """Observation ends: sessions still open are closed as right-censored."""
        events: list[CurbEvent] = []
        sessions: list[OccupancySession] = []
        for occ in list(self.occupants):
            self._close(occ, censored=True, events=events, sessions=sessions)
        return Output(tuple(events), tuple(sessions))

    def views(self, t_ms: int) -> dict[str, ZoneView]:
        """Each zone's state at ``t_ms`` for displays, by zone key: ``free``, ``arriving`` (a
        vehicle at rest in it, for less than the zone's minimum time), ``occupied`` or
        ``overstay`` (longer than ``max_stay_min``), with the dwell so far in seconds (0 when
        not occupied). Reflects the last ``step``; ``ZoneViewState.bay_state`` maps it to
        the API's ``BayState``.
        """
        out = {
            z.key: ZoneView(
                ZoneViewState.ARRIVING if z.key in self._arriving else ZoneViewState.FREE, 0.0
            )
            for z in self.zones
        }
        for occ in self.occupants:
            dwell = (t_ms - occ.start_ms) / 1000
            over = occ.zone.max_stay_min is not None and dwell > occ.zone.max_stay_min * 60
            out[occ.zone.key] = ZoneView(
                ZoneViewState.OVERSTAY if over else ZoneViewState.OCCUPIED, dwell
            )
        return out

    # -- internals -------------------------------------------------------------------

    def _rest_radius(self, o: TrackObservation) -> float:
        r = _REST_FRACTION * self.tol
        if o.metres_per_px is not None:
            r = max(r, _JITTER_PX * o.metres_per_px)
        if o.clipped:
            r = max(r, _SIDE_MAX_M / 2)  # its one real side may move by a door's width
        return r

    def _tolerance(self, o: TrackObservation) -> float:
        """The stationary tolerance at this vehicle's range (never below the site's)."""
        return max(self.tol, 2 * self._rest_radius(o))

    def _update_track(self, t: int, o: TrackObservation, zone: int | None) -> None:
        tr = self.tracks.get(o.track_id)
        if tr is None or t - tr.last_seen > self.grace_ms:
            # Unseen for longer than the grace period, an id is as good as new: the tracker
            # may have handed it to another vehicle, and nothing is known of the gap.
            heir = self._fragment_of(t, o, zone)
            prior = [(u, e) for u, e in o.earlier if u < t]
            if heir is not None and prior and prior[0][0] < heir.first_seen:
                heir = None  # its own sightings go back further than the other box's track
            if heir is None:
                if not prior:
                    tr = _Track(t, o.ground, o.ground, t, t, o.ground, o.pose, zone=zone)
                    tr.recent.append((t, o.pose))
                    self.tracks[o.track_id] = tr
                    return
                # Seen before the tracker confirmed it: that history is judged as any other.
                u0, e0 = prior[0]
                tr = _Track(u0, e0.ground, e0.ground, u0, u0, e0.ground, e0.pose, zone=zone)
                self.tracks[o.track_id] = tr
                for u, e in prior:
                    tr.recent.append((u, e.pose))
                    tr.last_seen = u
            else:
                tr = self.tracks[o.track_id] = heir
        tr.zone = zone
        tr.recent.append((t, o.pose))
        recent = list(tr.recent)
        now = _median(recent[-_MEDIAN_OF:])
        radius = self._rest_radius(o)
        k = len(recent) - 1
        if _pose_dist(o.pose, now) <= radius:  # else it is moving now: rest starts afresh
            while k > 0:
                if _pose_dist(recent[k - 1][1], now) <= radius:
                    k -= 1
                    continue
                # Boxes off the spot for under _AWAY_MS between sightings on it are not a
                # move: a passer-by in front stretches the box's bottom edge for a second
                # or so, a vehicle that leaves and another that comes take longer.
                j = k - 2
                while j >= 0 and _pose_dist(recent[j][1], now) > radius:
                    j -= 1
                if j < 0 or recent[k][0] - recent[j][0] > _AWAY_MS:
                    break
                k = j
            # A creep stays within the radius for a while: at rest means no trend either,
            # from its first sighting at rest to where it is now; a drift within a pixel's
            # jitter is no trend.
            if o.clipped:
                # Median to median: its visible middle jitters by half a side's flip.
                creep = _CLIPPED_CREEP_FRACTION * radius
                while (
                    k < len(recent) - 1
                    and _pose_dist(_median(recent[k : k + _MEDIAN_OF]), now) > creep
                ):
                    k += 1
            else:
                creep = _CREEP_FRACTION * radius
                if o.metres_per_px is not None:
                    creep = max(creep, _JITTER_PX * o.metres_per_px)
                while k < len(recent) - 1 and _pose_dist(recent[k][1], now) > creep:
                    k += 1
        full = len(recent) == tr.recent.maxlen
        if k == 0 and full and tr.still_since <= recent[0][0]:
            # At rest over the whole history: it came to rest earlier still; keep that.
            tr.unseen_ms += max(0, t - tr.last_seen - _UNSEEN_SLACK_MS)
        else:
            since = recent[k][0]
            if since != tr.still_since:
                tr.still_since = since
                tr.anchor = recent[k][1][0]
                tr.anchor_pose = recent[k][1]
            # Unseen time since the moment of rest, from the sightings themselves.
            tr.unseen_ms = sum(
                max(0, b[0] - a[0] - _UNSEEN_SLACK_MS)
                for a, b in zip(recent[k:], recent[k + 1 :], strict=False)
            )
        tr.last_seen = t
        tr.pos = o.ground

    def _fragment_of(self, t: int, o: TrackObservation, zone: int | None) -> _Track | None:
        """A copy of the history of the track whose vehicle ``o`` is a new box on, if any:
        one seen within ``_FRAGMENT_MS`` in the same zone, held by no session, whose last
        pose is within the rest radius of ``o``'s (a door opening makes the detector draw a
        second, wider box, which ByteTrack gives a new id; the vehicle was at rest before)."""
        # Not a session's vehicle (its own rules apply) nor one seen driving off its spot.
        held = {i for occ in self.occupants for i in occ.track_ids | occ.departed}
        radius = self._rest_radius(o)
        best: tuple[float, _Track] | None = None
        for tid, other in self.tracks.items():
            if (
                tid == o.track_id
                or tid in held
                or other.zone != zone
                or t - other.last_seen > _FRAGMENT_MS
            ):
                continue
            d = _pose_dist(o.pose, other.recent[-1][1])
            if d <= radius and (best is None or d < best[0]):
                best = (d, other)
        if best is None:
            return None
        src = best[1]
        return _Track(
            src.first_seen,
            src.first_pos,
            src.anchor,
            src.still_since,
            src.last_seen,
            src.pos,
            src.anchor_pose,
            src.unseen_ms,
            deque(src.recent, maxlen=_REST_HISTORY),
            zone,
        )

    def _forget_stale(self, t: int) -> None:
        """Drop tracks unseen for a minute, so a day-long stream keeps constant memory."""
        horizon = t - max(60_000, 2 * self.grace_ms)
        held = {i for occ in self.occupants for i in occ.track_ids}
        for tid in [k for k, tr in self.tracks.items() if tr.last_seen < horizon and k not in held]:
            del self.tracks[tid]
            self._departures.pop(tid, None)
        # A rest history reaches back _REST_HISTORY sightings: older ends cannot matter.
        self._ended = [e for e in self._ended if e[2] >= horizon]
        open_starts = {(occ.zone.key, occ.start_ms) for occ in self.occupants}
        for key in [k for k in self._opened if k[1] < horizon and k not in open_starts]:
            del self._opened[key]

    def _born_at(self, track_id: int, anchor: XY, since: int, t: int, match_r: float) -> bool:
        tr = self.tracks[track_id]
        return (
            tr.first_seen >= since
            and _dist(tr.first_pos, anchor) <= match_r
            and tr.at_rest_ms(t) >= _REBORN_REST_MS
        )

    def _nested_in(self, o: TrackObservation, occ: _Occupant) -> bool:
        """Whether ``o`` is a part box on ``occ``'s vehicle: its footprint lies mostly within
        the vehicle's (``_NESTED_SHARE``) and its track stood still since it was first seen
        after the session began (a vehicle that drove onto the spot is not a part box)."""
        if o.footprint is None or occ.footprint is None:
            return False
        tr = self.tracks[o.track_id]
        if tr.first_seen < occ.start_ms or _dist(tr.first_pos, tr.anchor) > 1.5 * occ.tol:
            return False
        box = shapely.Polygon(o.footprint)
        if not box.is_valid or box.area <= 0:
            return False
        return bool(box.intersection(occ.footprint).area >= _NESTED_SHARE * box.area)

    def _support_occupants(
        self, t: int, observations: Sequence[TrackObservation], where: Sequence[int | None]
    ) -> set[int]:
        claimed: set[int] = set()
        for occ in self.occupants:
            present = False
            match_r = 1.5 * occ.tol
            depart_r = max(self.depart_r, 2 * match_r)
            zi = self._zone_at[occ.zone.key]
            for o, o_zone in zip(observations, where, strict=True):
                if o.track_id in claimed:
                    continue
                if o.track_id in occ.track_ids:
                    d = _pose_dist(o.pose, occ.anchor_pose)
                    if d > _REST_FRACTION * occ.tol:
                        occ.away_since.setdefault(o.track_id, t)
                    else:
                        occ.away_since.pop(o.track_id, None)
                    if d > depart_r or t - occ.away_since.get(o.track_id, t) >= _AWAY_MS:
                        # Seen driving away (or off its spot for seconds on end): if the
                        # tracker later gives this id to the next vehicle, that vehicle must
                        # not continue this session.
                        occ.track_ids.discard(o.track_id)
                        occ.departed.add(o.track_id)
                        self._departures[o.track_id] = _Departure(
                            occ.zone.key, occ.anchor, _dist(o.ground, occ.anchor), occ.tol
                        )
                        continue
                # Its own track supports the session only where it parked: a vehicle that
                # starts to move has begun to leave (the session ends at its last rest).
                own = (
                    o.track_id in occ.track_ids
                    and _pose_dist(o.pose, occ.anchor_pose) <= _REST_FRACTION * occ.tol
                )
                fresh = (
                    o.track_id not in occ.track_ids
                    and o.track_id not in occ.departed
                    and o_zone in (None, zi)  # a track in another zone is another vehicle
                )
                reborn = (
                    fresh
                    and _dist(o.ground, occ.anchor) <= match_r
                    and self._born_at(o.track_id, occ.anchor, occ.start_ms, t, match_r)
                )
                if own or reborn:
                    claimed.add(o.track_id)
                    occ.track_ids.add(o.track_id)
                    present = True
                    self._observe(occ, o)
                elif (
                    fresh
                    and self.tracks[o.track_id].at_rest_ms(t) >= _REBORN_REST_MS
                    and self._nested_in(o, occ)
                ):
                    # A part box on the vehicle: it shows the vehicle is there, and is judged
                    # again each step (not one of its own tracks, whose pose is the spot's).
                    claimed.add(o.track_id)
                    present = True
            if present:
                occ.last_present = t
                continue
            if occ.absent_from <= occ.last_present:
                occ.absent_from = t  # the first analysed frame without it
            if (
                not occ.track_ids
                and occ.departed
                and not any(_dist(o.ground, occ.anchor) <= match_r for o in observations)
            ):
                # Its vehicle was seen driving off and nothing stands at the spot: it has
                # left; waiting out the grace period would let the next arrival continue it.
                occ.left = t
        return claimed

    def _observe(self, occ: _Occupant, o: TrackObservation) -> None:
        if o.footprint is not None:
            ring = shapely.Polygon(o.footprint)
            # The largest box seen on it: part boxes must not shrink what it covers.
            if ring.is_valid and (occ.footprint is None or ring.area > occ.footprint.area):
                occ.footprint = ring
        occ.votes[o.vehicle_type] += o.confidence
        occ.sightings += 1
        if o.edge is not None:
            (x1, y1), (x2, y2) = o.edge
            ex, ey = x2 - x1, y2 - y1
            n = math.hypot(ex, ey)
            if n > 0:
                along = abs(ex * occ.zone.axis[0] + ey * occ.zone.axis[1])
                if along / n >= math.cos(_LENGTH_MAX_ANGLE):
                    occ.lengths.append(along)

    def _open_new(
        self,
        t: int,
        observations: Sequence[TrackObservation],
        where: Sequence[int | None],
        claimed: set[int],
        events: list[CurbEvent],
        sessions: list[OccupancySession],
    ) -> None:
        self._arriving = set()
        for o, zi in zip(observations, where, strict=True):
            if o.track_id in claimed or zi is None:
                continue
            zone = self.zones[zi]
            if any(o.track_id in occ.track_ids for occ in self.occupants):
                continue  # its own session is open: it has begun to leave, not re-parked
            tr = self.tracks[o.track_id]
            if tr.at_rest_ms(t) < zone.min_stationary_ms:
                self._arriving.add(zone.key)
                continue
            dep = self._departures.get(o.track_id)
            if (
                dep is not None
                and dep.zone_key == zone.key
                and dep.far >= dep.tol
                and _dist(o.ground, dep.anchor) > dep.far - dep.tol
            ):
                continue  # a pause on its way out of the zone it just left, not a new stay
            self._departures.pop(o.track_id, None)
            if any(
                occ.zone.key == zone.key
                and (_dist(o.ground, occ.anchor) <= 1.5 * occ.tol or self._nested_in(o, occ))
                and occ.last_present == t
                for occ in self.occupants
            ):
                continue  # a second box on a vehicle already parked here
            # A new vehicle at rest where an absent one was: that one has left.
            for occ in list(self.occupants):
                if occ.zone.key == zone.key and _dist(o.ground, occ.anchor) <= 1.5 * occ.tol:
                    self._close(occ, censored=False, events=events, sessions=sessions)
            start = max(tr.still_since, tr.first_seen)
            floor = max(
                (
                    end
                    for key, anchor, end, radius in self._ended
                    if key == zone.key and _dist(o.ground, anchor) <= radius
                ),
                default=start,
            )
            if floor > start:
                if t - floor - tr.unseen_ms < zone.min_stationary_ms:
                    self._arriving.add(zone.key)
                    continue  # at rest beside a vehicle that has just left, not yet alone
                start = floor
            twins = self._opened.get((zone.key, start), 0)
            self._opened[(zone.key, start)] = twins + 1
            occ = _Occupant(
                zone=zone,
                start_ms=start,
                anchor=tr.anchor,
                anchor_pose=tr.anchor_pose,
                track_ids={o.track_id},
                last_present=t,
                start_censored=self._censor_until is not None and start <= self._censor_until,
                tol=self._tolerance(o),
                seq=twins,
            )
            self._observe(occ, o)
            claimed.add(o.track_id)
            self.occupants.append(occ)
            events.append(self._park_event(occ, EventType.PARK_START, start))

    def _session_id(self, occ: _Occupant) -> str:
        # Two vehicles can come to rest in one zone in the same analysed frame: the
        # order they were opened in (deterministic) keeps their ids apart.
        suffix = (occ.seq,) if occ.seq else ()
        return stable_id("session", self.run_id, occ.zone.key, occ.start_ms, *suffix)

    def _park_event(self, occ: _Occupant, kind: EventType, t: int) -> CurbEvent:
        sid = self._session_id(occ)
        lon, lat = self.to_lonlat(occ.anchor)
        length = occ.length_m()
        is_bay = occ.zone.kind is SessionKind.PARK
        return CurbEvent(
            event_id=stable_id(sid, str(kind)),
            event_type=kind,
            event_time=t,
            data_source_device_id=self.device_id,
            lon=lon,
            lat=lat,
            curb_zone_id=occ.zone.key if is_bay else occ.zone.beside_curb_zone_id,
            lane_zone_id=None if is_bay else occ.zone.key,
            event_session_id=sid,
            vehicle_type=occ.vehicle_type(),
            vehicle_type_confidence=occ.vehicle_type_confidence(),
            vehicle_length=None if length is None else round(length * 100),
            vehicle_blocked_lane_types=occ.zone.lane_types,
            run_id=self.run_id,
        )

    def _comms_event(self, kind: EventType, t: int) -> CurbEvent:
        return CurbEvent(
            event_id=stable_id(self.run_id, str(kind), t),
            event_type=kind,
            event_time=t,
            data_source_device_id=self.device_id,
            run_id=self.run_id,
        )

    def _close(
        self,
        occ: _Occupant,
        *,
        censored: bool,
        events: list[CurbEvent],
        sessions: list[OccupancySession],
    ) -> None:
        self.occupants.remove(occ)
        end = occ.last_present
        if not censored and occ.absent_from > end:
            # It left between its last sighting and the next analysed frame: the middle of
            # that interval is the unbiased estimate (the last sighting is early by half an
            # analysis step on average, and a whole one at worst).
            end += min(occ.absent_from - end, _END_SPAN_MAX_MS) // 2
        end = max(end, occ.start_ms)
        if not censored:  # an outage hid the vehicle; it did not leave
            self._ended.append((occ.zone.key, occ.anchor, end, 1.5 * occ.tol))
        if not censored:
            events.append(self._park_event(occ, EventType.PARK_END, end))
        lon, lat = self.to_lonlat(occ.anchor)
        length = occ.length_m()
        is_bay = occ.zone.kind is SessionKind.PARK
        sessions.append(
            OccupancySession(
                session_id=self._session_id(occ),
                kind=occ.zone.kind,
                data_source_device_id=self.device_id,
                start_ms=occ.start_ms,
                end_ms=end,
                vehicle_type=occ.vehicle_type(),
                curb_zone_id=occ.zone.key if is_bay else occ.zone.beside_curb_zone_id,
                lane_zone_id=None if is_bay else occ.zone.key,
                vehicle_length=None if length is None else round(length * 100),
                lon=lon,
                lat=lat,
                max_stay_min=occ.zone.max_stay_min,
                blocked_lane_types=occ.zone.lane_types,
                start_censored=occ.start_censored,
                end_censored=censored,
                run_id=self.run_id,
                track_ids=tuple(sorted(occ.track_ids)),
            )
        )
