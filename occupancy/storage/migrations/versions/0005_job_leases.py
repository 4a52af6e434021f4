"""jobs: lease owner and expiry (one worker runs a job, across processes)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

Jobs are claimed with a lease that the running worker renews; a job whose lease
expired (its process died) is taken over by another worker. Before, every server
re-queued at start whatever was ``running``, including the jobs another live server
was running, so two servers on one database ran jobs twice.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("lease_expires_ms", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("lease_expires_ms")
        batch_op.drop_column("lease_owner")
