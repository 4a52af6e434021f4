"""Derived footprints follow the kerb: along the nearest street and on the bay's side of it.

A street made here (a straight 120 m way at 30 degrees from east, as a GeoJSON file the
import takes) and a CEREMA 0.1 inventory of point-only bays at known offsets from it,
placed in Lambert-93 (the metric CRS the import chooses in France).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from pyproj import Transformer

from occupancy.inventory.bays import load_bays

TO_L93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
TO_LL = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)
X0, Y0 = TO_L93.transform(7.12, 43.58)  # Antibes
DEG = 30.0
U = (math.cos(math.radians(DEG)), math.sin(math.radians(DEG)))  # along the street
N = (-U[1], U[0])  # left of it


def _ll(along: float, across: float) -> tuple[float, float]:
    x = X0 + along * U[0] + across * N[0]
    y = Y0 + along * U[1] + across * N[1]
    lon, lat = TO_LL.transform(x, y)
    return float(lon), float(lat)


def _signed_across(lon: float, lat: float) -> float:
    x, y = TO_L93.transform(lon, lat)
    return float((x - X0) * N[0] + (y - Y0) * N[1])


# id -> (metres along the street, metres across: + left, - right), width m
BAYS = {
    "kerb-left": (10.0, 3.0, 2.0),  # a bay 3 m left of the centre line
    "near-right": (30.0, -0.4, 2.5),  # 0.4 m right: centred, it would cross the line
    "on-line": (50.0, 0.0, 2.0),  # on the line: side unknown
    "far": (20.0, 60.0, 2.0),  # no street within 25 m
}


@pytest.fixture
def inventory(tmp_path: Path) -> tuple[Path, Path]:
    street = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"highway": "residential", "name": "Rue Test"},
                "geometry": {"type": "LineString", "coordinates": [_ll(-60, 0), _ll(60, 0)]},
            }
        ],
    }
    streets = tmp_path / "streets.geojson"
    streets.write_text(json.dumps(street), encoding="utf-8")
    rows = ["ID,COLL_NOM,COLL_INSEE,ADRESSE,XY,LONGUEUR,LARGEUR,NB_PLACES,JH,REGLEMENT"]
    for i, (bid, (along, across, width)) in enumerate(BAYS.items()):
        lon, lat = _ll(along, across)
        rows.append(f'{bid},Antibes,06004,{i} rue Test,"{lon:.9f},{lat:.9f}",12,{width},1,,')
    f = tmp_path / "aires.csv"
    f.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return f, streets


def _corners(z: object) -> np.ndarray:
    ring = np.array(z.geometry["coordinates"][0])  # type: ignore[attr-defined]
    x, y = TO_L93.transform(ring[:-1, 0], ring[:-1, 1])
    return np.column_stack([x, y])


def _long_side_deg(c: np.ndarray) -> float:
    sides = [c[(i + 1) % 4] - c[i] for i in range(4)]
    v = max(sides, key=lambda s: float(np.hypot(*s)))
    return math.degrees(math.atan2(v[1], v[0])) % 180.0


def test_point_bays_are_drawn_along_the_kerb_on_their_side(
    inventory: tuple[Path, Path],
) -> None:
    f, streets = inventory
    r = load_bays(f, streets=streets)
    assert r.rejected == []
    z = {b.name: b for b in r.zones}
    for bid, (_along, across, width) in BAYS.items():
        c = _corners(z[bid])
        across_m = np.array([(x - X0) * N[0] + (y - Y0) * N[1] for x, y in c])
        if bid == "far":
            assert z[bid].geometry_derived == "rectangle, east-west (no street to align to)"
            assert _long_side_deg(c) == pytest.approx(0.0, abs=0.5) or _long_side_deg(
                c
            ) == pytest.approx(180.0, abs=0.5)
            continue
        # Along the street (0.2 degree), 12 m x width (2 cm), still marked derived.
        assert _long_side_deg(c) == pytest.approx(DEG, abs=0.2)
        assert z[bid].geometry_derived is not None
        assert z[bid].geometry_derived.startswith("rectangle along nearest street")
        side = np.sign(across) if across else -1.0  # on the line: the right of the way
        # Wholly on the bay's side of the centre line (2 cm).
        assert np.all(side * across_m >= -0.02), (bid, across_m)
        depth = float(np.max(side * across_m) - np.min(side * across_m))
        assert depth == pytest.approx(width, abs=0.02)
        street_edge = float(np.min(side * across_m))
        if abs(across) >= width / 2:
            # Far enough: centred on the inventory point, not moved.
            assert street_edge == pytest.approx(abs(across) - width / 2, abs=0.02)
            assert "footprint_offset_to_kerb_m" not in z[bid].attributes
        else:
            # Moved away from the street until its edge meets the centre line.
            assert street_edge == pytest.approx(0.0, abs=0.02)
            assert z[bid].attributes["footprint_offset_to_kerb_m"] == pytest.approx(
                width / 2 - abs(across), abs=0.01
            )
        assert z[bid].attributes["footprint_street_distance_m"] == pytest.approx(
            abs(across), abs=0.01
        )
    assert z["on-line"].geometry_derived.endswith("kerb side unknown, right")
    assert z["kerb-left"].geometry_derived.endswith("on its kerb side")
    # Without the street file the same bays are east-west, and say so.
    plain = {b.name: b for b in load_bays(f).zones}
    assert {b.geometry_derived for b in plain.values()} == {
        "rectangle, east-west (no street to align to)"
    }


def test_a_bend_towards_the_bay_moves_it_clear_of_the_street(tmp_path: Path) -> None:
    """The way bends towards the bay beyond the point: measured only at the point the
    rectangle would cross the centre line near its end; it is moved clear of it."""
    import shapely

    # Straight to 2 m past the bay point, then turning 25 degrees to its left side: at
    # the bay's far end (6 m) the way is 1.9 m across, past the bay's centre line.
    bend = (2.0, 0.0)
    far = (2.0 + 20 * math.cos(math.radians(25)), 20 * math.sin(math.radians(25)))
    pts = [_ll(-60, 0), _ll(*bend), _ll(*far)]
    street = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"highway": "residential"},
                "geometry": {"type": "LineString", "coordinates": pts},
            }
        ],
    }
    streets = tmp_path / "bend.geojson"
    streets.write_text(json.dumps(street), encoding="utf-8")
    lon, lat = _ll(0.0, 1.5)  # 1.5 m left of the straight part; 2 m wide, 12 m long
    f = tmp_path / "aires.csv"
    f.write_text(
        "ID,COLL_NOM,COLL_INSEE,ADRESSE,XY,LONGUEUR,LARGEUR,NB_PLACES,JH,REGLEMENT\n"
        f'bend,Antibes,06004,1 rue Test,"{lon:.9f},{lat:.9f}",12,2,1,,\n',
        encoding="utf-8",
    )
    (z,) = load_bays(f, streets=streets).zones
    c = _corners(z)
    line_xy = np.array([TO_L93.transform(x, y) for x, y in pts])
    line = shapely.LineString(line_xy)
    rect = shapely.Polygon(c)
    # At the point the bay is 0.5 m clear; the bent part would cut its far end.
    assert not rect.buffer(-0.02).intersects(line)
    expected = 1.0 - (1.5 - 4.0 * math.tan(math.radians(25)))  # half width - clearance
    assert z.attributes["footprint_offset_to_kerb_m"] == pytest.approx(expected, abs=0.02)
    assert z.attributes["footprint_street_distance_m"] == pytest.approx(1.5, abs=0.01)
