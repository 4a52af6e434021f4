"""The planners' map in real Chromium on the Paris 3e: offline basemap, hour colours,
filters, street ranking, export, observed vs simulated, proposals layer.

Data: the real Ville de Paris inventory's 248 bays of the 3e arrondissement with 14 days
of simulated stops (``occupancy.evaluation.simulate``) and one bay whose sessions are
marked as camera observations; the basemap is built from the real OSM extract of the 3e
with no network. Figures the page shows are checked against counts computed here with
pandas from the same database (an independent computation). Screenshots go to
``test-artifacts/``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from api.app import create_app
from api.keys import KeyStore
from occupancy.config.settings import Settings
from occupancy.storage.store import Store
from tests.api.browser import ARTIFACTS, chromium, needs_browser
from tests.api.server import serve_in_thread
from tests.conftest import SHARED

GEO = SHARED / "geodata"
pytestmark = [
    *needs_browser,
    pytest.mark.skipif(
        not (GEO / "paris_3e_streets.osm.pbf").exists(), reason="../shared/geodata is missing"
    ),
]
TZ = "Europe/Paris"
NOW = int(datetime(2026, 3, 14, 12, 0, tzinfo=ZoneInfo(TZ)).timestamp() * 1000)  # a Saturday
SEQ = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"]


@dataclass
class City:
    url: str
    db: str
    zones: Any  # pandas DataFrame of the 3e bays
    observed_bay: str
    admin: str
    state: Any  # the app's ApiState: tests run its job queue


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    from occupancy.evaluation.simulate import simulate_sessions
    from occupancy.inventory.basemap import build_basemap
    from occupancy.inventory.bays import load_bays

    tmp = tmp_path_factory.mktemp("map")
    data = tmp / "data"
    build_basemap(
        GEO / "paris_3e_streets.osm.pbf",
        data / "basemap",
        areas=GEO / "paris_arrondissements.geojson",
    )
    db = f"sqlite:///{tmp / 'map.db'}"
    store = Store(db)
    res = load_bays(GEO / "paris_delivery_bays.csv")
    store.upsert_zones([z for z in res.zones if z.area_id == "75103"])
    zones = store.zones_frame()
    start = datetime(2026, 2, 28, tzinfo=ZoneInfo(TZ))
    sims = simulate_sessions(zones, start=start, days=14, seed=7, tz=TZ)
    sims = sims[sims["end_ms"] <= NOW].copy()
    observed = str(zones["curb_zone_id"].iloc[0])
    sims["data_source_type"] = sims["data_source_type"].astype(str)
    sims["data_source_device_id"] = sims["data_source_device_id"].astype(str)
    mine = sims["curb_zone_id"].astype(str) == observed
    sims.loc[mine, "data_source_type"] = "camera"
    sims.loc[mine, "data_source_device_id"] = "cam-3e"
    store.write_sessions_frame(sims)
    _, admin = KeyStore(store).create("map test", ["admin"])
    settings = Settings(db=db, data_dir=data, api_rate_limit_per_s=0)
    app = create_app(settings, store=store, background=False)
    app.state.api.profiles.refresh(NOW)
    with serve_in_thread(app) as url:
        yield City(url, db, zones, observed, admin, app.state.api)
    store.close()


def _wait_idle(page: Any) -> None:
    page.evaluate(
        "new Promise(r => { const m = window.baywatchMap; m.once('idle', r); m.triggerRepaint(); })"
    )


def _open(page: Any, url: str) -> None:
    page.goto(f"{url}/web/")
    page.wait_for_function("window.__baywatchReady === true", timeout=60_000)
    # The 3e, as a planner would zoom to it.
    page.evaluate(
        "window.baywatchMap.fitBounds([[2.3545, 48.8585], [2.3695, 48.8695]], "
        "{padding: {left: 300, top: 10, right: 10, bottom: 10}, duration: 0})"
    )
    _wait_idle(page)


def _rendered(page: Any) -> int:
    n: int = page.evaluate("window.__baywatchRendered || 0")
    return n


def _change(page: Any, selector: str, value: str | None = None, fill: str | None = None) -> None:
    before = _rendered(page)
    if value is not None:
        page.select_option(selector, value)
    elif fill is not None:
        page.fill(selector, fill)
        page.dispatch_event(selector, "change")
    else:
        page.click(selector)
    page.wait_for_function(f"(window.__baywatchRendered || 0) > {before}", timeout=60_000)
    _wait_idle(page)


def _pixels(page: Any) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB"), dtype=np.int16)


def _hex(c: str) -> np.ndarray:
    return np.array([int(c[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)


def _bay_colours(page: Any, img: np.ndarray) -> dict[str, str | None]:
    """Class colour drawn at each simulated bay (sampled beside the white centre)."""
    pts = page.evaluate(
        """window.baywatchMap.queryRenderedFeatures({layers: ['bays']}).map(f => {
             const p = window.baywatchMap.project(f.geometry.coordinates);
             return [f.properties.curb_zone_id, p.x, p.y]; })"""
    )
    out: dict[str, str | None] = {}
    for zid, x, y in pts:
        xi, yi = round(x + 4), round(y)
        if not (2 <= yi < img.shape[0] - 2 and 310 <= xi < img.shape[1] - 2):
            continue
        px = img[yi, xi]
        best = min(SEQ, key=lambda c: int(np.abs(_hex(c) - px).sum()))
        out[zid] = best if int(np.abs(_hex(best) - px).sum()) <= 30 else None
    return out


def _local(ms: Any) -> Any:
    import pandas as pd

    return pd.to_datetime(ms, unit="ms", utc=True).dt.tz_convert(TZ)


def _sessions(db: str) -> Any:
    import pandas as pd
    from sqlalchemy import create_engine

    eng = create_engine(db)
    with eng.connect() as conn:
        t = pd.read_sql("SELECT * FROM sessions", conn)
    eng.dispose()
    return t


def test_offline_basemap_streets_and_hour_colours(city: City) -> None:
    with chromium() as (page, errors, requested):
        _open(page, city.url)
        streets = page.evaluate(
            "window.baywatchMap.queryRenderedFeatures({layers: ['bm-streets']}).length"
        )
        assert streets > 200  # the 3e's streets are drawn
        img = _pixels(page)
        major = np.all(np.abs(img - _hex("#fde9a8")) <= 6, axis=2).sum()
        minor = np.all(img == 255, axis=2).sum()
        assert major > 3000, f"only {major} pixels of major-street fill"
        assert minor > 20000, f"only {minor} white pixels (minor streets)"
        page.screenshot(path=str(ARTIFACTS / "map-basemap-offline.png"))
        # Observed statistics by default: the 247 simulated bays have no colour (no data,
        # not 0 %), only the camera's bay may; simulated ones only on request, labelled.
        _change(page, "#colour-by", "occupancy")
        observed_only = _bay_colours(page, _pixels(page))
        assert observed_only and not [
            z for z, c in observed_only.items() if c and z != city.observed_bay
        ]
        assert not page.is_visible("#sim-banner")
        _change(page, "#data-source", "simulated")
        assert page.is_visible("#sim-banner") and "SIMULATED" in page.inner_text("#sim-banner")
        # Hour slider: occupancy at 04:00 and at 11:00 in fixed classes.
        page.fill("#hour", "4")
        before = _rendered(page)
        page.dispatch_event("#hour", "input")
        page.wait_for_function(f"window.__baywatchRendered > {before}", timeout=60_000)
        _wait_idle(page)
        at4 = _bay_colours(page, _pixels(page))
        page.fill("#hour", "11")
        before = _rendered(page)
        page.dispatch_event("#hour", "input")
        page.wait_for_function(f"window.__baywatchRendered > {before}", timeout=60_000)
        _wait_idle(page)
        at11 = _bay_colours(page, _pixels(page))
        page.screenshot(path=str(ARTIFACTS / "map-occupancy-11h.png"))
        common = [z for z in at4 if z in at11 and at4[z] and at11[z]]
        assert len(common) > 100
        changed = sum(at4[z] != at11[z] for z in common)
        assert changed / len(common) > 0.5, f"{changed} of {len(common)} bays changed colour"
        assert "of the hour occupied" in page.inner_text("#legend")
        # Observed vs simulated: a white centre on simulated bays only; colours kept.
        centres = page.evaluate(
            """window.baywatchMap.queryRenderedFeatures({layers: ['bays']}).map(f => {
                 const p = window.baywatchMap.project(f.geometry.coordinates);
                 return [f.properties.curb_zone_id, f.properties.stats_source, p.x, p.y]; })"""
        )
        img = _pixels(page)
        h, w = img.shape[:2]
        seen = [(z, s, x, y) for z, s, x, y in centres if 310 < x < w - 2 and 2 < y < h - 2]
        white = {z: bool(np.all(img[round(y), round(x)] >= 245)) for z, _s, x, y in seen}
        sources = {z: s for z, s, _x, _y in seen}
        # Simulated statistics asked for: the camera's bay has none (and no white centre).
        assert sources[city.observed_bay] is None and not white[city.observed_bay]
        sim = [z for z, s in sources.items() if s == "simulated"]
        assert sum(white[z] for z in sim) / len(sim) > 0.9
    assert errors == []
    outside = [u for u in requested if not u.startswith((city.url, f"blob:{city.url}", "data:"))]
    assert outside == []  # no network: every byte from the app


def test_planner_question_filters_export(city: City, tmp_path: Path) -> None:
    """Which streets of the 3e have the most double parking between 8 and 10 on weekdays?"""
    t = _sessions(city.db)
    t = t[t["data_source_type"] == "simulated"]  # the question is asked of the simulated data
    local = _local(t["start_ms"])
    # French public holidays in the window (none: 2026-02-28 .. 03-13); Easter is April 5.
    hol: set[object] = set()
    working = (local.dt.day_of_week < 5) & ~local.dt.date.isin(hol)
    with chromium() as (page, errors, _requested):
        _open(page, city.url)
        _change(page, "#data-source", "simulated")
        _change(page, "#colour-by", "activity")
        _change(page, "#date-from", fill="2026-02-28")
        _change(page, "#date-to", fill="2026-03-13")
        s0 = page.inner_text("#summary")
        _change(page, "#day-type", "working")
        s1 = page.inner_text("#summary")
        assert s1 != s0
        in_window = (local.dt.date >= datetime(2026, 2, 28).date()) & (
            local.dt.date <= datetime(2026, 3, 13).date()
        )
        dp = (t["kind"] == "double_park") & in_window
        assert f"{int((dp & working).sum())} double parking" in s1, s1
        assert f"{int(dp.sum())} double parking" in s0, s0
        # Regime filter: only ZL permanente bays stay.
        _change(page, "#regime", "permanent")
        n_perm = int((city.zones["delivery_hours"] == "24/7").sum())
        assert page.inner_text("#summary").startswith(f"{n_perm} bays in the filter"), n_perm
        _change(page, "#regime", "all")
        # The planner's question: per street, 08-10, working days.
        _change(page, "#hour-from", fill="8")
        _change(page, "#hour-to", fill="10")
        _change(page, "#group", "street")
        page.evaluate("window.baywatchMap.jumpTo({zoom: 15.3, center: [2.3600, 48.8640]})")
        _wait_idle(page)
        coloured = page.evaluate(
            "window.baywatchMap.queryRenderedFeatures({layers: ['street-values']}).length"
        )
        assert coloured > 50
        page.screenshot(path=str(ARTIFACTS / "map-double-parking-streets-8-10-weekdays.png"))
        top = page.locator("#ranking tbody tr").first.inner_text()
        # Independent answer: double parking 08-10 on working days, per street, per day.
        from occupancy.inventory.basemap import street_key

        street = dict(
            zip(city.zones["curb_zone_id"], city.zones["street_name"].map(street_key), strict=True)
        )
        sel = t[(dp & working & (local.dt.hour >= 8) & (local.dt.hour < 10)).to_numpy()]
        per_street = sel["curb_zone_id"].astype(str).map(street).value_counts()
        names = dict(
            zip(city.zones["street_name"].map(street_key), city.zones["street_name"], strict=False)
        )
        assert names[per_street.index[0]] in top, (top, per_street.head(3))
        # Export of the current view.
        with page.expect_download() as dl:
            page.click("#export-csv")
        path = tmp_path / "view.csv"
        dl.value.save_as(path)
        rows = list(csv.DictReader(path.open()))
        assert len(rows) == city.zones["street_name"].map(street_key).dropna().nunique()
        best = max(rows, key=lambda r: float(r["value"] or -1))
        assert best["street_key"] == per_street.index[0]
        assert int(best["double_parking"]) == int(per_street.iloc[0])
        assert {r["stats_source"] for r in rows} <= {"simulated", ""}  # never mixed
        with page.expect_download() as dl:
            page.click("#export-geojson")
        gj = json.loads(Path(dl.value.path()).read_text())
        assert len(gj["features"]) == len(rows)
        assert gj["baywatch"]["filter"]["day_type"] == "working"
        # Period comparison: B - A per street, diverging legend.
        _change(page, "#compare")
        assert "B − A" in page.inner_text("#legend")
        vals = page.evaluate(
            "window.__baywatch.activity.features.map(f => [f.properties.value_a, "
            "f.properties.value_b, f.properties.value])"
        )
        for a, b, d in vals:
            if a is not None and b is not None:
                assert d == pytest.approx(b - a, abs=1e-3)
    assert errors == []


def test_proposals_review_layer(city: City) -> None:
    """Proposals seeded through the API (an optimiser placement job on the 3e) are drawn;
    rejecting one in the panel with the planner's key is recorded by the server."""
    import httpx

    h = {"Authorization": f"Bearer {city.admin}"}
    with chromium() as (page, errors, _requested):
        _open(page, city.url)
        page.check("#show-proposals")
        page.wait_for_function(
            "document.querySelector('#proposals-status').textContent.length > 0", timeout=30_000
        )
        if httpx.get(f"{city.url}/proposals").status_code == 404:
            assert "no proposals" in page.inner_text("#proposals-status")
            pytest.skip("this build has no /proposals endpoint")

        def placement(max_changes: int) -> dict[str, Any]:
            r = httpx.post(
                f"{city.url}/jobs/placement",
                json={"area": "75103", "budget": {"max_changes": max_changes}, "time_limit_s": 8},
                headers=h,
            )
            assert r.status_code == 202, r.text
            city.state.jobs.run_one()
            job = httpx.get(f"{city.url}/jobs/{r.json()['job_id']}", headers=h).json()
            assert job["status"] == "done", job.get("error")
            result: dict[str, Any] = job["result"]
            return result

        def shown(n: int) -> str:
            page.uncheck("#show-proposals")
            page.check("#show-proposals")
            page.wait_for_function(f"window.__baywatchProposals === {n}", timeout=30_000)
            return page.inner_text("#proposals-status")

        old_run = placement(6)
        n_old = len(httpx.get(f"{city.url}/proposals").json()["features"])
        assert n_old == old_run["proposals"] and f"{n_old} proposals, {n_old} pending" in shown(
            n_old
        )
        # A rerun supersedes the first run: the map shows the newest run of the area only,
        # names it, and shows the superseded one on request.
        run = placement(3)
        fc = httpx.get(f"{city.url}/proposals").json()
        n = len(fc["features"])
        assert n == run["proposals"] and {f["properties"]["run_id"] for f in fc["features"]} == {
            run["run_id"]
        }
        text = shown(n)
        assert f"{n} proposals, {n} pending" in text and "Runs: placement 75103 of " in text
        assert "superseded" not in text
        page.check("#proposals-all-runs")
        page.wait_for_function(f"window.__baywatchProposals === {n + n_old}", timeout=30_000)
        assert "(superseded)" in page.inner_text("#proposals-status")
        page.uncheck("#proposals-all-runs")
        page.wait_for_function(f"window.__baywatchProposals === {n}", timeout=30_000)
        target = next(f for f in fc["features"] if f["geometry"]["type"] == "Point")
        lon, lat = target["geometry"]["coordinates"]
        page.evaluate(f"window.baywatchMap.jumpTo({{center: [{lon}, {lat}], zoom: 18}})")
        _wait_idle(page)
        drawn = page.evaluate(
            "window.baywatchMap.queryRenderedFeatures({layers: ['proposals', 'proposals-line']})"
            ".map(f => f.properties.id)"
        )
        assert target["properties"]["id"] in drawn
        x, y = page.evaluate(
            f"(() => {{ const p = window.baywatchMap.project([{lon}, {lat}]);"
            " return [p.x, p.y]; })()"
        )
        page.mouse.click(x, y)
        page.wait_for_selector("#proposal-panel:not([hidden])", timeout=10_000)
        details = page.inner_text("#proposal-details")
        assert target["properties"]["reason"] in details
        assert "(latest for this area)" in details and run["run_id"] in details
        page.fill("#review-key", city.admin)
        page.click("#proposal-accept")  # the "a click accepts one"
        page.wait_for_function(
            "document.querySelector('#proposal-result').textContent.startsWith('accepted')",
            timeout=30_000,
        )
        accepted = httpx.get(f"{city.url}/proposals/{target['properties']['id']}").json()
        assert accepted["properties"]["status"] == "accepted"
        assert accepted["properties"]["reviewed_by"] == "map test"
        assert accepted["properties"]["reviewed_at"]
        # A planner may change the decision; the last one, with its note, is what stands.
        page.fill("#proposal-note", "kerb needed for the bus stop")
        page.click("#proposal-reject")
        page.wait_for_function(
            "document.querySelector('#proposal-result').textContent.startsWith('rejected')",
            timeout=30_000,
        )
        page.screenshot(path=str(ARTIFACTS / "map-proposals-review.png"))
        assert page.evaluate("sessionStorage.getItem('baywatch-review-key')") == city.admin
    got = httpx.get(f"{city.url}/proposals/{target['properties']['id']}").json()["properties"]
    assert got["status"] == "rejected" and got["review_note"] == "kerb needed for the bus stop"
    assert errors == []
