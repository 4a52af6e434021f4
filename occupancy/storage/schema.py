"""The database schema: every table baywatch uses, in one ``MetaData``.

This module is the one owner of the schema. Alembic revisions in
``occupancy/storage/migrations/versions`` create and change exactly these tables, and a
test (``tests/test_migrations.py``) checks that autogenerate finds no difference between
the migrated database and this metadata, on SQLite and PostgreSQL.

Times are integer milliseconds since the Unix epoch (CDS 1.0 §"Timestamp"), geometries
GeoJSON in WGS84 (lon, lat), lengths integer centimetres (CDS).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    event,
)
from sqlalchemy.engine import Connection

metadata = MetaData()

curb_zones = Table(
    "curb_zones",
    metadata,
    Column("curb_zone_id", String(64), primary_key=True),
    Column("name", String(200)),
    Column("device_id", String(200), index=True),  # camera that watches it, if any
    Column("source", String(100), nullable=False),  # site file or inventory dataset
    Column("geometry", JSON, nullable=False),  # GeoJSON Polygon, WGS84
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("length_cm", Integer),
    Column("width_cm", Integer),
    Column("num_spaces", Integer),
    Column("max_stay_min", Float),
    Column("vehicle_types", JSON),  # allowed CDS vehicle types; null = any
    Column("user_classes", JSON),  # CDS user classes, e.g. ["commercial"]
    Column("delivery_hours", Text),  # OSM opening_hours of the delivery regime
    Column("street_name", String(300)),
    Column("street_side", String(20)),
    Column("area_id", String(100), index=True),
    Column("area_name", String(200)),
    Column("attributes", JSON),
    Column("published_ms", BigInteger),
    Column("last_updated_ms", BigInteger, nullable=False),
)
Index("ix_curb_zones_lonlat", curb_zones.c.lon, curb_zones.c.lat)

lane_zones = Table(
    "lane_zones",
    metadata,
    Column("lane_zone_id", String(64), primary_key=True),
    Column("name", String(200)),
    Column("device_id", String(200), index=True),
    Column("geometry", JSON, nullable=False),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("lane_type", String(40), nullable=False),
    Column("curb_zone_id", String(64)),  # the bay it runs beside, if any
    Column("last_updated_ms", BigInteger, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("event_type", String(40), nullable=False),
    Column("event_time", BigInteger, nullable=False, index=True),
    Column("event_publication_time", BigInteger, nullable=False),
    Column("data_source_device_id", String(200), nullable=False, index=True),
    Column("data_source_type", String(40), nullable=False),
    Column("curb_zone_id", String(64), index=True),
    Column("lane_zone_id", String(64)),
    Column("event_session_id", String(64)),
    Column("lon", Float),
    Column("lat", Float),
    Column("vehicle_type", String(40)),
    Column("vehicle_length", Integer),
    Column("vehicle_type_confidence", SmallInteger),  # CDS 1.1, 1-100
    Column("vehicle_blocked_lane_types", JSON),
    Column("run_id", String(64), index=True),
    Column("attempt", Integer),
)
# The API follows new events by publication time; created on existing databases too.
ix_events_publication = Index("ix_events_publication", events.c.event_publication_time)

sessions = Table(
    "sessions",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("data_source_device_id", String(200), nullable=False, index=True),
    Column("data_source_type", String(40), nullable=False),
    Column("curb_zone_id", String(64), index=True),
    Column("lane_zone_id", String(64), index=True),
    Column("start_ms", BigInteger, nullable=False, index=True),
    Column("end_ms", BigInteger, nullable=False),
    Column("dwell_s", Float, nullable=False),
    Column("vehicle_type", String(40), nullable=False),
    Column("vehicle_length", Integer),
    Column("lon", Float),
    Column("lat", Float),
    Column("max_stay_min", Float),
    Column("overstay", Boolean, nullable=False),
    Column("blocked_lane_types", JSON),
    Column("start_censored", Boolean, nullable=False),
    Column("end_censored", Boolean, nullable=False),
    Column("run_id", String(64), index=True),
    Column("attempt", Integer),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("device_id", String(200), nullable=False),
    Column("source", Text, nullable=False),
    Column("live", Boolean, nullable=False),
    Column("status", String(20), nullable=False),  # a RunStatus (occupancy.domain.states)
    Column("attempt", Integer, nullable=False),
    Column("footage_start_ms", BigInteger),
    Column("footage_end_ms", BigInteger),
    Column("frames_analysed", Integer),
    Column("settings", JSON),
    Column("error", Text),
    Column("started_ms", BigInteger, nullable=False),
    Column("finished_ms", BigInteger),
    # A running attempt holds the run until then (epoch ms), renewed as it writes: a second
    # attempt meanwhile is refused (migration 0004).
    Column("lease_until_ms", BigInteger),
)

# On PostgreSQL the bays also carry a PostGIS geometry, generated from the GeoJSON column
# so that writing code is the same for every database, with spatial indexes; on SQLite the
# GIS tools (QGIS, ogr2ogr) read the bays straight from the database.
POSTGIS_DDL = (
    "CREATE EXTENSION IF NOT EXISTS postgis",
    "ALTER TABLE curb_zones ADD COLUMN IF NOT EXISTS geom geometry(Polygon, 4326) "
    "GENERATED ALWAYS AS (ST_SetSRID(ST_GeomFromGeoJSON(geometry::text), 4326)) STORED",
    "CREATE INDEX IF NOT EXISTS ix_curb_zones_geom ON curb_zones USING gist (geom)",
    # Distances in metres (nearest bays) use geography; this index serves ST_DWithin.
    "CREATE INDEX IF NOT EXISTS ix_curb_zones_geog ON curb_zones USING gist ((geom::geography))",
)


def _postgis_after_create(target: Table, conn: Connection, **_kw: Any) -> None:
    if conn.dialect.name == "postgresql":
        for stmt in POSTGIS_DDL:
            conn.exec_driver_sql(stmt)


event.listen(curb_zones, "after_create", _postgis_after_create)

# -- tables of the HTTP service ---------------------------------------------------

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
    Column("status", String(20), nullable=False, index=True),  # a JobStatus
    Column("progress", Float, nullable=False),
    Column("error", Text),
    Column("result", JSON),
    Column("submitted_ms", BigInteger, nullable=False, index=True),
    Column("started_ms", BigInteger),
    Column("finished_ms", BigInteger),
    # Who runs the job, until when: a worker renews its lease while it runs; a lease
    # left to expire (its process died) lets another worker take the job over.
    Column("lease_owner", String(64)),
    Column("lease_expires_ms", BigInteger),
)

# Token buckets of the API's rate limits, shared by every process serving this database
# (occupancy.storage.rate_limits). A row whose bucket is full again is deleted.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("bucket", String(300), primary_key=True),  # "<limit>:<client>"
    Column("tokens", Float, nullable=False),  # after the last request
    Column("updated_s", Float, nullable=False),  # seconds since the epoch
    Column("granted", Boolean, nullable=False),  # whether the last request was let through
)

# -- optimiser runs and the proposals planners review -----------------------------

optimiser_runs = Table(
    "optimiser_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("kind", String(20), nullable=False),  # placement | timeslots
    Column("area_id", String(100), index=True),
    Column("period_start_ms", BigInteger),
    Column("period_end_ms", BigInteger),
    Column("request", JSON, nullable=False),  # budget, rules, solver settings
    Column("status", String(20), nullable=False),  # solver status: OPTIMAL | FEASIBLE
    Column("objective", Float),
    Column("bound", Float),
    Column("gap", Float),
    Column("abs_gap", Float),
    Column("evidence_shares", JSON),  # {"observed": 0.4, "simulated": 0, "estimated": 0.6}
    Column("summary", Text),
    Column("created_ms", BigInteger, nullable=False, index=True),
)

proposals = Table(
    "proposals",
    metadata,
    Column("proposal_id", String(64), primary_key=True),
    Column("run_id", String(64), nullable=False, index=True),
    Column("kind", String(20), nullable=False, index=True),  # add|remove|move|retime|enforce
    Column("curb_zone_id", String(64), index=True),  # the bay or candidate site concerned
    Column("area_id", String(100), index=True),
    Column("geometry", JSON, nullable=False),  # GeoJSON Point or LineString (a move), WGS84
    Column("reason", Text, nullable=False),
    Column("effect", JSON, nullable=False),  # expected deliveries served / double parking a day
    Column("evidence", String(20), nullable=False),  # observed | simulated | estimated
    Column("details", JSON),  # bays before/after, delivery hours, distance of a move
    Column("status", String(20), nullable=False, index=True),  # pending|accepted|rejected
    Column("reviewed_by", String(200)),  # the API key's name
    Column("reviewed_ms", BigInteger),
    Column("review_note", Text),
    Column("created_ms", BigInteger, nullable=False),
)
