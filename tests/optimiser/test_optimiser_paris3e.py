"""The real Paris 3e instance from ../shared/geodata (skipped only where that folder is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from optimiser_helpers import GEODATA, needs_geodata

from optimiser.api import PlacementRequest, Sources, TimeslotRequest, run_timeslots
from optimiser.inputs import Budget


@pytest.fixture(scope="module")
def paris3e() -> object:
    from optimiser.instances import paris_3e

    return paris_3e(geo=GEODATA)


@needs_geodata
def test_instance_has_the_real_bays_shops_and_streets(paris3e: object) -> None:
    inst = paris3e
    sites = inst.sites  # type: ignore[attr-defined]
    n_bays = int((sites.existing > 0).sum())
    assert n_bays == 248
    assert int(sites.existing.sum()) == 287  # places, per the geodata README
    assert len(sites) > n_bays  # plus OSM kerb candidates
    assert inst.demand.simulated and len(inst.demand) > 50  # type: ignore[attr-defined]
    assert inst.graph.graph.number_of_edges() > 5000  # type: ignore[attr-defined]
    # Every site lies in Paris 3e, Lambert-93.
    assert np.all((sites.xy[:, 0] > 651_000) & (sites.xy[:, 0] < 654_500))


@needs_geodata
def test_placement_on_paris3e_keeps_budget_and_permanent_bays(tmp_path: Path) -> None:
    from optimiser.runners import placement, write_outputs

    budget = Budget(max_changes=10, kerb_neutral=True)
    run = placement(
        PlacementRequest(sources=Sources(instance="paris-3e"), budget=budget, time_limit_s=20)
    )
    res = run.result
    feats = res.proposals["features"]
    changes = sum(
        abs(f["properties"]["bays_after"] - f["properties"]["bays_before"])
        + (1 if f["properties"]["kind"] == "move" else 0)
        for f in feats
    )
    assert 0 < changes <= 10
    assert res.kerb_m_after <= res.kerb_m_before + 1e-6  # kerb-neutral
    assert res.served_after >= res.served_before - 1e-6
    assert res.bound >= res.objective - 1e-9
    assert res.gap == pytest.approx(res.abs_gap / abs(res.objective), rel=1e-6, abs=1e-12)
    assert res.demand_simulated and "SIMULATED" in res.summary
    # 176 of the 248 bays are "ZL permanente": none is removed or moved away.
    sites = run.loaded.sites
    permanent = {sites.ids[j] for j in range(len(sites)) if sites.regime_of(j) == "permanent"}
    assert len(permanent) == 176 and res.permanent_bays == 176
    touched = {f["properties"]["site_id"] for f in feats if f["properties"]["kind"] == "remove"}
    touched |= {f["properties"].get("from_site_id") for f in feats}
    assert not touched & permanent
    files = write_outputs(run, "placement", tmp_path)
    assert Path(files["map"]).stat().st_size > 50_000


@needs_geodata
def test_timeslots_on_paris3e_choose_city_regimes_only() -> None:
    res = run_timeslots(TimeslotRequest(sources=Sources(instance="paris-3e"), time_limit_s=5))
    from optimiser.instances import paris_3e

    sites = paris_3e().sites
    permanent = {sites.ids[j] for j in range(len(sites)) if sites.regime_of(j) == "permanent"}
    for f in res.proposals["features"]:
        assert f["properties"]["kind"] == "retime"
        assert f["properties"]["delivery_hours"] in ("24/7", "Mo-Sa 07:00-20:00; PH off")
        assert f["properties"]["site_id"] not in permanent
