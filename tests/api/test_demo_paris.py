"""Demo data on the real Paris inventory: the service shows it, marked simulated."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from occupancy.config.settings import Settings
from occupancy.runtime.demo import seed_inventory_demo
from occupancy.storage.store import Store
from tests.api import cds_openapi
from tests.api.conftest import SHARED, T0

PARIS = SHARED / "geodata" / "paris_delivery_bays.csv"


@pytest.mark.skipif(not PARIS.exists(), reason=f"{PARIS} not found (shared data absent)")
def test_paris_inventory_with_simulated_statistics(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    store = Store(db)
    summary = seed_inventory_demo(store, PARIS, fmt="paris", days=1, now=T0, seed=3)
    assert summary.bays == 9198 and summary.rejected == 0
    assert summary.sessions > 9198  # about two stops per bay in 33 hours
    app = create_app(Settings(db=db, api_rate_limit_per_s=0), store=store, background=False)
    app.state.api.profiles.refresh(T0)
    with TestClient(app) as c:
        fc = c.get("/map/bays", params={"stat": "occupancy", "hour": 9}).json()
        assert len(fc["features"]) == 9198
        # No camera watches Paris here: no observed statistics at all (null, not 0 %) ...
        assert {f["properties"]["value"] for f in fc["features"]} == {None}
        assert {f["properties"]["stats_source"] for f in fc["features"]} == {None}
        # ... and the simulated ones only on request, labelled.
        fc = c.get("/map/bays", params={"stat": "occupancy", "hour": 9, "data": "simulated"}).json()
        assert fc["simulated"] is True
        sources = {f["properties"]["stats_source"] for f in fc["features"]}
        assert sources <= {"simulated", None} and "simulated" in sources
        counts = c.get("/health").json()["states"]
        sim, obs = counts["simulated"], counts["observed"]
        assert sim["free"] + sim["occupied"] == summary.live_events  # the demo is simulated
        assert obs["free"] + obs["occupied"] == 0
        # Rue de Rivoli at Hôtel de Ville: free bays, nearest first, with a probability.
        r = c.get(
            "/availability/free",
            params={"lat": 48.8566, "lon": 2.3522, "radius": 600, "arrival_ms": T0 - 3_600_000},
        ).json()
        dists = [b["distance_m"] for b in r["bays"]]
        assert len(dists) > 0 and dists == sorted(dists) and dists[-1] <= 600
        assert all(0.0 <= b["p_free_at_arrival"] <= 1.0 for b in r["bays"])
        # Honest: the state and the probability come from the simulator, and say so.
        assert {b["state_source"] for b in r["bays"]} == {"simulated"}
        assert {b["p_free_source"] for b in r["bays"]} == {"simulated"}
        # Sunday 23:00: no periodic (Mo-Sa 07-20) bay is offered as a delivery bay.
        sunday_night = T0 - 10 * 3_600_000
        late = c.get(
            "/availability/free",
            params={"lat": 48.8566, "lon": 2.3522, "radius": 600, "arrival_ms": sunday_night},
        ).json()["bays"]
        assert late
        assert not [b for b in late if b["delivery_hours"] == "Mo-Sa 07:00-20:00; PH off"]
        assert any(b["delivery_hours"] == "24/7" for b in late)
        areas = c.get("/curbs/areas").json()["data"]["areas"]
        assert len(areas) == 20  # the arrondissements
        # Policies carry the bays' hours: thousands of Paris bays are delivery-only Mo-Sa 07-20.
        # One page of the largest size holds every Paris bay (9,198 < 10,000).
        page = c.get("/curbs/zones", params={"include_geometry": "false", "limit": 10_000}).json()
        assert page["links"]["next"] is None
        zones = page["data"]
        periodic = [z for z in zones["zones"] if len(z["curb_policy_ids"]) == 3]
        assert len(periodic) > 5_000
        pols = c.get("/curbs/policies").json()["data"]["policies"]
        spans = [p["time_spans"] for p in pols if p["priority"] == 1 and "time_spans" in p]
        assert {
            "days_of_week": ["mon", "tue", "wed", "thu", "fri", "sat"],
            "time_of_day_start": "07:00",
            "time_of_day_end": "20:00",
        } in [s for ss in spans for s in ss]
        if cds_openapi.available():
            for v in ("1.0", "1.1"):
                h = {"Accept": f"application/vnd.cds+json;version={v}"}
                one_area = areas[0]["curb_area_id"]
                for path, body in (
                    ("/curbs/areas", c.get("/curbs/areas", headers=h).json()),
                    ("/curbs/policies", c.get("/curbs/policies", headers=h).json()),
                    ("/curbs/zones", c.get(f"/curbs/zones?area={one_area}", headers=h).json()),
                ):
                    assert cds_openapi.spec(v).errors("Curbs", path, body) == [], (v, path)
    store.close()
