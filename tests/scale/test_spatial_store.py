"""PostgreSQL/PostGIS and SQLite: same schema through Alembic, same spatial answers.

The bays are the real Paris delivery bays of the 3e and 4e arrondissements (Ville de
Paris open data, ODbL) drawn as their surveyed length x width along the east-west
axis; the area is the real 3e boundary.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import warnings
from pathlib import Path

import pytest
from shapely.geometry import Point, shape
from sqlalchemy import inspect, text

from occupancy.domain.records import (
    CurbEvent,
    EventType,
    OccupancySession,
    SessionKind,
    VehicleType,
)
from occupancy.storage.spatial_queries import SpatialQueryError
from occupancy.storage.store import Store
from tests.conftest import SHARED

GEO = SHARED / "geodata"
needs_geodata = pytest.mark.skipif(
    not (GEO / "paris_delivery_bays.csv").exists(),
    reason="../shared/geodata is not on this machine",
)


def paris_bays(arrondissements: set[int]) -> list[dict[str, object]]:
    rows = []
    with (GEO / "paris_delivery_bays.csv").open(encoding="utf-8-sig") as f:
        for i, r in enumerate(csv.DictReader(f, delimiter=";")):
            if int(r["Arrondissement"]) not in arrondissements:
                continue
            lon, lat = json.loads(r["geo_shape"])["coordinates"]
            length = float(r["Longueur"] or 10) or 10.0
            width = float(r["Largeur"] or 2) or 2.0
            dx = length / 2 / (111_320 * math.cos(math.radians(lat)))
            dy = width / 2 / 110_574
            ring = [
                [lon - dx, lat - dy],
                [lon + dx, lat - dy],
                [lon + dx, lat + dy],
                [lon - dx, lat + dy],
                [lon - dx, lat - dy],
            ]
            rows.append(
                {
                    # Not every surveyed bay has an identifier yet: the row number stands in.
                    "curb_zone_id": f"paris-{r['Nouvel identifiant'] or f'row{i}'}",
                    "source": "paris_delivery_bays.csv",
                    "geometry": {"type": "Polygon", "coordinates": [ring]},
                    "lon": lon,
                    "lat": lat,
                    "area_id": r["Arrondissement"],
                }
            )
    return rows


def arrondissement(n: int) -> dict[str, object]:
    fc = json.loads((GEO / "paris_arrondissements.geojson").read_text())
    feats = fc.get("features", fc)
    for f in feats:
        if int(f["properties"]["c_ar"]) == n:
            return f["geometry"]  # type: ignore[no-any-return]
    raise AssertionError(f"no arrondissement {n}")


def test_migrate_creates_the_schema_and_is_idempotent(store_url: str) -> None:
    store = Store(store_url)
    assert store.migrate() == "0001"  # a database Store created is stamped, not recreated
    assert store.migrate() == "0001"
    insp = inspect(store.engine)
    assert {"curb_zones", "lane_zones", "events", "sessions", "runs", "alembic_version"} <= set(
        insp.get_table_names()
    )
    with warnings.catch_warnings():  # SQLAlchemy reflects PostGIS' type as unknown
        warnings.simplefilter("ignore")
        cols = {c["name"] for c in insp.get_columns("curb_zones")}
    indexes = {i["name"] for i in insp.get_indexes("curb_zones")}
    if store.dialect == "postgresql":
        assert "geom" in cols
        with store.engine.connect() as conn:
            defs = dict(
                conn.execute(
                    text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename='curb_zones'")
                ).all()
            )
        assert "USING gist (geom)" in defs["ix_curb_zones_geom"]
        assert "geography" in defs["ix_curb_zones_geog"]
    else:
        assert "geom" not in cols and "ix_curb_zones_lonlat" in indexes


def test_alembic_builds_an_empty_database_like_store_does(store_url: str, tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    from occupancy.storage.migrations import upgrade

    engine = create_engine(store_url)
    assert upgrade(engine) == "0001"  # from nothing: the revision creates every table
    store = Store(store_url)  # and Store then finds its schema in place
    store.upsert_zones(
        [
            {
                "curb_zone_id": "z",
                "source": "t",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[2.0, 48.0], [2.001, 48.0], [2.001, 48.001], [2.0, 48.0]]],
                },
                "lon": 2.0005,
                "lat": 48.0003,
            }
        ]
    )
    assert store.zones_in_bbox(2.0009, 48.0, 2.01, 48.01) == ["z"]
    engine.dispose()


@needs_geodata
def test_postgis_and_sqlite_give_the_same_spatial_answers(tmp_path: Path, pg_url: str) -> None:
    bays = paris_bays({3, 4})
    lite = Store(f"sqlite:///{tmp_path / 'lite.db'}")
    pg = Store(pg_url)
    for s in (lite, pg):
        s.migrate()
        s.upsert_zones(bays)

    def both(fn):  # type: ignore[no-untyped-def]
        a, b = fn(lite), fn(pg)
        return a, b

    # The 3e: every bay of the 3e, plus 4e bays whose 10-m rectangle reaches over the border.
    a3, p3 = both(lambda s: s.zones_in_area(arrondissement(3)))
    assert a3 == p3
    in3 = {b["curb_zone_id"] for b in bays if b["area_id"] == "3"}
    assert len(in3) == 248 and in3 <= set(a3)
    extra = set(a3) - in3
    border = shape(arrondissement(3)).boundary
    for b in bays:
        if b["curb_zone_id"] in extra:  # half a bay's length (at most 15 m) from the border
            assert b["area_id"] == "4" and border.distance(Point(b["lon"], b["lat"])) < 2e-4
    assert len(extra) == 13

    # A box around the Marais' Rue des Archives.
    box = (2.3560, 48.8580, 2.3600, 48.8620)
    lb, pb = both(lambda s: s.zones_in_bbox(*box))
    assert lb == pb and len(lb) > 5

    # Nearest bays to the Centre Pompidou and to the Place des Vosges.
    for lon, lat in ((2.3522, 48.8606), (2.3655, 48.8556)):
        ln, pn = both(lambda s, lon=lon, lat=lat: s.nearest_zones(lon, lat, k=8, within_m=400))
        assert [z.curb_zone_id for z in ln] == [z.curb_zone_id for z in pn]
        assert len(ln) == 8
        for x, y in zip(ln, pn, strict=True):
            assert x.distance_m == pytest.approx(y.distance_m, abs=0.005)
        assert all(a.distance_m <= b.distance_m for a, b in itertools.pairwise(ln))
        assert ln[-1].distance_m <= 400

    # Occupy the nearest bay with a closed session and the second with a vehicle still
    # parked (park_start only): neither is free then; both are free before.
    first, second = (z.curb_zone_id for z in lite.nearest_zones(2.3522, 48.8606, k=2, within_m=400))
    t0 = 1_760_000_000_000
    sess = OccupancySession(
        "s1", SessionKind.PARK, "cam", t0, t0 + 600_000, VehicleType.VAN, curb_zone_id=first
    )
    start = CurbEvent(
        "e1", EventType.PARK_START, t0 + 60_000, "cam", curb_zone_id=second, event_session_id="s2"
    )
    for s in (lite, pg):
        s.write_batch([start], [sess])
    at = t0 + 120_000
    lf, pf = both(lambda s: s.nearest_zones(2.3522, 48.8606, k=3, within_m=400, free_at_ms=at))
    assert [z.curb_zone_id for z in lf] == [z.curb_zone_id for z in pf]
    assert first not in {z.curb_zone_id for z in lf} and second not in {z.curb_zone_id for z in lf}
    before = lite.nearest_zones(2.3522, 48.8606, k=2, within_m=400, free_at_ms=t0 - 1)
    assert [z.curb_zone_id for z in before] == [first, second]
    after = pg.nearest_zones(2.3522, 48.8606, k=1, within_m=400, free_at_ms=t0 + 600_000)
    assert [z.curb_zone_id for z in after] == [first]  # the session ended; the bay is free
    lite.close()
    pg.close()


def test_bad_spatial_queries_are_named(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'q.db'}")
    with pytest.raises(SpatialQueryError, match="bbox: longitudes"):
        store.zones_in_bbox(3, 48, 2, 49)
    with pytest.raises(SpatialQueryError, match="point"):
        store.nearest_zones(200, 48)
    with pytest.raises(SpatialQueryError, match="area: expected"):
        store.zones_in_area({"type": "Point", "coordinates": [2, 48]})
    assert store.zones_in_bbox(2, 48, 3, 49) == [] and store.nearest_zones(2.3, 48.8) == []
