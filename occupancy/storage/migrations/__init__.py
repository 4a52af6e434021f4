"""Alembic schema migrations of the store, for SQLite and PostgreSQL/PostGIS alike.

The revisions in ``versions/`` are the only way tables come to be: ``Store(url)`` calls
``ensure_current``, which upgrades an empty or older database to the latest revision, and
``baywatch db upgrade`` does the same explicitly. A database made by an older baywatch
whose ``Store`` created tables directly (before Alembic tracked them) is first stamped at
revision ``0001``, whose tables it has.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

HERE = Path(__file__).resolve().parent
# The revision whose tables databases created before Alembic tracked them already have.
BASELINE = "0001"


def config(engine: Engine) -> Config:
    """An Alembic configuration that runs this package's revisions on ``engine``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["engine"] = engine
    return cfg


@cache
def head() -> str:
    """The latest revision id (there is one head; a test checks it)."""
    heads = ScriptDirectory(str(HERE)).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads {heads}: merge them")
    return heads[0]


def current(engine: Engine) -> str | None:
    """The revision the database is at, or None for one Alembic has never touched."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Bring the database to ``revision``; returns the revision now current.

    Raises ``sqlalchemy.exc.OperationalError`` when the database cannot be reached or written.
    """
    cfg = config(engine)
    if current(engine) is None and inspect(engine).has_table("curb_zones"):
        command.stamp(cfg, BASELINE)
    command.upgrade(cfg, revision)
    rev = current(engine)
    return rev or ""


def ensure_current(engine: Engine) -> None:
    """Upgrade the database to the latest revision unless it is there already (cheap check)."""
    if current(engine) != head():
        upgrade(engine)
