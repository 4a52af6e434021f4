"""events: vehicle_type_confidence (CDS 1.1)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

CDS 1.1 Curb Events carry ``vehicle_type_confidence``, "Value from 1 to 100
specifying the recognition confidence level for ``vehicle_type``" (OMF OpenAPI 1.1,
curb_event.yaml). The analyser knows it from the detector's class confidence; it
was dropped before being stored. Null for events stored before, and for events
whose source gave none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("vehicle_type_confidence", sa.SmallInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("vehicle_type_confidence")
