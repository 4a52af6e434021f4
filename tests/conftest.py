"""Shared fixtures: the real footage and offline detector in ../shared, loaded once."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MODEL = SHARED / "models" / "yolo11n_int8_openvino_model"
FOOTAGE = SHARED / "footage"
SAMPLES = ROOT / "sample_videos"

os.environ.setdefault("YOLO_OFFLINE", "True")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")
# The suite never writes into the user's data folder (~/.local/share/baywatch: basemaps,
# uploads, saved sites): a test that builds Settings without a data_dir, a CLI run or a
# server subprocess gets this session's own folder, removed by the OS's /tmp cleaning.
os.environ["BAYWATCH_DATA_DIR"] = tempfile.mkdtemp(prefix="baywatch-test-data-")

needs_footage = pytest.mark.skipif(
    not (MODEL.exists() and FOOTAGE.exists()),
    reason="../shared/models and ../shared/footage are not on this machine "
    "(see sample_videos/README.md to fetch the footage)",
)


@pytest.fixture(scope="session")
def detector_factory() -> Callable[..., object]:
    """Detectors keyed by class set: loading a model takes about a second."""
    from vision.detector import Detector

    cache: dict[tuple[str, ...], Detector] = {}

    def make(
        classes: tuple[str, ...] = ("car", "truck", "bus", "motorcycle", "bicycle"),
    ) -> Detector:
        key = tuple(sorted(classes))
        if key not in cache:
            cache[key] = Detector(str(MODEL), vehicle_classes=key)
        return cache[key]

    return make


# -- databases -------------------------------------------------------------------------

PG_URL_VAR = "BAYWATCH_TEST_PG_URL"
_NO_PG = (
    f"{PG_URL_VAR} is not set: no PostgreSQL/PostGIS server to test against "
    "(.ci/run starts one; on a laptop run .ci/services.sh as root and export its URL)"
)


def _fresh_pg_database(base_url: str) -> Iterator[str]:
    """A new, empty database (PostGIS comes from template1) dropped after the test."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"bw_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _drop_pg_database(admin, name)
        admin.dispose()


def _drop_pg_database(admin: Any, name: str) -> None:
    """Drop a test database, retrying while a server process of another role (seen on a
    shared server: PostgreSQL refuses FORCE on it) still holds it; a database left behind
    is a warning, not a failure of the test that used it."""
    import time
    import warnings

    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    for attempt in range(10):
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except DBAPIError as exc:
            last = exc
            time.sleep(0.2 * (attempt + 1))
    warnings.warn(f"test database {name} left behind: {last.orig}", stacklevel=1)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: SQLite, then PostgreSQL+PostGIS when available.

    Tests taking ``store_url`` run once per database; the PostgreSQL run skips with a
    clear reason where ``BAYWATCH_TEST_PG_URL`` is not set.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    base = os.environ.get(PG_URL_VAR)
    if not base:
        pytest.skip(_NO_PG)
    yield from _fresh_pg_database(base)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL+PostGIS database URL (skips where none is configured)."""
    base = os.environ.get(PG_URL_VAR)
    if not base:
        pytest.skip(_NO_PG)
    yield from _fresh_pg_database(base)
