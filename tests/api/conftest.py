"""Hand-made city for the API tests: five bays around Paris' Place des Vosges.

Bays b1..b3 are watched by camera ``cam-1`` (area ``a-north``), b4 and b5 by no
camera (area ``a-south``). Distances from the query point ``ORIGIN`` are exact
enough to assert their order: b1 ~11 m, b2 ~37 m, b3 ~74 m, b4 ~220 m, b5 ~1.1 km.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.jobs import JobRunner
from api.keys import KeyStore
from api.state import ApiState
from occupancy.config.settings import Settings
from occupancy.domain.curb_zone import CurbZoneRecord, records_from_rows
from occupancy.domain.records import stable_id
from occupancy.storage.store import Store

ORIGIN = (48.8556, 2.3655)  # lat, lon
T0 = 1_767_600_000_000  # 2026-01-05 08:00:00 UTC = 09:00 Paris, a Monday
CDS_JSON = "application/vnd.cds+json;version=1.1"  # the latest: what a bare request gets
CDS_CSV = "application/vnd.cds+csv;version=1.1"
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"


def square(lon: float, lat: float, d: float = 0.00003) -> dict[str, Any]:
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def zid(name: str) -> str:
    return stable_id("test-bay", name)


# name -> (lat, lon, device, area, max_stay_min, vehicle_types)
BAYS: dict[str, tuple[float, float, str | None, str, float | None, list[str] | None]] = {
    "b1": (48.8557, 2.3655, "cam-1", "a-north", 30.0, None),
    "b2": (48.85593, 2.3655, "cam-1", "a-north", 30.0, ["van", "truck"]),
    "b3": (48.85627, 2.3655, "cam-1", "a-north", 20.0, None),
    "b4": (48.8556, 2.3685, None, "a-south", None, None),
    "b5": (48.8456, 2.3655, None, "a-south", 30.0, None),
}


def zone_rows() -> list[CurbZoneRecord]:
    rows = []
    for name, (lat, lon, dev, area, stay, vt) in BAYS.items():
        rows.append(
            {
                "curb_zone_id": zid(name),
                "name": f"bay {name}",
                "device_id": dev,
                "source": "test",
                "geometry": square(lon, lat),
                "lon": lon,
                "lat": lat,
                "length_cm": 1000,
                "width_cm": 200,
                "num_spaces": 1,
                "max_stay_min": stay,
                "vehicle_types": vt,
                "user_classes": ["commercial"],
                "street_name": "Place des Vosges",
                "area_id": area,
                "area_name": area.upper(),
                "published_ms": T0 - 86_400_000,
                "last_updated_ms": T0 - 86_400_000,
            }
        )
    return records_from_rows(rows)


def event(
    kind: str, name: str | None, t: int, *, device: str = "cam-1", n: int = 0
) -> dict[str, Any]:
    """An ingest-shaped CDS event dict."""
    e: dict[str, Any] = {
        "event_id": stable_id("test-event", kind, name, t, device, n),
        "event_type": kind,
        "event_time": t,
        "data_source_device_id": device,
        "data_source_type": "camera",
    }
    if name is not None:
        lat, lon = BAYS[name][0], BAYS[name][1]
        e["curb_zone_id"] = zid(name)
        e["event_location"] = {"type": "Point", "coordinates": [lon, lat]}
        e["event_session_id"] = stable_id("test-session", name, n)
        e["vehicle_type"] = "van"
        e["vehicle_length"] = 540
    return e


def session(
    name: str, start: int, end: int, *, n: int = 0, source: str = "camera"
) -> dict[str, Any]:
    lat, lon = BAYS[name][0], BAYS[name][1]
    return {
        "session_id": stable_id("test-session", name, n),
        "kind": "park",
        "data_source_device_id": BAYS[name][2] or "sim",
        "data_source_type": source,
        "start_ms": start,
        "end_ms": end,
        "vehicle_type": "van",
        "curb_zone_id": zid(name),
        "vehicle_length": 540,
        "lon": lon,
        "lat": lat,
        "max_stay_min": BAYS[name][4],
    }


@dataclass
class Api:
    client: TestClient
    state: ApiState
    store: Store
    tokens: Mapping[str, str]

    def auth(self, scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[scope]}"}

    def ingest(
        self, events: list[dict[str, Any]], sessions: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        r = self.client.post(
            "/ingest/batch",
            json={"events": events, "sessions": sessions or []},
            headers=self.auth("ingest"),
        )
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out


def make_api(
    tmp_path: Path, *, runner: JobRunner | None = None, db: str | None = None, **settings: Any
) -> Iterator[Api]:
    db = db or f"sqlite:///{tmp_path / 'api.db'}"
    store = Store(db)
    store.upsert_zones(zone_rows())
    keys = KeyStore(store)
    tokens = {
        s: keys.create(f"test {s}", [s])[1] for s in ("read", "ingest", "jobs", "review", "admin")
    }
    # Uploads go under the test's folder, never the working directory.
    cfg = Settings(db=db, **{"data_dir": str(tmp_path / "data"), **settings})
    runners = None if runner is None else {"footage": runner}
    app = create_app(cfg, store=store, job_runners=runners, background=False)
    with TestClient(app) as client:
        yield Api(client, app.state.api, store, tokens)
    store.close()


@pytest.fixture
def api(tmp_path: Path, store_url: str) -> Iterator[Api]:
    """The service over a fresh database: SQLite, then PostgreSQL+PostGIS where configured."""
    yield from make_api(tmp_path, db=store_url, api_rate_limit_per_s=0)


def assert_cds_envelope(body: Mapping[str, Any]) -> None:
    """CDS REST envelope (general-information.md, "REST Endpoints"), latest version."""
    assert set(body) >= {"version", "time_zone", "last_updated", "data"}
    assert body["version"] == "1.1"
    assert body["time_zone"] == "Europe/Paris"
    assert isinstance(body["last_updated"], int) and body["last_updated"] > 1_500_000_000_000
    assert isinstance(body["data"], dict)


def assert_cds_zone(z: Mapping[str, Any]) -> None:
    for k in (
        "curb_zone_id",
        "curb_policy_ids",
        "published_date",
        "last_updated_date",
        "start_date",
    ):
        assert k in z, k
    for k in ("published_date", "last_updated_date", "start_date"):
        assert isinstance(z[k], int) and z[k] > 1_500_000_000_000
    if "geometry" in z:
        assert z["geometry"]["type"] == "Polygon"
    for k in ("length", "width"):
        if k in z:
            assert isinstance(z[k], int)  # centimetres


def assert_cds_event(e: Mapping[str, Any]) -> None:
    for k in (
        "event_id",
        "event_type",
        "event_time",
        "event_publication_time",
        "data_source_device_id",
        "data_source_type",
    ):
        assert k in e, k
    assert isinstance(e["event_time"], int)
    if "event_location" in e:
        assert e["event_location"]["type"] == "Feature"
        assert e["event_location"]["geometry"]["type"] == "Point"
