"""Camera set-up in real Chromium: a site file made from clicks on a sample frame.

The clicks reproduce ``sample_videos/meva-a1c9.yaml`` (hand-written): its four control
points clicked on the frame and on the map, its two bays and lane zone drawn on the frame.
The downloaded file must validate with the CLI's model, hold the same zones and control
points within a pixel (clicks land on whole screen pixels), and give the same sessions on
the clip's footage as the hand-written file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from api.app import create_app
from api.keys import KeyStore
from occupancy.config.settings import Settings
from occupancy.config.site import load_site
from occupancy.storage.store import Store
from tests.api.browser import ARTIFACTS, chromium, needs_browser
from tests.api.conftest import zone_rows
from tests.api.server import serve_in_thread
from tests.conftest import FOOTAGE, SAMPLES, needs_footage

pytestmark = [*needs_browser, needs_footage]
SAMPLE = SAMPLES / "meva-a1c9.yaml"
CLIP = FOOTAGE / "meva" / "rvmot-a1c9"
PIXEL_TOL = 1.0  # px: a click lands on a whole CSS pixel at scale 1
LONLAT_TOL = 2e-6  # degrees (~0.2 m): a map click at zoom 21 is ~0.05 m per pixel


def _click_frame(page, x: float, y: float, w: int, h: int) -> None:
    # Keep clicks on the canvas: a corner point is clicked half a pixel inside the edge.
    cx, cy = page.evaluate(f"window.__setup.frameToClient({min(x, w - 0.5)}, {min(y, h - 0.5)})")
    page.mouse.click(cx, cy)


def _click_map(page, lon: float, lat: float) -> None:
    x, y = page.evaluate(
        f"""(() => {{ const m = window.setupMap; const p = m.project([{lon}, {lat}]);
        const r = m.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }})()"""
    )
    page.mouse.click(x, y)


def test_site_file_from_clicks_matches_hand_written_sample(
    tmp_path: Path, detector_factory
) -> None:
    sample = load_site(SAMPLE)
    db = f"sqlite:///{tmp_path / 'setup.db'}"
    store = Store(db)
    store.upsert_zones(zone_rows())
    _, admin = KeyStore(store).create("set-up test", ["admin"])
    settings = Settings(db=db, data_dir=tmp_path / "data", api_basemap="none")
    app = create_app(settings, store=store, background=False)
    w, h = sample.frame_size
    with serve_in_thread(app) as url, chromium(1900, 1300) as (page, errors, requested):
        page.goto(f"{url}/web/setup.html")
        page.wait_for_function("window.__setupMapReady === true", timeout=30_000)
        page.fill("#admin-key", admin)
        page.set_input_files("#frame-file", str(CLIP / "frame-0000.jpg"))
        page.wait_for_function("window.__setupFrameReady === true", timeout=10_000)
        assert page.evaluate("window.__setup.scale") == 1, "viewport too narrow for 1:1 clicks"
        cps = sample.calibration.control_points
        lon0 = sum(cp.lonlat[0] for cp in cps) / len(cps)
        lat0 = sum(cp.lonlat[1] for cp in cps) / len(cps)
        page.evaluate(f"window.setupMap.jumpTo({{center: [{lon0}, {lat0}], zoom: 21}})")
        for i, cp in enumerate(cps):
            _click_frame(page, *cp.pixel, w, h)
            _click_map(page, *cp.lonlat)
            if i == 3:
                page.wait_for_function("window.__setupCalibrated >= 1", timeout=10_000)
        status = page.inner_text("#calib-status")
        assert "RMS 0.00 m" in status and "(ok)" in status, status
        for bay in sample.bays:
            page.check("input[name=mode][value=bay]")
            for x, y in bay.pixels or ():
                _click_frame(page, x, y, w, h)
            page.fill("#zone-id", bay.id)
            page.click("#zone-close")
        for lane in sample.lane_zones:
            page.check("input[name=mode][value=lane]")
            for x, y in lane.pixels or ():
                _click_frame(page, x, y, w, h)
            page.fill("#zone-id", lane.id)
            page.click("#zone-close")
        page.fill("#camera-id", sample.camera_id)
        page.fill("#timezone", sample.timezone)
        # source.uri stays empty: a server never takes a file path from a client
        # (api.site_policy); `baywatch analyse CLIP --site` names the footage instead.
        page.fill("#source-fps", "30")
        assert sample.source.start_time is not None
        page.fill("#start-time", sample.source.start_time.isoformat())
        page.fill("#min-stationary", str(sample.occupancy.min_stationary_s))
        page.fill("#grace", str(sample.occupancy.grace_s))
        with page.expect_download() as dl:
            page.click("#site-download")
        made = tmp_path / "made.yaml"
        dl.value.save_as(made)
        page.screenshot(path=str(ARTIFACTS / "camera-setup.png"), full_page=True)
    assert errors == []
    assert not [u for u in requested if not u.startswith((url, f"blob:{url}", "data:"))]
    site = load_site(made)  # the CLI's model
    assert site.camera_id == sample.camera_id and site.frame_size == sample.frame_size
    for got, want in zip(site.calibration.control_points, cps, strict=True):
        assert got.pixel == pytest.approx(want.pixel, abs=PIXEL_TOL)
        assert got.lonlat == pytest.approx(want.lonlat, abs=LONLAT_TOL)
    for made_zones, want_zones in ((site.bays, sample.bays), (site.lane_zones, sample.lane_zones)):
        assert [z.id for z in made_zones] == [z.id for z in want_zones]
        for got_z, want_z in zip(made_zones, want_zones, strict=True):
            assert got_z.pixels is not None and want_z.pixels is not None
            for p, q in zip(got_z.pixels, want_z.pixels, strict=True):
                assert p == pytest.approx(q, abs=PIXEL_TOL)
    # Same sessions on the clip's footage as the hand-written file.
    from occupancy.runtime.analysis import analyse

    def sessions_of(s, name: str) -> list[tuple[str | None, str, int, int]]:
        st = Store(f"sqlite:///{tmp_path / name}")
        det = detector_factory(tuple(sorted(s.detector.classes)))
        res = analyse(str(CLIP), s, st, detector=det, analysis_fps=2.0, folder_fps=30.0)
        st.close()
        return sorted(
            (x.curb_zone_id or x.lane_zone_id, str(x.kind), x.start_ms, x.end_ms)
            for x in res.sessions
        )

    want_sessions = sessions_of(sample, "want.db")
    got_sessions = sessions_of(site, "got.db")
    assert want_sessions, "the sample clip should give at least one session"
    assert [s[:2] for s in got_sessions] == [s[:2] for s in want_sessions]
    for g, s in zip(got_sessions, want_sessions, strict=True):
        assert abs(g[2] - s[2]) <= 500 and abs(g[3] - s[3]) <= 500  # one analysed frame
    store.close()
