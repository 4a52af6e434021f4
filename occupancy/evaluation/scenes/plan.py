"""What happens in a composed scene: vehicles that arrive, stop and leave, on a seed.

Every vehicle follows a path of waypoints (image pixels of its footprint on the
ground) at a constant ground speed; its stop is exact, so the truth is exact.
Vehicles share one aisle behind the bays and never overlap on it (movements are
booked like slots); a double-parked vehicle blocks the aisle while it stands.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from occupancy.config.site import Calibration, ControlPoint
from occupancy.evaluation.scenes.footage import CONTROL_POINTS, EMPTY_X, Backdrop, Pixel, curb_y
from occupancy.observe.calibration import GroundProjection

VisitKind = Literal[
    "park", "short_stop", "drive_through", "double_park", "lane_stop", "crossing", "pedestrian"
]

# Layout on the G328 background (native 896x500 pixels).
BAY_IDS = ("bay-1", "bay-2", "bay-3")
LANE_ID = "aisle"
AISLE_Y = 378.0
# Vehicles come and go along the aisle from behind the building at the right edge.
_ENTRY: tuple[Pixel, ...] = ((900.0, AISLE_Y),)
_EXIT_LEFT: Pixel = (-70.0, 372.0)
_FRONT: tuple[Pixel, Pixel] = ((980.0, 470.0), (-90.0, 474.0))  # crossing in front of the bays
LANE_STOP_X = 480.0
# Pedestrians cross the bays from the pavement in front to the aisle, then walk off along it.
_PAVEMENT_Y = 498.0
_WALK_AISLE_Y = 368.0
WALKING_SPEED_MPS = 1.4  # a typical adult pace


def bay_bounds() -> list[tuple[float, float]]:
    """Each bay's left and right image x (pixels), in ``BAY_IDS`` order."""
    x0, x1 = EMPTY_X
    w = (x1 - x0) / len(BAY_IDS)
    return [(x0 + i * w, x0 + (i + 1) * w) for i in range(len(BAY_IDS))]


def bay_polygons() -> dict[str, list[Pixel]]:
    """Each bay's image polygon (pixels), by bay id."""
    out = {}
    for bid, (a, b) in zip(BAY_IDS, bay_bounds(), strict=True):
        out[bid] = [(a, 402.0), (b, 402.0), (b, 446.0), (a, 446.0)]
    return out


def lane_polygon() -> list[Pixel]:
    """The double-parking lane zone's image polygon (pixels)."""
    return [(388.0, 360.0), (578.0, 360.0), (578.0, 395.0), (388.0, 395.0)]


def bay_stop(bay: str) -> Pixel:
    """The image point (pixels) where a vehicle parked in ``bay`` stands."""
    a, b = bay_bounds()[BAY_IDS.index(bay)]
    x = (a + b) / 2
    return (x, curb_y(x) - 2.0)


def projection() -> GroundProjection:
    """The backdrop camera's ground projection (its site calibration)."""
    cal = Calibration(control_points=[ControlPoint(pixel=p, lonlat=ll) for p, ll in CONTROL_POINTS])
    return GroundProjection.from_calibration(cal)


@dataclass(frozen=True)
class Path:
    """Waypoints in pixels, walked at constant ground speed."""

    pixels: tuple[Pixel, ...]
    ground: np.ndarray  # N x 2 metres
    cum_m: np.ndarray  # N cumulative length

    @classmethod
    def of(cls, proj: GroundProjection, pixels: tuple[Pixel, ...]) -> Path:
        """A path through image points (pixels), measured on the ground through ``proj``."""
        g = proj.pixels_to_ground(np.asarray(pixels, dtype=np.float64))
        seg = np.linalg.norm(np.diff(g, axis=0), axis=1)
        return cls(pixels, g, np.concatenate([[0.0], np.cumsum(seg)]))

    @property
    def length_m(self) -> float:
        """The path's ground length in metres."""
        return float(self.cum_m[-1])

    def ground_at(self, d_m: float) -> np.ndarray:
        """The ground point (metres) ``d_m`` metres along the path (clamped to its ends)."""
        d = min(max(d_m, 0.0), self.length_m)
        i = int(np.searchsorted(self.cum_m, d, side="right")) - 1
        i = min(i, len(self.cum_m) - 2)
        span = self.cum_m[i + 1] - self.cum_m[i]
        f = 0.0 if span == 0 else (d - self.cum_m[i]) / span
        return np.asarray(self.ground[i] + f * (self.ground[i + 1] - self.ground[i]))


@dataclass(frozen=True)
class Visit:
    """One vehicle: drives ``path_in`` from ``t0``, stands ``dwell_s``, drives ``path_out``."""

    kind: VisitKind
    sprite: str
    zone: str | None
    t0: float
    path_in: Path
    dwell_s: float
    path_out: Path | None
    speed_mps: float

    @property
    def t_stop(self) -> float:
        """When the vehicle comes to rest, in seconds since the video's start."""
        return self.t0 + self.path_in.length_m / self.speed_mps

    @property
    def t_leave(self) -> float:
        """When it starts to leave (seconds)."""
        return self.t_stop + self.dwell_s

    @property
    def t_gone(self) -> float:
        """When it has left the picture (seconds)."""
        out = 0.0 if self.path_out is None else self.path_out.length_m / self.speed_mps
        return self.t_leave + out

    def ground_at(self, t: float) -> np.ndarray | None:
        """Where the vehicle is on the ground at ``t`` seconds (None: not in the scene)."""
        if t < self.t0 or t >= self.t_gone:
            return None
        if t < self.t_stop:
            return self.path_in.ground_at((t - self.t0) * self.speed_mps)
        if t < self.t_leave or self.path_out is None:
            return self.path_in.ground[-1]
        return self.path_out.ground_at((t - self.t_leave) * self.speed_mps)


@dataclass(frozen=True)
class PlanSpec:
    """How busy a composed scene is: its length and vehicle speed, ranges (min, max) of
    dwell, short-stop, double-parking and gap times in seconds, and optional passing
    traffic and pedestrians.
    """

    duration_s: float
    speed_mps: float = 5.0
    park_dwell_s: tuple[float, float] = (20.0, 70.0)
    short_stop_s: tuple[float, float] = (3.0, 6.0)
    double_park_s: tuple[float, float] = (15.0, 30.0)
    gap_s: tuple[float, float] = (3.0, 10.0)
    # Least time from a vehicle starting to leave a bay to the next one at rest in it.
    turnover_s: float = 0.0
    # A busy street, on top of the cycle (None: none of it): vehicles driving through the
    # aisle beside the bays, pedestrians crossing the bays, vehicles crossing in front of
    # them, each about every so many seconds (uniform between half and 1.5 times that).
    through_every_s: float | None = None
    pedestrian_every_s: float | None = None
    front_every_s: float | None = None


# One cycle of what happens; long scenes repeat it. Every kind of difficulty is in it.
PATTERN: tuple[str, ...] = (
    "park",
    "double_park",
    "park",
    "drive_through",
    "park_occluded",
    "short_stop",
    "park_back_to_back",
    "lane_stop",
    "park",
    "drive_through",
)


class _Traffic:
    """Where every booked vehicle's sprite is, every ``DT`` seconds, as shrunken boxes.

    A vehicle is scheduled at the earliest start at which its box never overlaps
    another's: vehicles queue behind a double-parked one, wait for a bay to clear and
    never drive through each other. Boxes are shrunk so neighbours in adjacent bays
    and a car passing behind a parked row do not count as overlapping.
    """

    DT = 0.2
    SHRINK = 0.18  # of the box's width and height, each side

    def __init__(self, proj: GroundProjection, backdrop: Backdrop) -> None:
        self.proj = proj
        self.sizes = {s.name: s.image.shape[:2] for s in backdrop.sprites}
        self.feet = {s.name: s.foot for s in backdrop.sprites}
        self.booked: list[tuple[int, np.ndarray]] = []  # first time index, N x 4 boxes

    def boxes(self, v: Visit) -> np.ndarray:
        """Boxes from ``v.t0`` on, every DT, until it is gone."""
        n = max(1, math.ceil((v.t_gone - v.t0) / self.DT))
        pts = np.array([v.ground_at(v.t0 + i * self.DT) for i in range(n)], dtype=np.float64)
        px = self.proj.ground_to_pixels(pts)
        h, w = self.sizes[v.sprite]
        foot = self.feet[v.sprite]
        scale = np.array([metres_per_pixel_scale(self.proj, foot, (x, y)) for x, y in px])
        hw, hh = w * scale / 2, h * scale
        dx, dy = hw * (1 - 2 * self.SHRINK), hh * self.SHRINK
        return np.column_stack([px[:, 0] - dx, px[:, 1] - hh + dy, px[:, 0] + dx, px[:, 1] - dy])

    def clashes(self, k: int, boxes: np.ndarray) -> bool:
        for kb, other in self.booked:
            lo, hi = max(k, kb), min(k + len(boxes), kb + len(other))
            if lo >= hi:
                continue
            a, b = boxes[lo - k : hi - k], other[lo - kb : hi - kb]
            overlap = (
                (a[:, 0] < b[:, 2])
                & (b[:, 0] < a[:, 2])
                & (a[:, 1] < b[:, 3])
                & (b[:, 1] < a[:, 3])
            )
            if overlap.any():
                return True
        return False

    def book(self, v: Visit, latest: float) -> Visit | None:
        """``v`` at its earliest clash-free start no later than ``latest``, booked; or None."""
        boxes = self.boxes(v)
        k = math.ceil(v.t0 / self.DT - 1e-9)
        while k * self.DT <= latest:
            if not self.clashes(k, boxes):
                self.booked.append((k, boxes))
                return replace(v, t0=round(k * self.DT, 6))
            k += 1
        return None


def plan_visits(spec: PlanSpec, backdrop: Backdrop, seed: int) -> list[Visit]:
    """The visits of a scene, drawn from ``seed`` (the same seed gives the same scene):
    parking, short stops and double parking in a fixed pattern, bays never entered while
    occupied, plus passing traffic when ``spec`` asks for it.
    """
    rng = np.random.default_rng(seed)
    proj = projection()
    traffic = _Traffic(proj, backdrop)
    bay_free = dict.fromkeys(BAY_IDS, 0.0)
    fronts = sorted(s.name for s in backdrop.front())
    sides = sorted(s.name for s in backdrop.side())
    visits: list[Visit] = []
    t = float(rng.uniform(1.0, 3.0))
    last: Visit | None = None
    end = spec.duration_s - 1.0
    for item in itertools.cycle(PATTERN):
        if t > end:
            break
        kind: VisitKind
        zone: str | None
        start = t
        if item.startswith("park") or item == "short_stop":
            kind = "short_stop" if item == "short_stop" else "park"
            back_to_back = item == "park_back_to_back" and last is not None
            if back_to_back and last is not None:
                zone = last.zone
            else:
                soonest = min(bay_free.values())
                zone = str(rng.choice([b for b, f in bay_free.items() if f == soonest]))
            assert zone is not None
            stop = bay_stop(zone)
            path_in = (*_ENTRY, (stop[0], AISLE_Y), stop)
            # Out forwards to the left, or backing out and away the way it came.
            left = back_to_back or bool(rng.random() < 0.5)
            path_out: tuple[Pixel, ...] | None = (
                (stop, (stop[0], AISLE_Y), _EXIT_LEFT)
                if left
                else (stop, (stop[0], AISLE_Y), *_ENTRY[::-1])
            )
            lo, hi = spec.short_stop_s if kind == "short_stop" else spec.park_dwell_s
            sprite = str(rng.choice(fronts))
        elif item in ("double_park", "lane_stop"):
            kind = "double_park" if item == "double_park" else "lane_stop"
            zone = LANE_ID
            stop = (LANE_STOP_X + float(rng.uniform(-20, 20)), AISLE_Y)
            path_in = (*_ENTRY, stop)
            path_out = (stop, _EXIT_LEFT)
            lo, hi = spec.double_park_s if kind == "double_park" else spec.short_stop_s
            sprite = str(rng.choice(sides))
        else:  # drive_through
            kind, zone = "drive_through", None
            path_in = (*_ENTRY, _EXIT_LEFT)
            path_out = None
            lo, hi = 0.0, 0.0
            sprite = str(rng.choice(sides))
        p_in = Path.of(proj, path_in)
        p_out = None if path_out is None else Path.of(proj, path_out)
        draft = Visit(
            kind, sprite, zone, start, p_in, float(rng.uniform(lo, hi)), p_out, spec.speed_mps
        )
        if zone in bay_free:
            # At rest no sooner than the turnover after the previous vehicle started to leave;
            # back-to-back: as soon as that (and the traffic) allows.
            earliest = max(0.0, bay_free[zone] - (draft.t_stop - draft.t0))
            draft = replace(draft, t0=earliest if item == "park_back_to_back" else max(t, earliest))
        t += float(rng.uniform(*spec.gap_s))
        visit = traffic.book(draft, latest=end - (draft.t_gone - draft.t0))
        if visit is None:
            continue  # does not fit before the end: the next, shorter item may
        visits.append(visit)
        if zone in bay_free:
            bay_free[zone] = visit.t_leave + spec.turnover_s
            if kind == "park":
                last = visit
        if item == "park_occluded":
            visits.append(_crossing(proj, backdrop, visit, spec.speed_mps * 0.75))
    visits += _street(spec, backdrop, proj, traffic, seed)
    return sorted(visits, key=lambda v: v.t0)


def _times(rng: np.random.Generator, every_s: float | None, end: float) -> list[float]:
    out: list[float] = []
    if every_s is None:
        return out
    t = float(rng.uniform(0.0, every_s))
    while t < end:
        out.append(t)
        t += float(rng.uniform(0.5 * every_s, 1.5 * every_s))
    return out


def _street(
    spec: PlanSpec, backdrop: Backdrop, proj: GroundProjection, traffic: _Traffic, seed: int
) -> list[Visit]:
    """The busy street's extras, drawn from their own random stream (so the cycle of a seed
    is the same with or without them) and booked after it: through-traffic takes the gaps
    the cycle's vehicles leave in the aisle and never delays them, so the truth is unchanged.
    None of these stops in a zone: they add no true session."""
    rng = np.random.default_rng([seed, 1])
    end = spec.duration_s - 1.0
    sides = sorted(s.name for s in backdrop.side())
    people = sorted(s.name for s in backdrop.people())
    out: list[Visit] = []
    through = Path.of(proj, (*_ENTRY, _EXIT_LEFT))
    for t in _times(rng, spec.through_every_s, end):
        draft = Visit(
            "drive_through", str(rng.choice(sides)), None, t, through, 0.0, None, spec.speed_mps
        )
        booked = traffic.book(draft, latest=min(end, t + 2 * (spec.through_every_s or 0.0)))
        if booked is not None and booked.t_gone <= spec.duration_s:
            out.append(booked)
    x0, x1 = EMPTY_X
    for t in _times(rng, spec.pedestrian_every_s, end):
        x = float(rng.uniform(x0 - 40, x1 + 40))
        walk = ((x, _PAVEMENT_Y), (x, _WALK_AISLE_Y), (-40.0, _WALK_AISLE_Y))
        path = Path.of(proj, walk if rng.random() < 0.5 else walk[::-1])
        out.append(
            Visit(
                "pedestrian", str(rng.choice(people)), None, t, path, 0.0, None, WALKING_SPEED_MPS
            )
        )
    tallest = max(backdrop.front(), key=lambda s: s.image.shape[0]).name
    front = Path.of(proj, _FRONT)
    for t in _times(rng, spec.front_every_s, end):
        out.append(Visit("crossing", tallest, None, t, front, 0.0, None, spec.speed_mps))
    return out


def _crossing(proj: GroundProjection, backdrop: Backdrop, parked: Visit, speed: float) -> Visit:
    """A vehicle passing in front of ``parked`` at mid-dwell, hiding it for about 2 s."""
    path = Path.of(proj, _FRONT)
    stop = parked.path_in.ground[-1]
    # Distance along the (nearly straight) crossing path at which it hides the parked vehicle.
    x_stop = proj.ground_to_pixels(stop[None, :])[0, 0]
    d_front = path.length_m * (_FRONT[0][0] - x_stop) / (_FRONT[0][0] - _FRONT[1][0])
    t0 = parked.t_stop + parked.dwell_s / 2 - d_front / speed
    tallest = max(backdrop.front(), key=lambda s: s.image.shape[0]).name
    return Visit("crossing", tallest, None, t0, path, 0.0, None, speed)


def metres_per_pixel_scale(proj: GroundProjection, foot: Pixel, at: Pixel) -> float:
    """How much bigger a vehicle at ``at`` looks than one at ``foot`` (ratio of pixels per metre)."""

    def ppm(p: Pixel) -> float:
        g = proj.pixels_to_ground(np.asarray([p], dtype=np.float64))[0]
        q = proj.ground_to_pixels(np.asarray([g, g + np.array([1.0, 0.0])]))
        return float(math.hypot(*(q[1] - q[0])))

    return ppm(at) / ppm(foot)
