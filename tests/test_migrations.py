"""One schema owner: the Alembic revisions create exactly the tables of ``storage.schema``.

Runs on SQLite and on PostgreSQL+PostGIS (``store_url``, tests/conftest.py). The migrated
database is compared with the metadata by Alembic's own autogenerate comparison, so a table,
column, type or index added to the code without a revision fails here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from occupancy.storage import migrations
from occupancy.storage.schema import metadata
from occupancy.storage.store import Store

# PostGIS's own table and the generated geometry column with its index (POSTGIS_DDL) are
# PostgreSQL-only extras that the portable metadata does not describe.
_POSTGIS_ONLY = {"spatial_ref_sys", "geom", "ix_curb_zones_geom", "ix_curb_zones_geog"}


def _include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return name not in _POSTGIS_ONLY


def test_migrations_have_one_head() -> None:
    assert migrations.head()


@pytest.mark.filterwarnings("ignore:Did not recognize type .geometry.")
def test_upgrade_creates_exactly_the_metadata(store_url: str) -> None:
    engine = create_engine(store_url)
    assert migrations.upgrade(engine) == migrations.head()
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_object": _include, "compare_type": True}
        )
        diff = compare_metadata(ctx, metadata)
    engine.dispose()
    assert diff == [], f"migrations and storage.schema differ: {diff}"


def test_db_upgrade_command_on_an_empty_database_creates_every_table(store_url: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "baywatch.cli", "db", "upgrade", "--db", store_url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    engine = create_engine(store_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"api_keys", "jobs", "curb_zones", "events", "sessions", "runs"} <= tables
    assert set(metadata.tables) <= tables


def test_database_made_before_alembic_is_stamped_and_upgraded(tmp_path: Path) -> None:
    # An older baywatch created the first tables directly, without an alembic_version row.
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    # Revision 0001's tables as they were (later revisions add columns to them), then
    # the Alembic row removed: what such a database looks like.
    migrations.upgrade(engine, migrations.BASELINE)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    assert migrations.current(engine) is None
    engine.dispose()
    store = Store(url)
    assert migrations.current(store.engine) == migrations.head()
    assert {"api_keys", "jobs"} <= set(inspect(store.engine).get_table_names())
    cols = {c["name"] for c in inspect(store.engine).get_columns("events")}
    assert "vehicle_type_confidence" in cols  # revision 0007 ran on it


_OPEN_STORE = """
import sys
from occupancy.storage.store import Store
Store(sys.argv[1])
"""


def test_processes_opening_one_new_database_at_once_migrate_it_once(store_url: str) -> None:
    """Four processes open one new database together (``watch`` and ``serve`` started at
    once): every one succeeds and the database ends at the head with one version row.

    Before migrations were serialised, two of them upgraded concurrently and left two
    version rows ("Requested revision 0007 overlaps with other requested revisions 0001").
    """
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_STORE, store_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=180)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    engine = create_engine(store_url)
    with engine.connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    engine.dispose()
    assert versions == [(migrations.head(),)]
