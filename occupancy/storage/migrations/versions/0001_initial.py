"""initial schema: zones, events, sessions, runs

Revision ID: 0001
Revises:
Create Date: 2026-11-26

The first tables of ``occupancy.storage.schema``; on PostgreSQL also the bays' PostGIS geometry, generated
from their GeoJSON, with its GiST indexes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from occupancy.storage.schema import POSTGIS_DDL

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "curb_zones",
        sa.Column("curb_zone_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("device_id", sa.String(length=200), nullable=True),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("geometry", sa.JSON(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("length_cm", sa.Integer(), nullable=True),
        sa.Column("width_cm", sa.Integer(), nullable=True),
        sa.Column("num_spaces", sa.Integer(), nullable=True),
        sa.Column("max_stay_min", sa.Float(), nullable=True),
        sa.Column("vehicle_types", sa.JSON(), nullable=True),
        sa.Column("user_classes", sa.JSON(), nullable=True),
        sa.Column("delivery_hours", sa.Text(), nullable=True),
        sa.Column("street_name", sa.String(length=300), nullable=True),
        sa.Column("street_side", sa.String(length=20), nullable=True),
        sa.Column("area_id", sa.String(length=100), nullable=True),
        sa.Column("area_name", sa.String(length=200), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=True),
        sa.Column("published_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("curb_zone_id"),
    )
    with op.batch_alter_table("curb_zones", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_curb_zones_area_id"), ["area_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_curb_zones_device_id"), ["device_id"], unique=False)
        batch_op.create_index("ix_curb_zones_lonlat", ["lon", "lat"], unique=False)

    op.create_table(
        "events",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("event_time", sa.BigInteger(), nullable=False),
        sa.Column("event_publication_time", sa.BigInteger(), nullable=False),
        sa.Column("data_source_device_id", sa.String(length=200), nullable=False),
        sa.Column("data_source_type", sa.String(length=40), nullable=False),
        sa.Column("curb_zone_id", sa.String(length=64), nullable=True),
        sa.Column("lane_zone_id", sa.String(length=64), nullable=True),
        sa.Column("event_session_id", sa.String(length=64), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("vehicle_type", sa.String(length=40), nullable=True),
        sa.Column("vehicle_length", sa.Integer(), nullable=True),
        sa.Column("vehicle_blocked_lane_types", sa.JSON(), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("event_id"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_curb_zone_id"), ["curb_zone_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_events_data_source_device_id"), ["data_source_device_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_events_event_time"), ["event_time"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_run_id"), ["run_id"], unique=False)

    op.create_table(
        "lane_zones",
        sa.Column("lane_zone_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("device_id", sa.String(length=200), nullable=True),
        sa.Column("geometry", sa.JSON(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lane_type", sa.String(length=40), nullable=False),
        sa.Column("curb_zone_id", sa.String(length=64), nullable=True),
        sa.Column("last_updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("lane_zone_id"),
    )
    with op.batch_alter_table("lane_zones", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lane_zones_device_id"), ["device_id"], unique=False)

    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=200), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("footage_start_ms", sa.BigInteger(), nullable=True),
        sa.Column("footage_end_ms", sa.BigInteger(), nullable=True),
        sa.Column("frames_analysed", sa.Integer(), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_ms", sa.BigInteger(), nullable=False),
        sa.Column("finished_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("run_id"),
    )
    op.create_table(
        "sessions",
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("data_source_device_id", sa.String(length=200), nullable=False),
        sa.Column("data_source_type", sa.String(length=40), nullable=False),
        sa.Column("curb_zone_id", sa.String(length=64), nullable=True),
        sa.Column("lane_zone_id", sa.String(length=64), nullable=True),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.Column("dwell_s", sa.Float(), nullable=False),
        sa.Column("vehicle_type", sa.String(length=40), nullable=False),
        sa.Column("vehicle_length", sa.Integer(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("max_stay_min", sa.Float(), nullable=True),
        sa.Column("overstay", sa.Boolean(), nullable=False),
        sa.Column("blocked_lane_types", sa.JSON(), nullable=True),
        sa.Column("start_censored", sa.Boolean(), nullable=False),
        sa.Column("end_censored", sa.Boolean(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("session_id"),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sessions_curb_zone_id"), ["curb_zone_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sessions_data_source_device_id"), ["data_source_device_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sessions_lane_zone_id"), ["lane_zone_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sessions_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sessions_start_ms"), ["start_ms"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        for stmt in POSTGIS_DDL:
            op.execute(stmt)


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sessions_start_ms"))
        batch_op.drop_index(batch_op.f("ix_sessions_run_id"))
        batch_op.drop_index(batch_op.f("ix_sessions_lane_zone_id"))
        batch_op.drop_index(batch_op.f("ix_sessions_data_source_device_id"))
        batch_op.drop_index(batch_op.f("ix_sessions_curb_zone_id"))

    op.drop_table("sessions")
    op.drop_table("runs")
    with op.batch_alter_table("lane_zones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lane_zones_device_id"))

    op.drop_table("lane_zones")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_run_id"))
        batch_op.drop_index(batch_op.f("ix_events_event_time"))
        batch_op.drop_index(batch_op.f("ix_events_data_source_device_id"))
        batch_op.drop_index(batch_op.f("ix_events_curb_zone_id"))

    op.drop_table("events")
    with op.batch_alter_table("curb_zones", schema=None) as batch_op:
        batch_op.drop_index("ix_curb_zones_lonlat")
        batch_op.drop_index(batch_op.f("ix_curb_zones_device_id"))
        batch_op.drop_index(batch_op.f("ix_curb_zones_area_id"))

    op.drop_table("curb_zones")
