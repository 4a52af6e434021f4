"""optimiser runs and the proposals planners review

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "optimiser_runs",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("area_id", sa.String(length=100), nullable=True),
        sa.Column("period_start_ms", sa.BigInteger(), nullable=True),
        sa.Column("period_end_ms", sa.BigInteger(), nullable=True),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("objective", sa.Float(), nullable=True),
        sa.Column("bound", sa.Float(), nullable=True),
        sa.Column("gap", sa.Float(), nullable=True),
        sa.Column("abs_gap", sa.Float(), nullable=True),
        sa.Column("evidence_shares", sa.JSON(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("run_id"),
    )
    with op.batch_alter_table("optimiser_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_optimiser_runs_area_id"), ["area_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_optimiser_runs_created_ms"), ["created_ms"], unique=False
        )
    op.create_table(
        "proposals",
        sa.Column("proposal_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("curb_zone_id", sa.String(length=64), nullable=True),
        sa.Column("area_id", sa.String(length=100), nullable=True),
        sa.Column("geometry", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("effect", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.String(length=20), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reviewed_by", sa.String(length=200), nullable=True),
        sa.Column("reviewed_ms", sa.BigInteger(), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("proposal_id"),
    )
    with op.batch_alter_table("proposals", schema=None) as batch_op:
        for col in ("run_id", "kind", "curb_zone_id", "area_id", "status"):
            batch_op.create_index(batch_op.f(f"ix_proposals_{col}"), [col], unique=False)


def downgrade() -> None:
    op.drop_table("proposals")
    op.drop_table("optimiser_runs")
