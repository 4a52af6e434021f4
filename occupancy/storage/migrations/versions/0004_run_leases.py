"""Run leases: ``runs.lease_until_ms``

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

Two analyses of the same footage into one database (two operators, a CLI run and a
``POST /jobs``) used to delete each other's rows on completion. A running attempt now
holds its run until ``lease_until_ms``, renewed while it writes; a second attempt is
refused meanwhile, and an attempt taken over after its lease lapsed writes and deletes
nothing more (``occupancy.storage.store.Store.begin_run``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("runs")}
    if "lease_until_ms" not in columns:
        with op.batch_alter_table("runs", schema=None) as batch_op:
            batch_op.add_column(sa.Column("lease_until_ms", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("lease_until_ms")
