"""Alembic schema migrations of the store, for SQLite and PostgreSQL/PostGIS alike.

The revisions in ``versions/`` are the only way tables come to be: ``Store(url)`` calls
``ensure_current``, which upgrades an empty or older database to the latest revision, and
``baywatch db upgrade`` does the same explicitly. A database made by an older baywatch
whose ``Store`` created tables directly (before Alembic tracked them) is first stamped at
revision ``0001``, whose tables it has.

Two processes may open one new database at once (``watch`` and ``serve`` started together,
an operator's ``analyse`` beside an API job): migrations are serialised so that exactly one
of them upgrades and the other finds the database current. PostgreSQL takes a
transaction-level advisory lock inside the migration's transaction (its DDL is
transactional); SQLite, whose DDL through pysqlite is not, takes a lock file beside the
database (``<file>.migrate.lock``, left in place as lock files must be) for the whole upgrade.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock, Timeout
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import OperationalError

HERE = Path(__file__).resolve().parent
# The revision whose tables databases created before Alembic tracked them already have.
BASELINE = "0001"
# Key of the PostgreSQL advisory lock that serialises migrations (any fixed 64-bit number;
# this one is "baywatch" in ASCII, so it does not collide with another program's by chance).
PG_LOCK_KEY = 0x6261797761746368
# A migration of a fresh database takes well under a second; a minute means a stuck process.
LOCK_TIMEOUT_S = 60.0


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
    with _migration_lock(engine):
        if current(engine) is None and inspect(engine).has_table("curb_zones"):
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, revision)
    rev = current(engine)
    return rev or ""


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Hold the SQLite lock file for the whole upgrade (PostgreSQL locks in ``env.py``).

    Raises ``sqlalchemy.exc.OperationalError`` when another process holds it for over
    ``LOCK_TIMEOUT_S``.
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    lock = FileLock(f"{database}.migrate.lock", timeout=LOCK_TIMEOUT_S)
    try:
        with lock:
            yield
    except Timeout as exc:
        raise OperationalError(
            f"another process has been migrating {Path(database).name} for over "
            f"{LOCK_TIMEOUT_S:.0f} s (lock file {lock.lock_file})",
            None,
            exc,
        ) from exc


def ensure_current(engine: Engine) -> None:
    """Upgrade the database to the latest revision unless it is there already (cheap check)."""
    if current(engine) != head():
        upgrade(engine)
