"""The scene composer: deterministic for a seed, and its truth agrees with its frames."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from occupancy.config.site import load_site
from occupancy.evaluation.evaluate import check_against_site
from occupancy.evaluation.scenes import SceneSpec, compose_scene, kerb_spec
from occupancy.evaluation.scenes.compose import Renderer
from occupancy.evaluation.scenes.footage import load_backdrop
from occupancy.evaluation.scenes.plan import (
    BAY_IDS,
    PlanSpec,
    Visit,
    bay_polygons,
    bay_stop,
    plan_visits,
    projection,
)
from occupancy.evaluation.truth import load_truth
from occupancy.observe.pipeline import check_frame_size, prepare
from tests.conftest import FOOTAGE
from vision.sources import open_source

pytestmark = pytest.mark.skipif(
    not (FOOTAGE / "meva" / "rvmot-c4f6").exists(),
    reason="../shared/footage is not on this machine",
)


def frames(path: Path, every: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out, i = [], 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        if i % every == 0:
            out.append(img)
        i += 1
    cap.release()
    return out


def test_same_seed_same_scene_other_seed_other_scene(tmp_path: Path) -> None:
    spec = SceneSpec(duration_s=60, fps=4)
    a = compose_scene(spec, tmp_path / "a", seed=3)
    b = compose_scene(spec, tmp_path / "b", seed=3)
    c = compose_scene(spec, tmp_path / "c", seed=4)
    assert a.truth_path.read_text() == b.truth_path.read_text()
    assert a.site_path.read_text() == b.site_path.read_text()
    fa, fb = frames(a.video_path, 10), frames(b.video_path, 10)
    assert len(fa) == len(fb) == 24 and all(
        np.array_equal(x, y) for x, y in zip(fa, fb, strict=True)
    )
    assert a.truth != c.truth
    assert a.frames == 240 and a.truth.duration_s == 60


def test_h264_scene_is_the_same_stream_on_every_run(tmp_path: Path) -> None:
    """Benchmarks compose their camera-like H.264 scenes afresh: two runs must decode to the
    same pixels (libx264's threaded rate control did not: frames differed from the 4th)."""
    import av

    spec = kerb_spec("busy", 3.0)

    def pixels(d: str) -> list[np.ndarray]:
        scene = compose_scene(spec, tmp_path / d, seed=1)
        with av.open(str(scene.video_path)) as c:
            return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]

    a, b = pixels("a"), pixels("b")
    assert len(a) == len(b) == 75
    differ = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if not np.array_equal(x, y)]
    assert differ == []


def test_truth_is_consistent_with_the_plan_and_the_pixels() -> None:
    backdrop = load_backdrop(FOOTAGE.resolve())
    spec = SceneSpec(duration_s=240)
    visits = plan_visits(PlanSpec(duration_s=240), backdrop, seed=0)
    from occupancy.evaluation.scenes.compose import truth_of

    truth = truth_of(spec, visits, frames=2400)
    kinds = [v.kind for v in visits]
    # Every difficulty is in a four-minute scene.
    for kind in ("park", "double_park", "drive_through", "short_stop", "lane_stop", "crossing"):
        assert kind in kinds, kind
    parks = [v for v in visits if v.kind in ("park", "double_park")]
    assert len(truth.sessions) == len(parks) >= 6
    assert all(s.end_s - s.start_s >= spec.min_stationary_s for s in truth.sessions)
    assert all(
        v.dwell_s < spec.min_stationary_s for v in visits if v.kind in ("short_stop", "lane_stop")
    )
    # No two vehicles stand in one zone at once; one may arrive as the one before drives off.
    for zone in (*BAY_IDS, "aisle"):
        spans = sorted((v.t_stop, v.t_leave) for v in visits if v.zone == zone)
        assert all(b0 >= a1 for (_, a1), (b0, _) in itertools.pairwise(spans)), zone
    gaps = [
        b.t_stop - a.t_leave
        for a, b in itertools.pairwise(
            sorted((v for v in parks if v.zone == "bay-1"), key=lambda v: v.t0)
        )
    ]
    assert min(gaps) < spec.grace_s, "back-to-back arrivals closer than the grace period"
    # The crossing vehicle passes in front of a parked one in the middle of its stay.
    proj = projection()

    def x_at(v: Visit, t: float) -> float:
        g = v.ground_at(t)
        assert g is not None
        return float(proj.ground_to_pixels(g[None, :])[0, 0])

    crossings = [v for v in visits if v.kind == "crossing"]
    assert crossings
    for cross in crossings:
        assert any(
            abs(x_at(cross, (p.t_stop + p.t_leave) / 2) - bay_stop(str(p.zone))[0]) < 30
            for p in parks
            if p.kind == "park" and p.t_stop < cross.t0 + 5 < p.t_leave
        )
    # Pixels: a bay is painted over exactly while the truth (or a short stop) says a vehicle is there.
    renderer = Renderer(backdrop, visits)
    polys = bay_polygons()
    for s in truth.sessions:
        if s.bay is None:
            continue
        x0, y0 = polys[s.bay][0]
        x1, y1 = polys[s.bay][2]
        mid = renderer.frame((s.start_s + s.end_s) / 2)[
            int(y0) - 30 : int(y1) - 15, int(x0) : int(x1)
        ]
        bg = backdrop.background[int(y0) - 30 : int(y1) - 15, int(x0) : int(x1)]
        assert np.abs(mid.astype(int) - bg).mean() > 15, s
    empty_t = next(t for t in np.arange(0, 240, 0.5) if all(v.ground_at(t) is None for v in visits))
    assert np.array_equal(renderer.frame(float(empty_t)), backdrop.background)


def test_720p_scene_site_and_truth_fit_together(tmp_path: Path) -> None:
    scene = compose_scene(SceneSpec(duration_s=4, fps=25, size=(1280, 720)), tmp_path, seed=1)
    site = load_site(scene.site_path)
    assert site.frame_size == (1280, 720)
    src = open_source(str(scene.video_path), analysis_fps=2, start_ms=0, folder_fps=None)
    assert src.info.frame_size == (1280, 720) and src.info.native_fps == 25
    assert src.info.duration_s == pytest.approx(4.0)
    check_frame_size(site, src)  # raises if the site's pixels do not fit the video
    check_against_site(load_truth(scene.truth_path), site, "truth.json")
    _, zones = prepare(site)
    bay1 = next(z for z in zones if z.local_id == "bay-1")
    # Scaling the pixels with the frame keeps the bays where they are on the ground.
    native = load_site(compose_scene(SceneSpec(duration_s=1, fps=2), tmp_path / "n").site_path)
    _, native_zones = prepare(native)
    nbay1 = next(z for z in native_zones if z.local_id == "bay-1")
    assert bay1.length_m == pytest.approx(nbay1.length_m, rel=0.01)


def test_busy_kerb_adds_street_traffic_without_changing_the_truth(tmp_path: Path) -> None:
    from occupancy.evaluation.scenes.compose import truth_of
    from occupancy.evaluation.scenes.plan import PlanSpec, plan_visits

    backdrop = load_backdrop(FOOTAGE.resolve())
    calm = plan_visits(PlanSpec(duration_s=120), backdrop, seed=2)
    busy = plan_visits(
        PlanSpec(duration_s=120, through_every_s=4, pedestrian_every_s=6, front_every_s=30),
        backdrop,
        seed=2,
    )
    spec = SceneSpec(duration_s=120, fps=5)
    # The cycle's vehicles and so the truth are the same with the street's extras added.
    assert truth_of(spec, calm, 600) == truth_of(spec, busy, 600)
    cycle = {(v.kind, v.sprite, v.t0) for v in calm}
    extra = [v for v in busy if (v.kind, v.sprite, v.t0) not in cycle]
    assert len(busy) - len(extra) == len(calm)
    kinds = {
        k: sum(v.kind == k for v in extra) for k in ("drive_through", "pedestrian", "crossing")
    }
    # About every 4 s, 6 s and 30 s over 119 s (the aisle's bookings drop a few through-cars).
    assert kinds["drive_through"] >= 15 and 12 <= kinds["pedestrian"] <= 30, kinds
    assert kinds["crossing"] >= 2, kinds
    assert all(v.dwell_s == 0 and v.zone is None for v in extra)  # none stops in a zone
    people = {s.name for s in backdrop.people()}
    assert {v.sprite for v in extra if v.kind == "pedestrian"} <= people

    # Rendered as a camera records it: H.264, a keyframe every 50 frames, about 3 Mbit/s.
    import av

    scene = compose_scene(kerb_spec("busy", 4.0), tmp_path, seed=0)
    with av.open(str(scene.video_path)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and (s.width, s.height) == (1280, 720)
        keys = [i for i, p in enumerate(c.demux(s)) if p.is_keyframe]
    assert keys[:2] == [0, 50]
    bits = scene.video_path.stat().st_size * 8 / 4.0
    assert 1.5e6 < bits < 4.5e6, bits
