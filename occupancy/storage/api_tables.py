"""Tables the HTTP service adds to the shared database: API keys and batch jobs.

They live on ``occupancy.storage.store.metadata`` so one ``create_all`` makes the whole schema;
``ensure_tables`` creates them on a database a plain ``Store`` opened before this
module was imported.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Float, String, Table, Text

from occupancy.storage.store import Store, metadata

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("secret_sha256", String(64), nullable=False),  # never the secret itself
    Column("scopes", JSON, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("revoked_ms", BigInteger),
)

jobs = Table(
    "jobs",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("kind", String(40), nullable=False),  # "footage"
    Column("source", Text, nullable=False),
    Column("site", JSON, nullable=False),
    Column("status", String(20), nullable=False, index=True),  # queued|running|done|failed
    Column("progress", Float, nullable=False),
    Column("error", Text),
    Column("result", JSON),
    Column("submitted_ms", BigInteger, nullable=False, index=True),
    Column("started_ms", BigInteger),
    Column("finished_ms", BigInteger),
)


def ensure_tables(store: Store) -> None:
    metadata.create_all(store.engine, tables=[api_keys, jobs])
