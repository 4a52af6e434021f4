"""Render a planned scene: video + site file + exact truth, deterministic for a seed."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import yaml

from occupancy.evaluation.scenes.footage import (
    CONTROL_POINTS,
    FOREGROUND_FROM,
    FRAME_SIZE,
    Backdrop,
    Sprite,
    load_backdrop,
)
from occupancy.evaluation.scenes.plan import (
    BAY_IDS,
    LANE_ID,
    PlanSpec,
    Visit,
    bay_polygons,
    lane_polygon,
    metres_per_pixel_scale,
    plan_visits,
    projection,
)
from occupancy.evaluation.truth import Truth, TruthSession, write_truth

DEFAULT_FOOTAGE = Path(__file__).resolve().parents[3].parent / "shared" / "footage"
CAMERA_ID = "composed-g328"
START_TIME = "2026-03-02T09:00:00-05:00"


@dataclass(frozen=True)
class SceneSpec:
    """What to compose. ``size`` is the output [width, height] (default the footage's 896x500)."""

    duration_s: float = 180.0
    fps: float = 10.0
    size: tuple[int, int] | None = None
    min_stationary_s: float = 10.0
    grace_s: float = 5.0
    speed_mps: float = 5.0
    park_dwell_s: tuple[float, float] = (20.0, 70.0)
    # Time between one event of the scene's cycle and the next (longer: a quieter street).
    gap_s: tuple[float, float] = (3.0, 10.0)
    # Least time from a vehicle starting to leave a bay to the next at rest in it (0: as soon
    # as the traffic allows, about 3 s).
    turnover_s: float = 0.0
    # A busy street on top of the cycle (see PlanSpec): seconds between through-vehicles in
    # the aisle, pedestrians crossing the bays, vehicles crossing in front; None: none.
    through_every_s: float | None = None
    pedestrian_every_s: float | None = None
    front_every_s: float | None = None
    # Lighting drift: the whole picture's brightness swings by this fraction (clouds, the
    # sun moving) with this period; 0: constant light.
    light_drift: float = 0.0
    light_period_s: float = 60.0
    # mp4v: OpenCV's MPEG-4 Part 2 (every frame easy to seek); h264: libx264 through PyAV
    # at ``bit_rate`` bits/s with a keyframe every ``gop`` frames and no B-frames, as an IP
    # camera streams (2-4 Mbit/s and a 1-2 s GOP at 720p25 are typical).
    codec: Literal["mp4v", "h264"] = "mp4v"
    bit_rate: int = 3_000_000
    gop: int = 50


@dataclass(frozen=True)
class ComposedScene:
    """A composed evaluation scene on disk: its video, site and truth files, the truth, the
    planned visits and the number of frames.
    """

    video_path: Path
    site_path: Path
    truth_path: Path
    truth: Truth
    visits: tuple[Visit, ...]
    frames: int


def _scaled(points: list[tuple[float, float]], sx: float, sy: float) -> list[list[float]]:
    return [[round(x * sx, 2), round(y * sy, 2)] for x, y in points]


def site_document(spec: SceneSpec, video_name: str) -> dict[str, Any]:
    """The site file (as a dict) of a composed scene whose video is ``video_name``."""
    w, h = spec.size or FRAME_SIZE
    sx, sy = w / FRAME_SIZE[0], h / FRAME_SIZE[1]
    return {
        "camera_id": CAMERA_ID,
        "description": "Composed scene on the MEVA G328 school car park: three bays and the aisle behind them",
        "timezone": "America/Indiana/Indianapolis",
        "attribution": "Composed from MEVA Known Facility 1 (Kitware Inc. and IARPA), CC BY 4.0",
        "source": {"uri": video_name, "start_time": START_TIME},
        "frame_size": [w, h],
        "calibration": {
            "control_points": [
                {"pixel": _scaled([p], sx, sy)[0], "lonlat": list(ll)} for p, ll in CONTROL_POINTS
            ]
        },
        "occupancy": {"min_stationary_s": spec.min_stationary_s, "grace_s": spec.grace_s},
        "bays": [
            {"id": bid, "pixels": _scaled(poly, sx, sy), "max_stay": 30}
            for bid, poly in bay_polygons().items()
        ],
        "lane_zones": [
            {
                "id": LANE_ID,
                "name": "Aisle behind the bays",
                "pixels": _scaled(lane_polygon(), sx, sy),
                "lane_type": "travel_lane",
                "beside_bay": BAY_IDS[1],
            }
        ],
    }


def truth_of(spec: SceneSpec, visits: list[Visit], frames: int) -> Truth:
    """The truth of a composed scene: every planned park or double-park stop at least the
    site's minimum stationary time long, in seconds since the video's start.
    """
    sessions = []
    for v in visits:
        if v.kind not in ("park", "double_park") or v.dwell_s < spec.min_stationary_s:
            continue
        bay = v.zone if v.kind == "park" else None
        lane = v.zone if v.kind == "double_park" else None
        sessions.append(
            TruthSession(
                bay=bay,
                lane=lane,
                start_s=round(v.t_stop, 3),
                end_s=round(v.t_leave, 3),
                kind=v.kind,
                note=v.sprite,
            )
        )
    return Truth(
        camera_id=CAMERA_ID,
        duration_s=round(frames / spec.fps, 3),
        bays=list(BAY_IDS),
        lane_zones=[LANE_ID],
        sessions=sorted(sessions, key=lambda s: (s.start_s, s.zone)),
        source="composed by occupancy.evaluation.scenes: exact by construction",
    )


class Renderer:
    """Frames of a planned scene at ``size``: sprites pasted at their ground positions, scaled
    by the homography, far ones first (nearer vehicles hide farther ones).

    The background is resized once and sprites are pasted at the output size, so a 720p
    scene costs no full-frame resize per frame.
    """

    def __init__(
        self,
        backdrop: Backdrop,
        visits: list[Visit],
        size: tuple[int, int] = FRAME_SIZE,
        *,
        light_drift: float = 0.0,
        light_period_s: float = 60.0,
    ) -> None:
        self.light_drift, self.light_period_s = light_drift, light_period_s
        self.sx, self.sy = size[0] / FRAME_SIZE[0], size[1] / FRAME_SIZE[1]
        bg = backdrop.background
        self.background = (
            bg if size == FRAME_SIZE else cv2.resize(bg, size, interpolation=cv2.INTER_LINEAR)
        )
        self.visits = visits
        self.fg = (round(FOREGROUND_FROM[0] * self.sx), round(FOREGROUND_FROM[1] * self.sy))
        self.proj = projection()
        self.sprites = {s.name: s for s in backdrop.sprites}
        self.cache: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}

    def _resized(self, s: Sprite, scale: float) -> tuple[np.ndarray, np.ndarray]:
        key = (s.name, round(scale * 100))
        if key not in self.cache:
            f = key[1] / 100
            h, w = s.image.shape[:2]
            size = (max(2, round(w * f * self.sx)), max(2, round(h * f * self.sy)))
            interp = cv2.INTER_AREA if f * self.sx < 1 else cv2.INTER_LINEAR
            img = cv2.resize(s.image, size, interpolation=interp).astype(np.float32)
            alpha = cv2.resize(s.alpha, size, interpolation=cv2.INTER_LINEAR)[..., None]
            self.cache[key] = (img, alpha)
        return self.cache[key]

    def frame(self, t: float) -> np.ndarray:
        """The scene at ``t`` seconds."""
        frame = self.background.copy()
        placed = []
        for v in self.visits:
            g = v.ground_at(t)
            if g is not None:
                p = self.proj.ground_to_pixels(g[None, :])[0]
                placed.append((float(p[1]), float(p[0]), v))
        for y, x, v in sorted(placed, key=lambda e: e[0]):
            s = self.sprites[v.sprite]
            img, alpha = self._resized(s, metres_per_pixel_scale(self.proj, s.foot, (x, y)))
            h, w = img.shape[:2]
            x0, y0 = round(x * self.sx - w / 2), round(y * self.sy - h)
            fx0, fy0 = max(x0, 0), max(y0, 0)
            fx1, fy1 = min(x0 + w, frame.shape[1]), min(y0 + h, frame.shape[0])
            if fx1 <= fx0 or fy1 <= fy0:
                continue
            sub = (slice(fy0 - y0, fy1 - y0), slice(fx0 - x0, fx1 - x0))
            region = frame[fy0:fy1, fx0:fx1].astype(np.float32)
            a = alpha[sub]
            frame[fy0:fy1, fx0:fx1] = (a * img[sub] + (1 - a) * region).astype(np.uint8)
        if placed:
            fx, fy = self.fg
            frame[fy:, fx:] = self.background[fy:, fx:]
        if self.light_drift:
            gain = 1.0 + self.light_drift * math.sin(2 * math.pi * t / self.light_period_s)
            frame = cv2.convertScaleAbs(frame, alpha=gain)
        return frame


class _H264Writer:
    """libx264 through PyAV, with a camera's rate control: constant bit rate, fixed GOP."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int], bit_rate: int, gop: int):
        from fractions import Fraction

        import av

        self.container = av.open(str(path), "w")
        rate = Fraction(fps).limit_denominator(1000)
        self.stream = self.container.add_stream("libx264", rate=rate)
        self.stream.width, self.stream.height = size
        self.stream.pix_fmt = "yuv420p"
        self.stream.bit_rate = bit_rate
        kbit = bit_rate // 1000
        # One encoder thread: libx264's threaded rate control (VBV) makes a different
        # stream on every run (measured: two encodes of one scene differed from frame 3),
        # so a benchmark or test on a composed scene would not be reproducible.
        self.stream.codec_context.thread_count = 1
        self.stream.options = {
            "g": str(gop),
            "keyint_min": str(gop),
            "sc_threshold": "0",  # keyframes on the GOP clock only, as a camera does
            "bf": "0",
            "preset": "veryfast",
            "maxrate": f"{kbit}k",
            "bufsize": f"{2 * kbit}k",
        }

    def write(self, image: np.ndarray) -> None:
        import av

        for packet in self.stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
            self.container.mux(packet)

    def release(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


def compose_scene(
    spec: SceneSpec,
    out_dir: str | Path,
    seed: int = 0,
    *,
    footage_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ComposedScene:
    """Write ``scene.mp4``, ``site.yaml`` and ``truth.json`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    backdrop = load_backdrop((footage_dir or DEFAULT_FOOTAGE).resolve())
    plan = PlanSpec(
        duration_s=spec.duration_s,
        speed_mps=spec.speed_mps,
        park_dwell_s=spec.park_dwell_s,
        gap_s=spec.gap_s,
        turnover_s=spec.turnover_s,
        through_every_s=spec.through_every_s,
        pedestrian_every_s=spec.pedestrian_every_s,
        front_every_s=spec.front_every_s,
    )
    visits = plan_visits(plan, backdrop, seed)
    frames = round(spec.duration_s * spec.fps)
    size = spec.size or FRAME_SIZE
    video = out / "scene.mp4"
    writer: cv2.VideoWriter | _H264Writer
    if spec.codec == "h264":
        writer = _H264Writer(video, spec.fps, size, spec.bit_rate, spec.gop)
    else:
        writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"mp4v"), spec.fps, size)
        if not writer.isOpened():
            raise RuntimeError(f"{video}: OpenCV cannot write mp4v video here")
    renderer = Renderer(
        backdrop, visits, size, light_drift=spec.light_drift, light_period_s=spec.light_period_s
    )
    try:
        for i in range(frames):
            writer.write(renderer.frame(i / spec.fps))
            if progress is not None:
                progress(i + 1, frames)
    finally:
        writer.release()
    truth = truth_of(spec, visits, frames)
    site_path = out / "site.yaml"
    site_path.write_text(
        f"# Composed by occupancy.evaluation.scenes (seed {seed}); footage credit in attribution.\n"
        + yaml.safe_dump(site_document(spec, video.name), sort_keys=False)
    )
    truth_path = out / "truth.json"
    write_truth(truth, truth_path)
    return ComposedScene(video, site_path, truth_path, truth, tuple(visits), frames)


def kerb_spec(kind: Literal["quiet", "busy"], duration_s: float) -> SceneSpec:
    """The two kerbs the speed benchmark measures, as a 720p25 H.264 camera records them.

    quiet: the cycle of arrivals, stays and departures at a leisurely pace (an event every
    15-40 s), nothing else moving, a slow drift of light. busy: the cycle every 3-10 s,
    through-traffic in the aisle beside the bays about every 4 s, a pedestrian crossing the
    bays about every 6 s, a vehicle crossing in front of them about every 30 s, and the
    light swinging by 12 % over 90 s (passing clouds). There is no bus in the shared
    footage: the largest vehicle crossing in front is a pickup.
    """
    common: dict[str, Any] = {
        "duration_s": duration_s,
        "fps": 25.0,
        "size": (1280, 720),
        "codec": "h264",
        "bit_rate": 3_000_000,
        "gop": 50,
    }
    if kind == "quiet":
        return SceneSpec(**common, gap_s=(15.0, 40.0), light_drift=0.03, light_period_s=600.0)
    return SceneSpec(
        **common,
        gap_s=(3.0, 10.0),
        through_every_s=4.0,
        pedestrian_every_s=6.0,
        front_every_s=30.0,
        light_drift=0.12,
        light_period_s=90.0,
    )
