"""Inventory import sanity: swapped axes, clockwise rings, mis-decoded text, declared area."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from occupancy.inventory.bays import InventoryError, load_bays
from occupancy.inventory.sanity import read_text, repair_mojibake


def _square(lon: float, lat: float, *, clockwise: bool = False) -> dict[str, Any]:
    d = 0.00003
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d]]
    if clockwise:
        ring.reverse()
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def _feature(name: str, geom: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"curb_zone_id": str(uuid.uuid5(uuid.NAMESPACE_URL, name)), "name": name},
        "geometry": geom,
    }


def _write(tmp_path: Path, feats: list[dict[str, Any]]) -> Path:
    p = tmp_path / "zones.geojson"
    p.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8")
    return p


def test_each_bad_record_gets_one_line(tmp_path: Path) -> None:
    feats = [
        _feature("ok-1", _square(2.3655, 48.8557)),
        _feature("ok-2", _square(2.3660, 48.8560)),
        _feature("clockwise", _square(2.3665, 48.8562, clockwise=True)),
        _feature("rue de la R\u00c3\u00a9publique", _square(2.3670, 48.8565)),
        _feature("swapped", _square(48.8570, 2.3675)),
        _feature("far", _square(2.5500, 48.9500)),  # Saint-Denis, outside the 4th
    ]
    area = {
        "type": "Polygon",
        "coordinates": [
            [[2.34, 48.84], [2.38, 48.84], [2.38, 48.87], [2.34, 48.87], [2.34, 48.84]]
        ],
    }
    res = load_bays(_write(tmp_path, feats), "cds", area=area)
    assert sorted(z.name for z in res.zones) == sorted(
        ["ok-1", "ok-2", "clockwise", "rue de la R\u00e9publique"]
    )
    rejected = {r.number: str(r) for r in res.rejected}
    assert list(rejected) == [4, 5]
    assert "latitude and longitude swapped" in rejected[4]
    assert "outside the declared area" in rejected[5]
    notes = [str(w) for w in res.warnings]
    assert any(n.startswith("feature 2: exterior ring clockwise") for n in notes)
    assert any(n.startswith("feature 3: name") and "repaired" in n for n in notes)
    turned = next(z for z in res.zones if z.name == "clockwise")
    import shapely

    assert shapely.LinearRing(turned.geometry["coordinates"][0]).is_ccw


def test_bad_declared_area_is_one_line(tmp_path: Path) -> None:
    p = _write(tmp_path, [_feature("ok", _square(2.3655, 48.8557))])
    with pytest.raises(InventoryError, match="needs a \\(Multi\\)Polygon"):
        load_bays(p, "cds", area={"type": "Point", "coordinates": [2.3, 48.8]})


def test_latin1_file_and_mojibake_helpers(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_bytes("id;nom\n1;All\u00e9e\n".encode("latin-1"))
    text, note = read_text(p)
    assert "All\u00e9e" in text and note is not None and "Latin-1" in note
    assert repair_mojibake("Caf\u00c3\u00a9") == "Caf\u00e9"
    assert repair_mojibake("Caf\u00e9") is None
