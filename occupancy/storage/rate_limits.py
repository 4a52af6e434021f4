"""Token buckets kept in the database, so that every process serving it counts together.

One bucket per ``(limit, client)``: ``burst`` tokens at most, refilled at ``rate`` tokens
per second; a request takes one token or is refused. ``take_token`` reads, refills,
decides and writes a bucket in one ``INSERT ... ON CONFLICT DO UPDATE`` statement, so
two processes taking from the same bucket at the same moment are serialised by the
database (PostgreSQL's row lock, SQLite's write lock) and neither can spend a token
the other spent. Every expression on the right of ``SET`` reads the row as it was
before the statement (SQL standard; SQLite and PostgreSQL alike).

Times are the callers' wall clocks in seconds since the epoch: processes on one host
share that clock, and a skew of milliseconds between hosts moves a refill by as much.
Each take is one statement in autocommit: one round trip. A lost bucket (a crash
before the write reached the disk) only forgives a client a few requests, so on
PostgreSQL the buckets have their own connections, which commit without waiting for
the disk (``bucket_engine``); the store's own writes keep waiting for it.
"""

from __future__ import annotations

import time

from sqlalchemy import Engine, case, create_engine, delete, func
from sqlalchemy.dialects import postgresql, sqlite

from occupancy.storage.schema import rate_limits


def bucket_engine(engine: Engine) -> Engine:
    """The engine ``take_token`` should be given, for the database of ``engine``: autocommit;
    on PostgreSQL a small pool of its own with ``synchronous_commit`` off."""
    if engine.dialect.name == "postgresql":
        return create_engine(
            engine.url,
            pool_size=2,
            max_overflow=8,
            isolation_level="AUTOCOMMIT",
            connect_args={"options": "-c synchronous_commit=off"},
        )
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def take_token(engine: Engine, bucket: str, rate: float, burst: int, now_s: float) -> float:
    """Take one token from ``bucket`` (``rate`` tokens/s, at most ``burst``) at ``now_s``,
    through ``engine`` from ``bucket_engine``.

    Returns 0.0 when the token was taken, else the seconds until one will be there.
    Raises ``sqlalchemy.exc.SQLAlchemyError`` when the database cannot be written.
    """
    pg = engine.dialect.name == "postgresql"
    least, greatest = (func.least, func.greatest) if pg else (func.min, func.max)
    old = rate_limits.c
    level = least(float(burst), old.tokens + greatest(0.0, now_s - old.updated_s) * rate)
    granted = level >= 1.0
    insert = (postgresql.insert if pg else sqlite.insert)(rate_limits).values(
        bucket=bucket, tokens=float(burst) - 1.0, updated_s=now_s, granted=True
    )
    stmt = insert.on_conflict_do_update(
        index_elements=[old.bucket],
        set_={
            "tokens": case((granted, level - 1.0), else_=level),
            "updated_s": greatest(old.updated_s, now_s),
            "granted": granted,
        },
    ).returning(old.tokens, old.granted)
    # With bucket_engine's autocommit, begin/commit send nothing: one statement, one trip.
    with engine.begin() as conn:
        tokens, was_granted = conn.execute(stmt).one()
    return 0.0 if was_granted else (1.0 - float(tokens)) / rate


def forget_full_buckets(engine: Engine, prefix: str, rate: float, burst: int) -> int:
    """Delete the buckets named ``prefix...`` that have refilled to ``burst`` (a full bucket
    and no bucket are the same); returns how many."""
    full_since = time.time() - burst / rate
    with engine.begin() as conn:
        gone = conn.execute(
            delete(rate_limits).where(
                rate_limits.c.bucket.startswith(prefix, autoescape=True),
                rate_limits.c.updated_s < full_since,
            )
        )
    return int(gone.rowcount or 0)
