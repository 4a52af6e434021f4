"""API keys and batch jobs; the events publication index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

Before this revision the HTTP service created ``api_keys`` and ``jobs`` itself, outside
Alembic, and ``Store`` created ``ix_events_publication`` on open; databases made that way
already have them, so each is created only where it is missing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _has_table(name: str) -> bool:
    return sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    if not _has_table("api_keys"):
        op.create_table(
            "api_keys",
            sa.Column("key_id", sa.String(length=32), nullable=False),
            sa.Column("name", sa.String(length=200), nullable=False),
            sa.Column("secret_sha256", sa.String(length=64), nullable=False),
            sa.Column("scopes", sa.JSON(), nullable=False),
            sa.Column("created_ms", sa.BigInteger(), nullable=False),
            sa.Column("revoked_ms", sa.BigInteger(), nullable=True),
            sa.PrimaryKeyConstraint("key_id"),
        )
    if not _has_table("jobs"):
        op.create_table(
            "jobs",
            sa.Column("job_id", sa.String(length=64), nullable=False),
            sa.Column("kind", sa.String(length=40), nullable=False),
            sa.Column("source", sa.Text(), nullable=False),
            sa.Column("site", sa.JSON(), nullable=False),
            sa.Column("status", sa.String(length=20), nullable=False),
            sa.Column("progress", sa.Float(), nullable=False),
            sa.Column("error", sa.Text(), nullable=True),
            sa.Column("result", sa.JSON(), nullable=True),
            sa.Column("submitted_ms", sa.BigInteger(), nullable=False),
            sa.Column("started_ms", sa.BigInteger(), nullable=True),
            sa.Column("finished_ms", sa.BigInteger(), nullable=True),
            sa.PrimaryKeyConstraint("job_id"),
        )
        with op.batch_alter_table("jobs", schema=None) as batch_op:
            batch_op.create_index(batch_op.f("ix_jobs_status"), ["status"], unique=False)
            batch_op.create_index(
                batch_op.f("ix_jobs_submitted_ms"), ["submitted_ms"], unique=False
            )
    indexes = {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes("events")}
    if "ix_events_publication" not in indexes:
        op.create_index("ix_events_publication", "events", ["event_publication_time"])


def downgrade() -> None:
    op.drop_index("ix_events_publication", table_name="events")
    op.drop_table("jobs")
    op.drop_table("api_keys")
