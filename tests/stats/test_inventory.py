"""Bay inventory import: real files and hand-made bad ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from occupancy.inventory.bays import InventoryError, load_bays

TO_L93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)


def sides_m(poly: dict) -> list[float]:
    xy = np.array(poly["coordinates"][0])
    x, y = TO_L93.transform(xy[:, 0], xy[:, 1])
    return [round(float(v), 2) for v in np.hypot(np.diff(x), np.diff(y))]


def test_paris_all_bays(shared_geodata: Path) -> None:
    r = load_bays(shared_geodata / "paris_delivery_bays.csv")
    assert r.fmt == "paris"
    assert len(r.zones) == 9198
    assert r.rejected == []
    assert [str(w) for w in r.warnings] == [
        "line 2754: Plage horaire: bad time ''",
        "line 6229: Plage horaire: bad time ''",
    ]
    assert sum(z.num_spaces for z in r.zones) == 10140
    z0 = r.zones[0]
    assert z0.street_name == "RUE DU SIMPLON"
    assert (z0.area_id, z0.area_name) == ("75118", "Paris 18e")
    assert z0.delivery_hours == "Mo-Sa 07:00-20:00; PH off"
    assert z0.length_cm == 1169 and z0.width_cm == 200
    assert sides_m(z0.geometry)[:2] == [11.69, 2.0]
    assert len({z.curb_zone_id for z in r.zones}) == 9198


def test_paris_bays_follow_the_street(shared_geodata: Path) -> None:
    r = load_bays(
        shared_geodata / "paris_delivery_bays.csv",
        streets=shared_geodata / "paris_3e_streets.osm.pbf",
    )
    along = "rectangle along nearest street"
    aligned = [z for z in r.zones if z.attributes["footprint"].startswith(along)]
    third = [z for z in r.zones if z.area_id == "75103"]
    assert len(third) == 248
    # the extract stops short of the arrondissement's edges: 21 bays have no street within 25 m
    assert sum(z.attributes["footprint"].startswith(along) for z in third) == 227
    assert len(aligned) == 640


def test_hauts_de_seine(shared_geodata: Path) -> None:
    r = load_bays(shared_geodata / "hauts_de_seine_delivery_bays.csv")
    assert (r.fmt, len(r.zones), r.rejected) == ("cerema", 1007, [])
    z = r.zones[0]
    assert z.delivery_hours == "08:00-19:00"
    assert z.length_cm == 1000 and z.width_cm is None
    assert z.attributes["footprint_width_assumed_m"] == 2.0
    no_length = [z for z in r.zones if z.length_cm is None]
    assert len(no_length) == 86


def test_cerema_grand_lyon(shared_geodata: Path) -> None:
    r = load_bays(shared_geodata / "cerema_example_grand_lyon.csv")
    assert (r.fmt, len(r.zones), r.rejected) == ("cerema", 16, [])
    assert len(r.warnings) == 1 and r.warnings[0].number == 2
    z = r.zones[1]
    assert z.curb_zone_id == "11346768-d01a-434a-bf41-16a1bd7fd32d"
    assert (z.delivery_hours, z.max_stay_min, z.length_cm) == (
        "Mo-Sa 08:00-19:00",
        30.0,
        1000,
    )


CEREMA_01 = """ID,COLL_NOM,COLL_INSEE,ADRESSE,XY,LONGUEUR,LARGEUR,NB_PLACES,JH,REGLEMENT
a1,Antibes,06004,1 rue A,"7.12,43.58",12,2.5,2,Mo-Fr 08:00-12:00,arrêté 1
,Antibes,06004,2 rue B,"7.12,43.58",12,2.5,1,Mo-Fr 08:00-12:00,
a3,Antibes,06004,3 rue C,"1025000,6283000",12,2.5,1,Mo-Fr 08:00-12:00,
a4,Antibes,06004,4 rue D,"7.13,43.59",12,2.5,1,Mo-Xx 25:00,
a5,Antibes,06004,5 rue E,"7.13,43.59",douze,2.5,1,,
a1,Antibes,06004,6 rue F,"7.14,43.59",12,2.5,1,,
"""


def test_cerema_01_names_and_bad_records(tmp_path: Path) -> None:
    f = tmp_path / "aires.csv"
    f.write_text(CEREMA_01, encoding="utf-8")
    r = load_bays(f)
    assert r.fmt == "cerema"
    assert len(r.zones) == 1
    z = r.zones[0]
    assert (z.lon, z.lat, z.num_spaces) == (7.12, 43.58, 2)
    assert (z.length_cm, z.width_cm) == (1200, 250)  # metres in the 0.1 file
    assert z.delivery_hours == "Mo-Fr 08:00-12:00"
    assert (z.area_id, z.area_name) == ("06004", "Antibes")
    reasons = {r.number: r.reason for r in r.rejected}
    assert sorted(reasons) == [3, 4, 5, 6, 7]
    assert reasons[3] == "ID is missing"
    assert "not WGS84" in reasons[4]
    assert reasons[5].startswith("JH: bad opening_hours 'Mo-Xx 25:00'")
    assert reasons[6] == "LONGUEUR is not a number: 'douze'"
    assert reasons[7] == "duplicate id 'a1' (first at 2)"


def test_missing_fields_and_unknown_files(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text("ID,ADRESSE\n1,rue\n", encoding="utf-8")
    with pytest.raises(InventoryError, match="unrecognised CSV header"):
        load_bays(f)
    with pytest.raises(InventoryError, match=r"missing field\(s\) LONGITUDE/LATITUDE or XY"):
        load_bays(f, "cerema")
    with pytest.raises(InventoryError, match="no such file"):
        load_bays(tmp_path / "nope.csv")
    with pytest.raises(InventoryError, match="unknown format"):
        load_bays(f, "shapefile")


def cds_fc(features: list[dict], crs: dict | None = None) -> dict:
    fc: dict = {"type": "FeatureCollection", "features": features}
    if crs:
        fc["crs"] = crs
    return fc


SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [[2.35, 48.86], [2.3501, 48.86], [2.3501, 48.86002], [2.35, 48.86002], [2.35, 48.86]]
    ],
}


def test_cds_curb_zones(tmp_path: Path) -> None:
    f = tmp_path / "zones.geojson"
    good = {
        "type": "Feature",
        "geometry": SQUARE,
        "properties": {
            "curb_zone_id": "0f6a052d-f934-4159-8da4-3135e453b968",
            "name": "Rue X",
            "length": 740,
            "width": 220,
            "num_spaces": 1,
            "street_side": "N",
            "curb_area_ids": ["a0a1"],
        },
    }
    bad_id = {"type": "Feature", "geometry": SQUARE, "properties": {"curb_zone_id": "zone-7"}}
    bad_geom = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [2.35, 48.86]},
        "properties": {"curb_zone_id": "1f6a052d-f934-4159-8da4-3135e453b968"},
    }
    f.write_text(json.dumps(cds_fc([good, bad_id, bad_geom])), encoding="utf-8")
    r = load_bays(f)
    assert r.fmt == "cds" and len(r.zones) == 1
    z = r.zones[0]
    assert z.curb_zone_id == "0f6a052d-f934-4159-8da4-3135e453b968"
    assert (z.length_cm, z.width_cm, z.area_id) == (740, 220, "a0a1")
    assert shapely.from_geojson(json.dumps(z.geometry)).contains(shapely.Point(z.lon, z.lat))
    assert [str(x) for x in r.rejected] == [
        "feature 1: curb_zone_id is not a UUID: 'zone-7'",
        "feature 2: geometry is a Point, expected a Polygon",
    ]


def test_geojson_in_a_projected_crs_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "l93.geojson"
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}}
    f.write_text(json.dumps(cds_fc([], crs)), encoding="utf-8")
    with pytest.raises(InventoryError, match="EPSG::2154' is not WGS84"):
        load_bays(f, "cds")


def test_osm_loading_restrictions(tmp_path: Path) -> None:
    way = {
        "type": "LineString",
        "coordinates": [[2.3600, 48.8600], [2.3610, 48.8600]],
    }
    feats = [
        {
            "type": "Feature",
            "id": "way/1",
            "geometry": way,
            "properties": {
                "highway": "residential",
                "name": "Rue Y",
                "parking:right:restriction": "loading_only",
                "parking:right:restriction:conditional": "loading_only @ (Mo-Sa 07:00-20:00)",
                "parking:right:maxstay": "30 minutes",
            },
        },
        {
            "type": "Feature",
            "id": "way/2",
            "geometry": way,
            "properties": {"highway": "residential", "parking:condition": "loading"},
        },
        {"type": "Feature", "id": "way/3", "geometry": way, "properties": {"highway": "primary"}},
        {
            "type": "Feature",
            "id": "way/4",
            "geometry": way,
            "properties": {
                "parking:left:restriction": "loading_only",
                "parking:left:restriction:conditional": "loading_only @ (Mo-Zz)",
            },
        },
    ]
    f = tmp_path / "osm.geojson"
    f.write_text(json.dumps(cds_fc(feats)), encoding="utf-8")
    r = load_bays(f)
    assert r.fmt == "osm"
    assert [z.attributes["local_id"] for z in r.zones] == [
        "way/1:right",
        "way/2:left",
        "way/2:right",
    ]
    z = r.zones[0]
    assert (z.delivery_hours, z.max_stay_min, z.street_side) == (
        "Mo-Sa 07:00-20:00",
        30.0,
        "right",
    )
    assert z.length_cm == 7337  # 0.001 degree of longitude at 48.86 N (73.39 m geodesic)
    assert z.lat < 48.8600  # the right-hand side of an eastbound way is south
    assert r.zones[1].lat > 48.8600
    assert [x.number for x in r.rejected] == [3]
    assert "bad opening_hours" in r.rejected[0].reason


PARIS_HEAD = (
    "Régime prioritaire;Régime particulier;Arrondissement;Nombre places réelles;Numéro voie;"
    "Type voie;Nom voie;Parité;Longueur;Largeur;Plage horaire 1-Début;Plage horaire 1-Fin;"
    "Nouvel identifiant;Ancien identifiant;geo_shape\n"
)
PT = '"{""coordinates"": [2.35, 48.86], ""type"": ""Point""}"'


def test_paris_bad_records(tmp_path: Path) -> None:
    rows = [
        f"LIVRAISON;ZL périodique;3;1;12;RUE;DE BRETAGNE;Pair;10.5;2.0;09:00;12:00;77;;{PT}",
        f"PAYANT;;3;1;14;RUE;DE BRETAGNE;Pair;10.5;2.0;;;78;;{PT}",
        "LIVRAISON;ZL permanente;3;1;16;RUE;DE BRETAGNE;Pair;10.5;2.0;;;79;;not json",
        f"LIVRAISON;ZL permanente;3;1;18;RUE;DE BRETAGNE;Pair;dix;2.0;;;80;;{PT}",
        f"LIVRAISON;ZL permanente;4;2;1;RUE;VIEILLE DU TEMPLE;Impair;12;2.0;;;;A9;{PT}",
    ]
    f = tmp_path / "paris.csv"
    f.write_text("\ufeff" + PARIS_HEAD + "\n".join(rows) + "\n", encoding="utf-8")
    r = load_bays(f)
    assert r.fmt == "paris"
    assert [z.attributes["local_id"] for z in r.zones] == ["77", "ancien:A9"]
    assert r.zones[0].delivery_hours == "09:00-12:00"
    assert r.zones[1].delivery_hours == "24/7"
    assert (r.zones[1].area_id, r.zones[1].num_spaces) == ("75104", 2)
    assert [str(x) for x in r.rejected] == [
        "line 3: not a delivery bay (Régime prioritaire = 'PAYANT')",
        "line 4: geo_shape is not a GeoJSON point: 'not json'",
        "line 5: Longueur is not a number: 'dix'",
    ]


def test_osm_other_tags_from_gdal(tmp_path: Path) -> None:
    tags = (
        '"oneway"=>"yes","parking:left:restriction"=>"loading_only",'
        '"parking:left:restriction:conditional"=>"loading_only @ (Mo-Fr 08:00-12:00)"'
    )
    feat = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[2.36, 48.86], [2.36, 48.861]]},
        "properties": {"osm_id": "42", "name": "Rue Z", "other_tags": tags},
    }
    f = tmp_path / "gdal.geojson"
    f.write_text(json.dumps(cds_fc([feat])), encoding="utf-8")
    r = load_bays(f)
    assert r.fmt == "osm" and r.rejected == []
    z = r.zones[0]
    assert (z.attributes["local_id"], z.delivery_hours) == ("42:left", "Mo-Fr 08:00-12:00")
    assert z.lon < 2.36  # left of a northbound way is west
