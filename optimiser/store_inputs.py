"""Read an area's bays, sessions, lane zones and camera coverage from the database.

``read_area(url, area, start_ms, end_ms, tz=...)`` returns what the optimiser needs, read with
the store's own tables (``occupancy.storage.store``): the ``curb_zones`` rows of the
area (its ``area_id`` or ``area_name``), the sessions of the period at those bays or in
the lane zones beside them, those lane zones, and the hours each camera ran
(``runs``: ``footage_start_ms`` to ``footage_end_ms``, or until now for a live run).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import ColumnElement, func, or_, select

from occupancy.domain.period import Period, PeriodError
from occupancy.domain.period import parse_period as read_period
from occupancy.domain.states import COMMS_EVENTS
from occupancy.statistics.hourly import unwatched_intervals
from occupancy.storage.schema import curb_zones, events, lane_zones, runs, sessions
from occupancy.storage.store import Store, StoreError, now_ms
from optimiser.errors import OptimiserInputError
from optimiser.loaders import select_area

MS_PER_H = 3_600_000


@dataclass(frozen=True, eq=False)
class AreaInputs:
    """One area's rows. ``unwatched``: the intervals its cameras did not watch (outside
    their runs' footage, or with comms lost: ``occupancy.statistics.hourly.
    unwatched_intervals``, the statistics' own rule); ``run_devices``: the devices with
    runs; ``camera_hours``: hours each of those watched in the period."""

    area: str
    zones: pd.DataFrame
    sessions: pd.DataFrame
    lane_zones: pd.DataFrame
    camera_hours: dict[str, float]
    start_ms: int
    end_ms: int
    unwatched: pd.DataFrame | None = None
    run_devices: frozenset[str] = frozenset()


def parse_period(text: str | None, tz: str) -> Period:
    """``text`` read by the project's one period parser (``occupancy.domain.period``:
    ``all``, ``YYYY-MM-DD``, ``YYYY-MM``, ``START/END`` ISO 8601 interval, ``START..END``,
    ``last<N>d``) in ``tz``'s local time; None or "" means every session. Raises
    ``OptimiserInputError`` whose one line starts with ``period: ``."""
    try:
        return read_period(text, tz)
    except PeriodError as exc:
        raise OptimiserInputError(f"period: {exc.why}") from None


def _in_area(area: str) -> ColumnElement[bool]:
    key = area.strip().lower()
    return or_(func.lower(curb_zones.c.area_id) == key, func.lower(curb_zones.c.area_name) == key)


def _area_sessions(area: str) -> ColumnElement[bool]:
    """Sessions at the area's bays or in the lane zones beside them."""
    ids = select(curb_zones.c.curb_zone_id).where(_in_area(area)).scalar_subquery()
    lanes = select(lane_zones.c.lane_zone_id).where(lane_zones.c.curb_zone_id.in_(ids))
    return or_(
        sessions.c.curb_zone_id.in_(ids), sessions.c.lane_zone_id.in_(lanes.scalar_subquery())
    )


def period_bounds(store: Store | str, area: str, period: Period) -> tuple[int | None, int | None]:
    """``[start_ms, end_ms)`` of ``period`` for ``area``: its own bounds, (None, None) for
    ``all`` (every session), and for ``last<N>d`` the N days up to the end of the area's
    latest session. ``store``: an open ``Store`` or a SQLAlchemy URL. Raises
    ``OptimiserInputError`` (``period: ...``) when ``last<N>d`` finds no session of the
    area to anchor on."""
    if period.start_ms is not None or period.is_all:
        return period.start_ms, period.end_ms
    try:
        st = Store(store, must_exist=True) if isinstance(store, str) else store
    except StoreError as exc:
        raise OptimiserInputError(str(exc)) from None
    try:
        with st.engine.connect() as conn:
            first, last = conn.execute(
                select(func.min(sessions.c.start_ms), func.max(sessions.c.end_ms)).where(
                    _area_sessions(area)
                )
            ).one()
    finally:
        if isinstance(store, str):
            st.close()
    try:
        return period.resolve(first, last, nothing="no session of the area to end it on")
    except PeriodError as exc:
        raise OptimiserInputError(f"period: area {area!r}: {exc.why}") from None


@dataclass(frozen=True)
class AreaCheck:
    """What a job's area and period hold: bays, and sessions at them (or in the lane
    zones beside them) in the period."""

    area: str
    bays: int
    sessions: int
    start_ms: int | None
    end_ms: int | None


def check_area(
    store: Store,
    area: str,
    period: str | None,
    tz: str,
    declared_demand: bool,
    fixed_bay_ids: frozenset[str] = frozenset(),
) -> AreaCheck:
    """Refuse, before any work is queued, a job the optimiser could not run.

    Counts in SQL (no frame is loaded): the bays whose ``area_id`` or ``area_name``
    equals ``area`` (any case, as ``select_area``) and their sessions in ``period``.
    Raises ``OptimiserInputError`` whose one line starts with the field at fault:
    ``period: ...`` (not a period of ``parse_period``'s forms, or ending before it
    starts, or ``last<N>d`` with no session of the area to end on), ``area: ...``
    (the database holds no bay at all, or none in that area: the message lists some
    known area ids), or ``period: ...`` when the area has no session in the period and
    ``declared_demand`` is False (no declared layer to estimate demand from), or
    ``rules.fixed_bay_ids: ...`` naming the ``fixed_bay_ids`` that are no bay of the area
    (the runner would refuse them too, ``optimiser.runners``: better before queueing). The
    database URL never appears in a message (an API client reads them)."""
    wanted = parse_period(period, tz)
    in_area = _in_area(area)
    with store.engine.connect() as conn:
        bays = int(conn.execute(select(func.count()).where(in_area)).scalar_one())
        if bays == 0:
            total = int(conn.execute(select(func.count()).select_from(curb_zones)).scalar_one())
            if total == 0:
                raise OptimiserInputError(
                    "area: the database holds no bays (import an inventory first:"
                    " baywatch import-bays FILE)"
                )
            known = conn.execute(
                select(curb_zones.c.area_id)
                .where(curb_zones.c.area_id.is_not(None))
                .distinct()
                .order_by(curb_zones.c.area_id)
                .limit(8)
            ).scalars()
            raise OptimiserInputError(
                f"area: no bays in area {area!r} (area ids include: {', '.join(map(str, known))})"
            )
        if fixed_bay_ids:
            ids = set(conn.execute(select(curb_zones.c.curb_zone_id).where(in_area)).scalars())
            unknown = sorted(fixed_bay_ids - ids)
            if unknown:
                shown = ", ".join(repr(u) for u in unknown[:10])
                more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
                raise OptimiserInputError(
                    f"rules.fixed_bay_ids: no bay of area {area!r} has id {shown}{more}"
                    f" ({bays} bays in the area)"
                )
    start, end = period_bounds(store, area, wanted)
    q = select(func.count()).where(_area_sessions(area))
    if start is not None:
        q = q.where(sessions.c.start_ms >= start)
    if end is not None:
        q = q.where(sessions.c.start_ms < end)
    with store.engine.connect() as conn:
        n_sess = int(conn.execute(q).scalar_one())
    if n_sess == 0 and not declared_demand:
        span = f"the period {period}" if period else "the database"
        raise OptimiserInputError(
            f"period: area {area!r} has {bays} bays but no session in {span}, and no declared"
            " demand layer is configured to estimate from"
        )
    return AreaCheck(area, bays, n_sess, start, end)


def read_area(
    db: Store | str, area: str, start_ms: int | None, end_ms: int | None, *, tz: str
) -> AreaInputs:
    """The area's bays, the period's sessions at them and the cameras' hours.

    ``db``: an open ``Store`` or a SQLAlchemy URL; ``tz``: the IANA zone whose local hours
    make the coverage grid (the statistics' own). Raises ``OptimiserInputError`` naming
    the URL or the area when the database cannot be read or holds no bay in the area."""
    own = isinstance(db, str)
    try:
        store = Store(db, must_exist=True) if isinstance(db, str) else db
    except StoreError as exc:
        raise OptimiserInputError(str(exc)) from None
    url = store.url
    try:
        zones = select_area(store.zones_frame(), area, where=f"database {url}")
        ids = [str(z) for z in zones["curb_zone_id"]]
        with store.engine.connect() as conn:
            lanes = pd.read_sql(select(lane_zones).where(lane_zones.c.curb_zone_id.in_(ids)), conn)
            lane_ids = [str(v) for v in lanes["lane_zone_id"]]
            q = select(sessions).where(
                or_(sessions.c.curb_zone_id.in_(ids), sessions.c.lane_zone_id.in_(lane_ids))
            )
            if start_ms is not None:
                q = q.where(sessions.c.start_ms >= start_ms)
            if end_ms is not None:
                q = q.where(sessions.c.start_ms < end_ms)
            sess = pd.read_sql(q.order_by(sessions.c.start_ms), conn)
            devices = sorted({str(d) for d in zones["device_id"].dropna()})
            run_rows = pd.read_sql(select(runs).where(runs.c.device_id.in_(devices)), conn)
            q = select(events).where(
                events.c.data_source_device_id.in_(devices),
                events.c.event_type.in_([str(e) for e in COMMS_EVENTS]),
            )
            if end_ms is not None:
                q = q.where(events.c.event_time < end_ms)
            comms = pd.read_sql(q.order_by(events.c.event_time), conn)
    finally:
        if own:
            store.close()
    lo = int(sess["start_ms"].min()) if start_ms is None and len(sess) else start_ms or 0
    hi = int(sess["end_ms"].max()) if end_ms is None and len(sess) else end_ms or 0
    unwatched = unwatched_intervals(comms, run_rows, lo, hi, now_ms=min(hi, now_ms()), tz=tz)
    ran = frozenset(str(d) for d in run_rows["device_id"])
    hours = camera_hours(unwatched, ran, lo, hi)
    return AreaInputs(area, zones, sess, lanes, hours, lo, hi, unwatched, ran)


def camera_hours(
    unwatched: pd.DataFrame, devices: frozenset[str], start_ms: int, end_ms: int
) -> dict[str, float]:
    """Hours each of ``devices`` watched inside [start_ms, end_ms): the period less its
    ``unwatched`` intervals (merged per device, so overlaps count once)."""
    a = unwatched["start_ms"].clip(lower=start_ms, upper=end_ms)
    b = unwatched["end_ms"].clip(lower=start_ms, upper=end_ms)
    gone = unwatched.assign(ms=b - a)
    lost = gone.groupby("data_source_device_id")["ms"].sum()
    return {d: max(0, end_ms - start_ms - int(lost.get(d, 0))) / MS_PER_H for d in sorted(devices)}
