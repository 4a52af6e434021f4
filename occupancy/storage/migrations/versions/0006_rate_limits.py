"""rate_limits: token buckets shared by every API process on one database

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

The API's rate limits were counted per process: two `baywatch serve` processes on one
database let a client through twice as often. Each request now takes its token from a
row of this table in one atomic upsert.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("bucket", sa.String(length=300), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_s", sa.Float(), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("bucket"),
    )


def downgrade() -> None:
    op.drop_table("rate_limits")
