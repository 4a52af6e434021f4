"""The database: schema (every table), writes and the run ledger, reads, Alembic migrations."""
