"""The web map in real headless Chromium: bays drawn, a click opens the chart panel.

Needs Debian's ``chromium`` and Python ``playwright`` (its own browser download is not
used). The screenshot goes to ``test-artifacts/web-map.png``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from api.app import VENDOR, create_app
from api.profiles import ProfileSnapshot
from occupancy.config.settings import Settings
from occupancy.storage.store import Store
from tests.api.conftest import BAYS, T0, event, session, zid, zone_rows
from tests.api.server import serve_in_thread

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
    pytest.mark.skipif(
        not all(p.is_dir() for p in VENDOR.values()),
        reason="api/web/node_modules missing: run `make setup` (npm ci)",
    ),
]


def test_map_draws_bays_and_opens_chart(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    db = f"sqlite:///{tmp_path / 'web.db'}"
    store = Store(db)
    store.upsert_zones(zone_rows())
    from occupancy.runtime.wire import EventIn, SessionIn

    evs = [event("park_start", "b1", T0), event("park_end", "b2", T0)]
    store.ingest_events([EventIn.model_validate(e).row(T0) for e in evs])
    store.ingest_sessions([SessionIn.model_validate(session("b1", T0, T0 + 900_000)).row()])
    from api.keys import KeyStore

    _, token = KeyStore(store).create("browser test", ["ingest"])
    # No basemap: this test checks that nothing is fetched from outside the app.
    settings = Settings(db=db, data_dir=tmp_path / "data", api_basemap="none")
    app = create_app(settings, store=store, background=False)
    hourly = np.tile(np.linspace(0.9, 0.2, 24), (7, 1))  # P(free) falling through the day
    # b1 observed by its camera, b4 simulated (the map shows observed ones by default).
    app.state.api.profiles.snapshot = ProfileSnapshot(
        {zid("b1"): hourly, zid("b4"): hourly},
        {zid("b1"): "camera", zid("b4"): "simulated"},
        T0,
        observed={zid("b1"): hourly},
        simulated={zid("b4"): hourly},
    )
    ARTIFACTS.mkdir(exist_ok=True)
    with serve_in_thread(app) as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--use-angle=swiftshader",
                "--enable-unsafe-swiftshader",
            ],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        page.goto(f"{url}/web/")
        page.wait_for_function("window.__baywatchReady === true", timeout=30_000)
        drawn = page.evaluate(
            "window.baywatchMap.queryRenderedFeatures({layers: ['bays']})"
            ".map(f => f.properties.curb_zone_id)"
        )
        assert sorted(set(drawn)) == sorted(zid(b) for b in BAYS)
        assert page.inner_text("#summary").startswith("5 bays: 1 free, 1 occupied, 3 unknown")
        # Click bay b1 where the map draws it.
        lat, lon = BAYS["b1"][0], BAYS["b1"][1]
        xy = page.evaluate(
            f"(() => {{ const p = window.baywatchMap.project([{lon}, {lat}]);"
            " return [p.x, p.y]; })()"
        )
        page.mouse.click(xy[0], xy[1])
        page.wait_for_function(f"window.__baywatchPanel === '{zid('b1')}'", timeout=10_000)
        assert page.is_visible("#chart")
        assert page.inner_text("#panel-state").startswith("occupied since")
        bars = page.evaluate("Chart.getChart('chart').data.datasets[0].data")
        assert bars[0] == 10 and bars[23] == 80  # 1 - P(free), in percent
        assert page.locator("#sessions tbody tr").count() == 1
        # Live update: an event pushed to the server reaches the map through the SSE stream.
        page.wait_for_function(
            "document.querySelector('#live-status').textContent.includes('connected')"
        )
        import httpx

        r = httpx.post(
            f"{url}/ingest/batch",
            json={"events": [event("park_end", "b4", T0 + 60_000)]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200
        page.wait_for_function(
            "document.querySelector('#summary').textContent.startsWith('5 bays: 2 free')",
            timeout=10_000,
        )
        page.screenshot(path=str(ARTIFACTS / "web-map.png"))
        browser.close()
    assert errors == []
    # Nothing fetched from anywhere but the app (blob: URLs are MapLibre's own workers).
    outside = [u for u in requested if not u.startswith((url, f"blob:{url}", "data:"))]
    assert outside == []
    store.close()
