"""Bay membership from the vehicle's ground footprint on an oblique view (issue 13).

A synthetic pinhole camera 8 m up, pitched down 30°, looks at a row of slots painted
diagonally (45° to its axis); cars are 4.5 x 1.8 x 1.5 m boxes parked in them, and the
detector's box is the axis-aligned hull of a car's projected corners, clipped by the
frame. The box's bottom centre, the old footprint, lands outside the car's slot; the
lower part of the box, projected, lies mostly inside it.
"""

from __future__ import annotations

import math

import numpy as np
from pyproj import Transformer
from shapely.geometry import Polygon

from occupancy.domain.records import SessionKind, VehicleType
from occupancy.observe.calibration import GroundProjection
from occupancy.observe.pipeline import observations
from occupancy.observe.zones import Zone, zone_index
from vision.types import Detections

W, H = 1280, 720
F = 800.0


def camera() -> tuple[np.ndarray, np.ndarray]:
    """(3x4 projection of ground-plane 3D points, 3x3 homography ground -> image)."""
    pitch = math.radians(30)
    # Camera axes in world (x right, y forward on the ground, z up): looking along +y, down.
    r = np.array(
        [
            [1, 0, 0],
            [0, -math.sin(pitch), -math.cos(pitch)],
            [0, math.cos(pitch), -math.sin(pitch)],
        ]
    )
    c = np.array([0.0, 0.0, 8.0])
    k = np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1]])
    p = k @ np.hstack([r, (-r @ c)[:, None]])
    return p, p[:, [0, 1, 3]]


def project(p: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    h = np.hstack([xyz, np.ones((len(xyz), 1))]) @ p.T
    return h[:, :2] / h[:, 2:3]


def proj() -> GroundProjection:
    _, hg = camera()
    t = Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True)
    inv = Transformer.from_crs("EPSG:4326", "EPSG:32631", always_xy=True)
    centre = np.array([0.0, 20.0, 1.0]) @ hg.T
    return GroundProjection(np.linalg.inv(hg), hg, t, inv, 0.0, float(np.sign(centre[2])))


def rect(cx: float, cy: float, length: float, width: float, angle: float) -> np.ndarray:
    u = np.array([math.cos(angle), math.sin(angle)])
    v = np.array([-u[1], u[0]])
    c = np.array([cx, cy])
    return np.array(
        [c - u * length / 2 - v * width / 2, c + u * length / 2 - v * width / 2,
         c + u * length / 2 + v * width / 2, c - u * length / 2 + v * width / 2]
    )  # fmt: skip


def slot(key: str, ring: np.ndarray) -> Zone:
    return Zone(
        key=key,
        local_id=key,
        name=key,
        kind=SessionKind.PARK,
        ground=Polygon(ring),
        pixels=np.zeros((4, 2)),
        lonlat=[(0.0, 0.0)] * 5,
        axis=(1.0, 0.0),
        min_stationary_ms=10_000,
    )


def car_box(p: np.ndarray, ring: np.ndarray, height: float = 1.5) -> np.ndarray:
    base = np.hstack([ring, np.zeros((4, 1))])
    top = np.hstack([ring, np.full((4, 1), height)])
    px = project(p, np.vstack([base, top]))
    x0, y0 = px.min(axis=0)
    x1, y1 = px.max(axis=0)
    return np.array([max(0, x0), max(0, y0), min(W, x1), min(H, y1)])  # clipped by the frame


def test_cars_in_diagonal_slots_belong_to_their_slot_by_footprint() -> None:
    p, _ = camera()
    gp = proj()
    angle = math.radians(45)
    # Slots 2.6 m wide along a diagonal painted row; the last one is cut by the frame's
    # right border (part of it, and of its car, is out of view).
    step = 2.6 / math.sin(angle)
    centres = [(-6.0 + i * step, 16.0) for i in range(6)]
    slots = [slot(f"s{i}", rect(x, y, 5.2, 2.6, angle)) for i, (x, y) in enumerate(centres)]
    cars = [rect(x, y, 4.5, 1.8, angle) for x, y in centres]
    boxes = np.array([car_box(p, ring) for ring in cars], np.float32)
    assert boxes[-1, 2] == W  # the last car's box is clipped by the frame border
    dets = Detections(
        boxes,
        np.full(len(boxes), 0.8, np.float32),
        np.full(len(boxes), 2, np.int64),
        {2: "car"},
        np.arange(1, len(boxes) + 1, dtype=np.int64),
    )
    obs = observations(dets, gp, {"car": VehicleType.CAR})
    assert len(obs) == len(cars)
    points = np.array([o.ground for o in obs])
    by_point = zone_index(slots, points)
    # The fault: the bottom centre of the box misses the car's own slot.
    assert sum(by_point[i] != i for i in range(len(cars))) >= 3
    by_footprint = zone_index(slots, points, [np.asarray(o.footprint) for o in obs])
    assert by_footprint == list(range(len(cars)))


def test_a_footprint_mostly_outside_every_slot_belongs_to_none() -> None:
    s = slot("s", rect(0, 10, 5.2, 2.6, 0.0))
    # A car driving past in the lane beside the slot: a sliver of its footprint overlaps.
    passing = rect(0, 12.2, 4.5, 1.8, 0.0)
    assert zone_index([s], np.array([[0.0, 12.2]]), [passing]) == [None]
    parked = rect(0.3, 10.4, 4.5, 1.8, 0.0)
    assert zone_index([s], np.array([[0.3, 11.6]]), [parked]) == [0]


def test_a_car_driving_slowly_out_through_the_frame_border_is_not_at_rest() -> None:
    """Its box's left side is the frame's border, which stays put while the car leaves at
    0.6 m/s: that side is no evidence of rest (issue 13, "the tail of the departing
    vehicle's box"), so the bay it crosses gets no session."""
    from occupancy.observe.machine import OccupancyMachine

    p, _ = camera()
    gp = proj()
    bay = Zone(
        **{**slot("b", rect(-11.0, 12.0, 8.0, 2.6, 0.0)).__dict__, "min_stationary_ms": 3000}
    )

    def run(frame_size: tuple[int, int] | None) -> int:
        m = OccupancyMachine(
            [bay],
            device_id="cam",
            run_id="run",
            stationary_tolerance_m=1.0,
            grace_s=2.0,
            to_lonlat=lambda xy: xy,
        )
        sessions = 0
        for i in range(16):  # 8 s at 2 analysed frames a second
            x = -9.0 - 0.3 * i
            box = car_box(p, rect(x, 12.0, 4.5, 1.8, 0.0))
            assert box[0] == 0  # clipped by the frame's left border all along
            dets = Detections(
                box[None].astype(np.float32),
                np.array([0.8], np.float32),
                np.array([2]),
                {2: "car"},
                np.array([1]),
            )
            obs = observations(dets, gp, {"car": VehicleType.CAR}, frame_size)
            out = m.step(1_700_000_000_000 + 500 * i, obs)
            sessions += len(out.sessions)
        return sessions + len(m.finish().sessions)

    assert run((W, H)) == 0
    # Without the frame size, its bottom-left corner (the border) looks parked.
    assert run(None) >= 1
