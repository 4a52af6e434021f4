#!/usr/bin/env bash
# Installs and starts what the scale tests need, from Debian's packages, idempotently:
# PostgreSQL 15 with PostGIS 3 (a real server database for the storage and API tests)
# and FFmpeg (serves a clip as a live stream on loopback). Prints the test database URL
# as its last line. Needs root; elsewhere it says why and prints nothing.
set -euo pipefail
PGVER=15
DB=baywatch_test
ROLE=baywatch
PASS=baywatch

if [ "$(id -u)" != 0 ]; then
    echo "services.sh: not root, skipping PostgreSQL/FFmpeg setup (PostgreSQL tests will skip)" >&2
    exit 0
fi
need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
dpkg -s "postgresql-$PGVER-postgis-3" >/dev/null 2>&1 || need+=(postgresql "postgresql-$PGVER-postgis-3")
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! pg_lsclusters -h | grep -q "^$PGVER main"; then
    pg_createcluster "$PGVER" main >/dev/null
fi
if ! pg_lsclusters -h | grep -q "^$PGVER main .* online"; then
    pg_ctlcluster "$PGVER" main start
fi
PORT=$(pg_lsclusters -h | awk -v v="$PGVER" '$1==v && $2=="main" {print $3}')
psql_su() { su postgres -c "PGOPTIONS=--client-min-messages=warning psql -p $PORT -v ON_ERROR_STOP=1 -qtAX $*"; }
for _ in $(seq 30); do psql_su "-c 'select 1'" >/dev/null 2>&1 && break; sleep 0.5; done
if [ "$(psql_su "-c \"select 1 from pg_roles where rolname='$ROLE'\"")" != 1 ]; then
    # CREATEDB: each test gets a fresh database of its own.
    psql_su "-c \"create role $ROLE login createdb password '$PASS'\""
fi
if [ "$(psql_su "-c \"select 1 from pg_database where datname='$DB'\"")" != 1 ]; then
    psql_su "-c 'create database $DB owner $ROLE'"
fi
psql_su "-d $DB -c 'create extension if not exists postgis'"
# Fresh test databases are copied from template1: give it PostGIS too.
psql_su "-d template1 -c 'create extension if not exists postgis'"
echo "postgresql+psycopg://$ROLE:$PASS@127.0.0.1:$PORT/$DB"
