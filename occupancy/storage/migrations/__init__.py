"""Alembic schema migrations of the store, for SQLite and PostgreSQL/PostGIS alike.

``Store(url)`` creates a missing schema directly (revision ``0001``); ``Store.migrate()``
or ``baywatch db upgrade`` brings any database to the latest revision, first stamping a
database that ``Store`` created before Alembic tracked it.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

HERE = Path(__file__).resolve().parent
# The revision whose schema ``store.metadata.create_all`` produces.
BASELINE = "0001"


def config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["engine"] = engine
    return cfg


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str:
    cfg = config(engine)
    if current(engine) is None and inspect(engine).has_table("curb_zones"):
        command.stamp(cfg, BASELINE)
    command.upgrade(cfg, revision)
    rev = current(engine)
    return rev or ""
