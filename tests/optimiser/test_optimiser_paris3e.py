"""The real Paris 3e instance from ../shared/geodata (skipped only where that folder is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from optimiser_helpers import GEODATA, needs_geodata

from optimiser.api import PlacementRequest, Sources, TimeslotRequest, run_placement, run_timeslots
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
def test_placement_on_paris3e_keeps_budget(tmp_path: Path) -> None:
    budget = Budget(max_changes=10, max_total_kerb_m=2805.0)
    res = run_placement(
        PlacementRequest(
            sources=Sources(instance="paris-3e"), budget=budget, time_limit_s=20, out_dir=tmp_path
        )
    )
    feats = res.proposals["features"]
    changes = sum(
        abs(f["properties"]["bays_after"] - f["properties"]["bays_before"])
        + (1 if f["properties"]["action"] == "move" else 0)
        for f in feats
    )
    assert 0 < changes <= 10
    assert res.kerb_m_after <= 2805.0 + 1e-6
    assert res.served_after >= res.served_before - 1e-6
    assert res.gap <= 1e-3 and res.bound >= res.objective
    assert res.demand_simulated and "SIMULATED" in res.summary
    assert Path(res.files["map"]).stat().st_size > 50_000


@needs_geodata
def test_timeslots_on_paris3e(tmp_path: Path) -> None:
    res = run_timeslots(
        TimeslotRequest(sources=Sources(instance="paris-3e"), time_limit_s=5, out_dir=tmp_path)
    )
    assert res.place_hours_released > 0
    for f in res.proposals["features"]:
        assert f["properties"]["action"] == "retime"
        assert 1 <= len(f["properties"]["delivery_windows"]) <= 2
