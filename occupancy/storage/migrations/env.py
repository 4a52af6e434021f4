"""Alembic environment: runs on the engine the caller passes (``Store.migrate``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from occupancy.storage.schema import metadata

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError(
        "run migrations through occupancy.storage.migrations.upgrade (Store.migrate)"
    )

with engine.begin() as connection:
    if connection.dialect.name == "postgresql":
        # Serialise concurrent upgrades: Alembic reads the current revision after this, so
        # the second process waits and then finds nothing to do (see migrations/__init__.py).
        from occupancy.storage.migrations import PG_LOCK_KEY

        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_LOCK_KEY})")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: later revisions rebuild tables in batch mode.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
