"""Storage of zones, events, sessions and analysis runs, through SQLAlchemy Core.

SQLite (embedded, WAL) is the default; any SQLAlchemy URL works. Writes are
idempotent: every row has a deterministic id and is upserted, so re-analysing the
same footage never duplicates anything, and each batch is one transaction, so an
interrupted run leaves whole batches only.

Rows produced by an analysis carry ``run_id`` and ``attempt``. A run that
completes deletes the rows its earlier attempts produced and this one did not
(``finish_run``), so re-analysing with other settings replaces, not adds.

A running attempt holds a lease on its run (``runs.lease_until_ms``, renewed by every
``write_batch`` with progress): while it holds it, a second attempt at the same run is
refused (``RunBusyError``). An attempt whose lease lapsed (a crashed process) can be
taken over; from then on it writes nothing and deletes nothing, so cleanup never
removes a newer attempt's rows.

A new attempt never shrinks what earlier attempts cover: their rows stay until an
attempt completes, so the run's ``footage_end_ms`` (the footage the camera watched, which
statistics count as observed hours) only grows until then, and a complete attempt's
status stands while a later attempt runs or after it stops early (``COMPLETE_KEY``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    Table,
    case,
    create_engine,
    delete,
    event,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError
from sqlalchemy.pool import ConnectionPoolEntry

from occupancy.domain.curb_zone import CurbZoneRecord
from occupancy.domain.lazy import lazy_import
from occupancy.domain.records import CurbEvent, OccupancySession
from occupancy.domain.states import COMMS_EVENTS, PARK_EVENTS, RunStatus
from occupancy.storage.schema import (
    curb_zones,
    events,
    lane_zones,
    runs,
    sessions,
)

if TYPE_CHECKING:
    import pandas as pd
else:  # the frames are for statistics and the API; writers and CLI errors need no pandas
    pd = lazy_import("pandas")

_BATCH_ROWS = 500


class StoreError(RuntimeError):
    """The database cannot be opened or written; the message names the URL."""


class RunBusyError(StoreError):
    """Another attempt holds this run's lease (it is running now); one line names it."""


# The key, in a running or stopped attempt's ``settings``, of the complete attempt whose
# rows still stand ({"attempt", "frames_analysed", "footage_end_ms"}): an attempt that stops
# early leaves the run complete, with that attempt's figures (re-running a finished analysis
# and pressing Ctrl-C must not turn its observed hours into unobserved ones).
COMPLETE_KEY = "complete_attempt"


def _furthest(end_ms: int | None) -> ColumnElement[Any]:
    """The run's stored footage end or ``end_ms``, whichever is later (NULL counts as none)."""
    if end_ms is None:
        return runs.c.footage_end_ms
    return case((runs.c.footage_end_ms > end_ms, runs.c.footage_end_ms), else_=end_ms)


# How long a running attempt holds its run without renewing it. Analyses renew it with
# every progress write (``occupancy.runtime.analysis`` writes at least every
# ``LEASE_RENEW_S``), so only a process that died leaves a lease to lapse.
LEASE_S = 60.0
LEASE_RENEW_S = 10.0


def masked_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (also for URLs SQLAlchemy rejects)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One row of the ``runs`` ledger: an analysis attempt of one source by one camera, its
    ``RunStatus``, the footage's first and last analysed frame times (ms since the epoch)
    and how many frames it analysed.
    """

    run_id: str
    device_id: str
    source: str
    live: bool
    status: RunStatus
    attempt: int
    footage_start_ms: int | None
    footage_end_ms: int | None
    frames_analysed: int | None


def now_ms() -> int:
    """The current time, integer ms since the Unix epoch (UTC)."""
    return int(time.time() * 1000)


def _sqlite_pragmas(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the API read while an analysis writes; NORMAL sync is safe with WAL.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _chunks(rows: Sequence[Mapping[str, Any]], n: int = _BATCH_ROWS) -> Iterator[list[Any]]:
    for i in range(0, len(rows), n):
        yield list(rows[i : i + n])


def missing_sqlite_file(url: str) -> str | None:
    """The file a SQLite ``url`` names when it does not exist yet (opening it would make an
    empty database), else None: another backend, an in-memory database, an invalid URL (the
    store reports that one) or a file that is there."""
    try:
        u = make_url(url)
    except ArgumentError:
        return None
    if u.get_backend_name() != "sqlite" or u.database in (None, "", ":memory:"):
        return None
    return None if Path(u.database).is_file() else u.database


class Store:
    """The one gateway to the database; create one per process."""

    def __init__(self, url: str, *, must_exist: bool = False) -> None:
        """Open (and migrate) the database at ``url``.

        ``must_exist``: refuse a SQLite file that does not exist yet rather than create
        an empty database (read commands: a mistyped path is a mistake, not a new
        database). Raises ``StoreError``, whose message never shows a password.
        """
        self.url = url
        self.lease_s = LEASE_S  # how long an attempt holds its run between writes
        try:
            self.engine: Engine = create_engine(url, future=True)
        except (ArgumentError, ImportError) as exc:
            why = str(exc).replace(url, masked_url(url))
            raise StoreError(f"invalid database URL {masked_url(url)!r}: {why}") from None
        shown = self.engine.url.render_as_string(hide_password=True)
        if self.engine.dialect.name == "sqlite":
            if must_exist and missing_sqlite_file(url) is not None:
                raise StoreError(f"no database at {shown!r} (check --db or BAYWATCH_DB)")
            event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            # Alembic is the one way the schema comes to be: an empty database gets every
            # revision, an older one the revisions it lacks (see occupancy.storage.migrations).
            from occupancy.storage.migrations import ensure_current

            ensure_current(self.engine)
        except DBAPIError as exc:  # cannot connect, or a file that is not a database
            why = " ".join(str(exc.orig).split())  # drivers' messages span lines
            raise StoreError(f"cannot open database {shown!r}: {why}") from None

    @property
    def dialect(self) -> str:
        """The SQLAlchemy dialect name: ``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Close every pooled connection (the store is unusable after)."""
        self.engine.dispose()

    # -- generic upsert --------------------------------------------------------------

    def _upsert(
        self,
        conn: Connection,
        table: Table,
        rows: Sequence[Mapping[str, Any]],
        *,
        update_existing: bool = True,
    ) -> None:
        if not rows:
            return
        keys = [c.name for c in table.primary_key.columns]
        # One row per key, the last one winning: what SQLite does with duplicates in one
        # statement, and what PostgreSQL refuses to do ("cannot affect row a second time").
        rows = list({tuple(r[k] for k in keys): r for r in rows}.values())
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        for chunk in _chunks(rows):
            stmt = dialect_insert(table).values(chunk)
            if update_existing:
                cols = {c: stmt.excluded[c] for c in chunk[0] if c not in keys}
                stmt = stmt.on_conflict_do_update(index_elements=keys, set_=cols)
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=keys)
            conn.execute(stmt)

    # -- zones -----------------------------------------------------------------------

    def _upsert_stamped(self, table: Table, zones: Iterable[Mapping[str, Any]]) -> int:
        rows = [dict(z) for z in zones]
        stamp = now_ms()
        for r in rows:
            r.setdefault("last_updated_ms", stamp)
        with self.engine.begin() as conn:
            self._upsert(conn, table, rows)
        return len(rows)

    def upsert_zones(self, zones: Iterable[CurbZoneRecord]) -> int:
        """Insert or update bays; a bay keeps the ``published_ms`` it was first stored with.

        CDS ``start_date`` (derived from ``published_ms``) "MUST never change for a
        given id", so a re-import updates everything but that: a new bay gets the
        given ``published_ms`` or now. A record without ``last_updated_ms`` is stamped with
        the write time (ms since the epoch). One transaction: on error nothing is written.
        Returns how many bays were written.
        """
        rows = [z.row() for z in zones]
        ids = [r["curb_zone_id"] for r in rows]
        first: dict[str, int] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                q = select(curb_zones.c.curb_zone_id, curb_zones.c.published_ms).where(
                    curb_zones.c.curb_zone_id.in_(chunk), curb_zones.c.published_ms.is_not(None)
                )
                first.update({str(z): int(p) for z, p in conn.execute(q)})
        stamp = now_ms()
        for r in rows:
            known = first.get(r["curb_zone_id"])
            r["published_ms"] = known if known is not None else (r.get("published_ms") or stamp)
        return self._upsert_stamped(curb_zones, rows)

    def upsert_lane_zones(self, zones: Iterable[Mapping[str, Any]]) -> int:
        """Insert or replace ``lane_zones`` rows (from ``zone_rows``) by ``lane_zone_id``,
        stamping ``last_updated_ms`` where missing; returns how many.
        """
        return self._upsert_stamped(lane_zones, zones)

    # -- runs ------------------------------------------------------------------------

    def begin_run(
        self,
        run_id: str,
        *,
        device_id: str,
        source: str,
        live: bool,
        footage_start_ms: int | None,
        settings: Mapping[str, Any],
    ) -> int:
        """Register an attempt at ``run_id``, take its lease and return its attempt number.

        Raises RunBusyError while another attempt at the same run holds the lease. The
        take-over is a compare-and-swap on ``attempt``, so of two processes starting at
        once exactly one wins, on SQLite and PostgreSQL alike.
        """
        lease_ms = round(self.lease_s * 1000)
        for _ in range(3):  # a lost race to insert the first attempt is retried as a take-over
            now = now_ms()
            row = {
                "run_id": run_id,
                "device_id": device_id,
                "source": source,
                "live": live,
                "status": RunStatus.RUNNING,
                "attempt": 1,
                "footage_start_ms": footage_start_ms,
                "footage_end_ms": None,
                "frames_analysed": 0,
                "settings": dict(settings),
                "error": None,
                "started_ms": now,
                "finished_ms": None,
                "lease_until_ms": now + lease_ms,
            }
            with self.engine.begin() as conn:
                prev = (
                    conn.execute(
                        select(
                            runs.c.attempt,
                            runs.c.status,
                            runs.c.lease_until_ms,
                            runs.c.footage_end_ms,
                            runs.c.frames_analysed,
                            runs.c.settings,
                        ).where(runs.c.run_id == run_id)
                    )
                    .mappings()
                    .first()
                )
                if prev is None:
                    try:
                        conn.execute(runs.insert().values(**row))
                    except IntegrityError:
                        continue
                    return 1
                held = prev["status"] == RunStatus.RUNNING and (prev["lease_until_ms"] or 0) > now
                if held:
                    raise RunBusyError(
                        f"run {run_id[:12]} ({source}) is being analysed by another process "
                        f"(attempt {prev['attempt']}, lease for {(prev['lease_until_ms'] - now) / 1000:.0f} s "
                        "more): wait for it to finish, then run again"
                    )
                attempt = int(prev["attempt"]) + 1
                row["attempt"] = attempt
                # Earlier attempts' rows stay until this one completes: so does their coverage.
                row["footage_end_ms"] = prev["footage_end_ms"]
                before = dict(prev["settings"] or {})
                standing = before.pop(COMPLETE_KEY, None)
                if standing is None and prev["status"] == RunStatus.COMPLETE:
                    standing = {
                        "attempt": int(prev["attempt"]),
                        "frames_analysed": prev["frames_analysed"],
                        "footage_end_ms": prev["footage_end_ms"],
                        "settings": before,
                    }
                if standing is not None:
                    row["settings"] = {**settings, COMPLETE_KEY: standing}
                done = conn.execute(
                    update(runs)
                    .where(runs.c.run_id == run_id, runs.c.attempt == prev["attempt"])
                    .values(**{k: v for k, v in row.items() if k != "run_id"})
                )
                if done.rowcount == 1:
                    return attempt
        raise RunBusyError(
            f"run {run_id[:12]} ({source}): another attempt is starting now; run again"
        )

    def get_run(self, run_id: str) -> RunRecord | None:
        """The ledger row of ``run_id``, or None if it never ran."""
        with self.engine.connect() as conn:
            r = conn.execute(select(runs).where(runs.c.run_id == run_id)).mappings().first()
        if r is None:
            return None
        return RunRecord(
            run_id=r["run_id"],
            device_id=r["device_id"],
            source=r["source"],
            live=bool(r["live"]),
            status=RunStatus(r["status"]),
            attempt=int(r["attempt"]),
            footage_start_ms=r["footage_start_ms"],
            footage_end_ms=r["footage_end_ms"],
            frames_analysed=r["frames_analysed"],
        )

    def finish_run(
        self,
        run_id: str,
        attempt: int,
        *,
        status: RunStatus,
        footage_end_ms: int | None,
        frames_analysed: int,
        error: str | None = None,
    ) -> None:
        """Close an attempt; a complete one drops rows only earlier attempts produced.

        An attempt that no longer holds its run (another took it over after its lease
        lapsed) changes nothing: the newer attempt's rows and record are left alone. An
        attempt that did not complete shrinks nothing: the run keeps the furthest footage
        end stored, and if a complete attempt's rows still stand (``COMPLETE_KEY``), the
        run stays complete with that attempt's frame count, and ``error`` says this
        attempt stopped.
        """
        complete = RunStatus(status) is RunStatus.COMPLETE
        with self.engine.begin() as conn:
            row = (
                conn.execute(
                    select(runs.c.settings).where(
                        runs.c.run_id == run_id, runs.c.attempt == attempt
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                return
            settings = dict(row["settings"] or {})
            standing = settings.pop(COMPLETE_KEY, None)
            values: dict[str, Any] = {
                "status": status,
                "footage_end_ms": footage_end_ms if complete else _furthest(footage_end_ms),
                "frames_analysed": frames_analysed,
                "error": error,
                "finished_ms": now_ms(),
                "lease_until_ms": None,
            }
            if complete:
                values["settings"] = settings  # its own rows now stand
            elif standing is not None:
                values["status"] = RunStatus.COMPLETE
                values["frames_analysed"] = standing.get("frames_analysed")
                values["error"] = (
                    f"attempt {attempt} {RunStatus(status)}"
                    + (f" ({error})" if error else "")
                    + f"; the complete attempt {standing.get('attempt')}'s results stand"
                )
            owned = conn.execute(
                update(runs)
                .where(runs.c.run_id == run_id, runs.c.attempt == attempt)
                .values(**values)
            )
            if owned.rowcount != 1:
                return
            if complete:
                for table in (events, sessions):
                    conn.execute(
                        delete(table).where(table.c.run_id == run_id, table.c.attempt < attempt)
                    )

    # -- events and sessions ---------------------------------------------------------

    def write_batch(
        self,
        new_events: Sequence[CurbEvent],
        new_sessions: Sequence[OccupancySession],
        *,
        attempt: int | None = None,
        run_progress: tuple[str, int, int] | None = None,
    ) -> None:
        """Write events and sessions in one transaction (idempotent by id).

        ``run_progress`` = (run_id, footage_end_ms, frames_analysed) is saved in the
        same transaction so progress never runs ahead of what is stored.
        """
        stamp = now_ms()
        ev_rows = [event_row(e, stamp, attempt) for e in new_events]
        se_rows = [session_row(s, attempt) for s in new_sessions]
        with self.engine.begin() as conn:
            if run_progress is not None:
                # Progress renews the lease, and only the attempt that holds the run writes.
                run_id, end_ms, frames = run_progress
                mine = runs.c.run_id == run_id
                if attempt is not None:
                    mine = mine & (runs.c.attempt == attempt)
                done = conn.execute(
                    update(runs)
                    .where(mine)
                    .values(
                        footage_end_ms=_furthest(end_ms),
                        frames_analysed=frames,
                        lease_until_ms=now_ms() + round(self.lease_s * 1000),
                    )
                )
                if done.rowcount != 1:
                    raise RunBusyError(
                        f"run {run_id[:12]}: attempt {attempt} was taken over by a newer "
                        "attempt after its lease lapsed; this one stops without writing"
                    )
            self._upsert(conn, events, ev_rows)
            self._upsert(conn, sessions, se_rows)

    def write_sessions_frame(self, frame: pd.DataFrame, *, chunk_rows: int = 20_000) -> int:
        """Upsert a DataFrame of sessions (``sessions`` columns), e.g. simulated ones, in bulk.

        Uses executemany in chunks (one transaction per chunk), far faster than
        building one statement per batch of 500 rows. Returns rows written.
        """
        written = 0
        for i in range(0, len(frame), chunk_rows):
            with self.engine.begin() as conn:
                written += self._write_sessions(conn, frame.iloc[i : i + chunk_rows])
        return written

    def _write_sessions(self, conn: Connection, frame: pd.DataFrame) -> int:
        cols = [c.name for c in sessions.columns if c.name in frame.columns]
        missing = {"session_id", "kind", "data_source_device_id", "start_ms", "end_ms"} - set(cols)
        if missing:
            raise StoreError(f"sessions frame lacks column(s) {', '.join(sorted(missing))}")
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        stmt = dialect_insert(sessions)
        stmt = stmt.on_conflict_do_update(
            index_elements=["session_id"],
            set_={c: stmt.excluded[c] for c in cols if c != "session_id"},
        )
        part = frame[cols]
        rows = part.astype(object).where(part.notna(), None).to_dict("records")
        if rows:
            conn.execute(stmt, rows)
        return len(rows)

    def replace_simulated(
        self,
        curb_zone_ids: Iterable[str],
        frame: pd.DataFrame,
        event_rows: Sequence[Mapping[str, Any]] = (),
        *,
        chunk_rows: int = 20_000,
    ) -> int:
        """Replace the simulated sessions and events of the bays ``curb_zone_ids`` by
        ``frame`` (``sessions`` columns) and ``event_rows``, in one transaction: running
        a simulation again leaves one simulation's rows, never two stacked, and a failure
        leaves the previous ones. Observed rows are never touched. Returns sessions written."""
        ids = sorted({str(z) for z in curb_zone_ids})
        written = 0
        with self.engine.begin() as conn:
            for i in range(0, len(ids), 500):  # within every database's bound-parameter limit
                for table in (sessions, events):
                    conn.execute(
                        delete(table).where(
                            table.c.data_source_type == "simulated",
                            table.c.curb_zone_id.in_(ids[i : i + 500]),
                        )
                    )
            for i in range(0, len(frame), chunk_rows):
                written += self._write_sessions(conn, frame.iloc[i : i + chunk_rows])
            self._upsert(conn, events, list(event_rows))
        return written

    def delete_sessions(self, *, data_source_type: str) -> int:
        """Delete every session of one data source type (e.g. "simulated"); returns how many."""
        with self.engine.begin() as conn:
            res = conn.execute(
                delete(sessions).where(sessions.c.data_source_type == data_source_type)
            )
        return int(res.rowcount or 0)

    def _ingest_new(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert rows whose id is not stored yet, leave the others; returns how many were new."""
        if not rows:
            return 0
        key = next(iter(table.primary_key.columns))
        ids = [r[key.name] for r in rows]
        with self.engine.begin() as conn:
            existing = set(conn.execute(select(key).where(key.in_(ids))).scalars().all())
            self._upsert(conn, table, list(rows), update_existing=False)
        return len(set(ids) - existing)

    def ingest_events(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Store events pushed by an edge analyser; existing ``event_id`` are left as is."""
        return self._ingest_new(events, rows)

    def ingest_sessions(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Store sessions pushed by an edge analyser; existing ``session_id`` are left as is."""
        return self._ingest_new(sessions, rows)

    # -- reading ---------------------------------------------------------------------

    def latest_state_events(self) -> list[dict[str, Any]]:
        """The latest park event of each curb zone and the latest comms event of each device.

        Park events of double parking (with a ``lane_zone_id``) are about the lane beside
        the bay, not the bay: they are left out.

        Rows have ``event_type``, ``event_time``, ``curb_zone_id``, ``data_source_device_id``,
        ``event_publication_time`` and ``data_source_type``; this is what live bay state is derived from.
        """
        park = [str(e) for e in PARK_EVENTS]
        comms = [str(e) for e in COMMS_EVENTS]
        cols = (
            events.c.event_type,
            events.c.event_time,
            events.c.curb_zone_id,
            events.c.data_source_device_id,
            events.c.event_publication_time,
            events.c.data_source_type,
        )
        last_park = (
            select(events.c.curb_zone_id, func.max(events.c.event_time).label("t"))
            .where(
                events.c.event_type.in_(park),
                events.c.curb_zone_id.is_not(None),
                events.c.lane_zone_id.is_(None),
            )
            .group_by(events.c.curb_zone_id)
            .subquery()
        )
        last_comms = (
            select(events.c.data_source_device_id, func.max(events.c.event_time).label("t"))
            .where(events.c.event_type.in_(comms))
            .group_by(events.c.data_source_device_id)
            .subquery()
        )
        q_park = select(*cols).join(
            last_park,
            (events.c.curb_zone_id == last_park.c.curb_zone_id)
            & (events.c.event_time == last_park.c.t),
        )
        q_comms = select(*cols).join(
            last_comms,
            (events.c.data_source_device_id == last_comms.c.data_source_device_id)
            & (events.c.event_time == last_comms.c.t),
        )
        with self.engine.connect() as conn:
            rows = [
                dict(r)
                for r in conn.execute(
                    q_park.where(events.c.event_type.in_(park), events.c.lane_zone_id.is_(None))
                ).mappings()
            ]
            rows += [
                dict(r)
                for r in conn.execute(q_comms.where(events.c.event_type.in_(comms))).mappings()
            ]
        return rows

    def events_published_since(
        self, published_ms: int, limit: int = 10_000
    ) -> list[dict[str, Any]]:
        """Events that became available at or after ``published_ms``, oldest first."""
        q = (
            select(events)
            .where(events.c.event_publication_time >= published_ms)
            .order_by(events.c.event_publication_time, events.c.event_time)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def sessions_frame(
        self,
        *,
        run_id: str | None = None,
        device_id: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> pd.DataFrame:
        """Sessions as a DataFrame (one row per session), overlapping [start_ms, end_ms)."""
        q = select(sessions)
        if run_id is not None:
            q = q.where(sessions.c.run_id == run_id)
        if device_id is not None:
            q = q.where(sessions.c.data_source_device_id == device_id)
        if start_ms is not None:
            q = q.where(sessions.c.end_ms > start_ms)
        if end_ms is not None:
            q = q.where(sessions.c.start_ms < end_ms)
        q = q.order_by(sessions.c.start_ms, sessions.c.session_id)
        with self.engine.connect() as conn:
            return pd.read_sql(q, conn)

    def events_frame(
        self,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        device_id: str | None = None,
        event_types: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Events as a DataFrame (one row per event, the ``events`` columns), with ``event_time``
        in ``[start_ms, end_ms)`` (ms since the epoch; None: unbounded), of one device and of
        some ``event_types`` when given, oldest first.
        """
        q = select(events)
        if start_ms is not None:
            q = q.where(events.c.event_time >= start_ms)
        if end_ms is not None:
            q = q.where(events.c.event_time < end_ms)
        if device_id is not None:
            q = q.where(events.c.data_source_device_id == device_id)
        if event_types:
            q = q.where(events.c.event_type.in_(list(event_types)))
        q = q.order_by(events.c.event_time, events.c.event_id)
        with self.engine.connect() as conn:
            return pd.read_sql(q, conn)

    def zones_signature(self) -> tuple[int, int]:
        """(number of curb zones, newest ``last_updated_ms``): changes when zones change."""
        q = select(func.count(), func.coalesce(func.max(curb_zones.c.last_updated_ms), 0))
        with self.engine.connect() as conn:
            n, t = conn.execute(q).one()
        return int(n), int(t)

    def runs_frame(self) -> pd.DataFrame:
        """Every analysis run: ``device_id``, ``footage_start_ms``, ``footage_end_ms``,
        ``status`` and ``live`` (what coverage, the hours a camera watched, is made of)."""
        q = select(
            runs.c.device_id,
            runs.c.footage_start_ms,
            runs.c.footage_end_ms,
            runs.c.status,
            runs.c.live,
        ).order_by(runs.c.device_id, runs.c.footage_start_ms)
        with self.engine.connect() as conn:
            return pd.read_sql(q, conn)

    def zones_frame(self, *, device_id: str | None = None) -> pd.DataFrame:
        """Curb zones as a DataFrame (one row per ``curb_zones`` row, ordered by id), of one
        camera when ``device_id`` is given; ``CurbZoneRecord.from_row`` reads its records.
        """
        q = select(curb_zones)
        if device_id is not None:
            q = q.where(curb_zones.c.device_id == device_id)
        with self.engine.connect() as conn:
            return pd.read_sql(q.order_by(curb_zones.c.curb_zone_id), conn)

    # -- schema migrations -------------------------------------------------------------

    def migrate(self, revision: str = "head") -> str:
        """Bring the schema to ``revision`` with Alembic; returns the revision now current."""
        from occupancy.storage.migrations import upgrade

        return upgrade(self.engine, revision)

    def lane_zones_frame(self, *, device_id: str | None = None) -> pd.DataFrame:
        """Lane zones as a DataFrame (one row per ``lane_zones`` row, ordered by id), of one
        camera when ``device_id`` is given.
        """
        q = select(lane_zones)
        if device_id is not None:
            q = q.where(lane_zones.c.device_id == device_id)
        with self.engine.connect() as conn:
            return pd.read_sql(q.order_by(lane_zones.c.lane_zone_id), conn)


def event_row(e: CurbEvent, published_ms: int, attempt: int | None) -> dict[str, Any]:
    """The ``events`` row of a CDS event: enums as their strings, ``event_publication_time``
    = ``published_ms``, ``attempt`` the run attempt that wrote it.
    """
    return {
        "event_id": e.event_id,
        "event_type": str(e.event_type),
        "event_time": e.event_time,
        "event_publication_time": published_ms,
        "data_source_device_id": e.data_source_device_id,
        "data_source_type": str(e.data_source_type),
        "curb_zone_id": e.curb_zone_id,
        "lane_zone_id": e.lane_zone_id,
        "event_session_id": e.event_session_id,
        "lon": e.lon,
        "lat": e.lat,
        "vehicle_type": None if e.vehicle_type is None else str(e.vehicle_type),
        "vehicle_length": e.vehicle_length,
        "vehicle_type_confidence": e.vehicle_type_confidence,
        "vehicle_blocked_lane_types": [str(t) for t in e.vehicle_blocked_lane_types],
        "run_id": e.run_id,
        "attempt": attempt,
    }


def session_row(s: OccupancySession, attempt: int | None) -> dict[str, Any]:
    """The ``sessions`` row of a session: enums as strings, ``dwell_s`` and ``overstay``
    computed, ``attempt`` the run attempt that wrote it.
    """
    return {
        "session_id": s.session_id,
        "kind": str(s.kind),
        "data_source_device_id": s.data_source_device_id,
        "data_source_type": str(s.data_source_type),
        "curb_zone_id": s.curb_zone_id,
        "lane_zone_id": s.lane_zone_id,
        "start_ms": s.start_ms,
        "end_ms": s.end_ms,
        "dwell_s": s.dwell_s,
        "vehicle_type": str(s.vehicle_type),
        "vehicle_length": s.vehicle_length,
        "lon": s.lon,
        "lat": s.lat,
        "max_stay_min": s.max_stay_min,
        "overstay": s.overstay,
        "blocked_lane_types": [str(t) for t in s.blocked_lane_types],
        "start_censored": s.start_censored,
        "end_censored": s.end_censored,
        "run_id": s.run_id,
        "attempt": attempt,
    }


def dumps(obj: Any) -> str:
    """Compact JSON text (no spaces, UTF-8 kept) for JSON columns."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
