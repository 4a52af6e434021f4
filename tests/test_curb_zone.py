"""A ``CurbZoneRecord`` survives the store unchanged, from a site file and from an inventory."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from occupancy.config.site import load_site
from occupancy.domain.curb_zone import CurbZoneRecord, records_from_rows
from occupancy.inventory.bays import load_bays
from occupancy.observe.pipeline import prepare
from occupancy.observe.zones import zone_rows
from occupancy.storage.store import Store
from tests.conftest import SAMPLES, SHARED


def stored(store: Store, records: list[CurbZoneRecord]) -> list[CurbZoneRecord]:
    store.upsert_zones(records)
    return records_from_rows(store.zones_frame().to_dict("records"))


def test_site_bays_round_trip(tmp_path: Path) -> None:
    site = load_site(SAMPLES / "meva-c4f6.yaml")
    records, _ = zone_rows(site, prepare(site)[1])
    assert len(records) == len(site.bays) and all(r.last_updated_ms is None for r in records)
    store = Store(f"sqlite:///{tmp_path / 'z.db'}")
    back = {r.curb_zone_id: r for r in stored(store, records)}
    for r in records:
        got = back[r.curb_zone_id]
        assert got.last_updated_ms is not None  # stamped by the store
        assert got.published_ms is not None  # first stored: CDS start_date
        assert dataclasses.replace(got, last_updated_ms=None, published_ms=None) == r
        assert got.device_id == site.camera_id and got.source == f"site:{site.camera_id}"
    store.close()


@pytest.mark.skipif(not (SHARED / "geodata").exists(), reason="../shared/geodata is absent")
def test_inventory_bays_round_trip(tmp_path: Path) -> None:
    res = load_bays(SHARED / "geodata" / "hauts_de_seine_delivery_bays.csv")
    store = Store(f"sqlite:///{tmp_path / 'z.db'}")
    back = {r.curb_zone_id: r for r in stored(store, res.zones)}
    assert len(back) == len(res.zones) == 1007
    for r in res.zones:
        got = dataclasses.replace(back[r.curb_zone_id], last_updated_ms=None, published_ms=None)
        assert got == r
    store.close()


def test_an_unstored_record_has_no_update_time() -> None:
    r = CurbZoneRecord("z", None, 2.35, 48.85, {"type": "Polygon", "coordinates": []}, None, "t")
    assert "last_updated_ms" not in r.row()
    with pytest.raises(ValueError, match="not stored yet"):
        _ = r.updated_ms
    with pytest.raises(KeyError, match="source"):
        CurbZoneRecord.from_row({k: v for k, v in r.row().items() if k != "source"})
