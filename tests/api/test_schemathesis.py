"""Property-based requests over the whole OpenAPI spec: no request may get a 5xx.

Requests carry an admin key so protected operations are explored too (auth errors
have their own tests). The push stream is left out: it is endless by design.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from api.app import create_app
from api.keys import KeyStore
from occupancy.config.settings import Settings
from occupancy.runtime.wire import EventIn
from occupancy.storage.store import Store
from tests.api.conftest import T0, event, zone_rows

_TMP = tempfile.TemporaryDirectory(prefix="baywatch-schemathesis-")


def _build(name: str) -> tuple[schemathesis.BaseSchema, str]:
    db = f"sqlite:///{Path(_TMP.name) / name}"
    store = Store(db)
    store.upsert_zones(zone_rows())
    store.ingest_events([EventIn.model_validate(event("park_start", "b1", T0)).row(T0)])
    token = KeyStore(store).create("schemathesis", ["admin"])[1]
    app = create_app(Settings(db=db, api_rate_limit_per_s=0), store=store, background=False)
    return schemathesis.openapi.from_asgi("/openapi.json", app), token


# Built at import: schemathesis generates one test per operation from this schema.
schema, TOKEN = _build("all.db")
# Ingest batches are deep documents: the coverage phase's boundary cases of every
# nested field take half a minute there; its own test below runs the fuzzing phase only.
ingest_schema, INGEST_TOKEN = _build("ingest.db")
ingest_schema.config.phases.coverage.enabled = False


@schema.exclude(path="/availability/stream").exclude(path="/ingest/batch").parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_error(case: schemathesis.Case) -> None:
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])


@ingest_schema.include(path="/ingest/batch").parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_ingest_no_server_error(case: schemathesis.Case) -> None:
    response = case.call(headers={"Authorization": f"Bearer {INGEST_TOKEN}"})
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])


def test_fuzzed_uploads_land_in_the_suites_data_folder_not_the_users() -> None:
    """The fuzzer PUTs random bodies to /jobs/uploads with default Settings: they used to pile
    up in ~/.local/share/baywatch/uploads (and, once, in the repository)."""
    data = Settings().data_dir.resolve()
    assert not data.is_relative_to(Path.home().resolve()), data
    assert not data.is_relative_to(Path(__file__).resolve().parents[2]), data
