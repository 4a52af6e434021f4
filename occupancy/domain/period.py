"""Periods as people write them: one parser for every command and the API's optimiser jobs.

``parse_period(text, tz)`` reads, in the local time of ``tz`` (an IANA zone):

==============================  =========================================================
``all`` (or empty)              every observation: from the first session or camera run
                                to the last (``Period.resolve`` anchors it on the data)
``YYYY-MM-DD``                  that local day
``YYYY-MM``                     that local month
``A/B``                         ISO 8601 interval: ``A`` and ``B`` are ISO dates or
                                date-times (local time unless they carry an offset); an end
                                written as a date includes that whole day
``A..B``                        the same as ``A/B`` (the statistics' older spelling, kept)
``last<N>d``                    the ``N`` days (1 <= N <= 36,500) that end with the latest
                                observation (its end rounded up to a local hour)
==============================  =========================================================

Times are epoch milliseconds, half-open ``[start_ms, end_ms)``. A period must start at or
after 1970-01-01 (CDS times), end after it starts and end by 2262-04-11 (the latest time
pandas' nanosecond timestamps hold, which the statistics use). A bad period raises
``PeriodError`` with one line naming the text and what is wrong; callers prefix it with
their own field (``--period``, ``period``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FORMS = "all, YYYY-MM-DD, YYYY-MM, A/B (ISO 8601 interval), A..B or last<N>d"
# A century: longer than any observation, short enough for 64-bit ms and pandas times.
MAX_PERIOD_DAYS = 36_500
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
# pandas.Timestamp.max (2262-04-11 23:47 UTC), rounded down to a day: the statistics
# turn period bounds into nanosecond timestamps.
MAX_END_MS = int(datetime(2262, 4, 11, tzinfo=UTC).timestamp() * 1000)


class PeriodError(ValueError):
    """A period that cannot be read. ``why`` says what is wrong in one line; ``str()``
    is ``"period '<text>': <why>"``."""

    def __init__(self, text: str, why: str) -> None:
        super().__init__(f"period {text!r}: {why}")
        self.text = text
        self.why = why


@dataclass(frozen=True, slots=True)
class Period:
    """A parsed period: absolute bounds (epoch ms, half-open) or a relative form.

    ``start_ms``/``end_ms`` are None for ``all`` and ``last<N>d`` (``last_days`` set);
    ``resolve`` turns those into bounds once the data's span is known."""

    text: str
    tz: str
    start_ms: int | None = None
    end_ms: int | None = None
    last_days: int | None = None

    @property
    def is_all(self) -> bool:
        """True for ``all``: no bound at all."""
        return self.start_ms is None and self.last_days is None

    def resolve(
        self,
        first_ms: int | None,
        last_ms: int | None,
        *,
        nothing: str = "nothing observed to anchor it on (no session, no camera run)",
    ) -> tuple[int, int]:
        """``[start_ms, end_ms)`` of the period given the data's span: ``first_ms`` the
        start of the earliest observation, ``last_ms`` the end of the latest (None when
        nothing is stored). ``all`` covers the span widened to whole local hours;
        ``last<N>d`` the N days up to ``last_ms`` rounded up to a local hour. Raises
        ``PeriodError`` with the reason ``nothing`` when a relative form meets no data."""
        if self.start_ms is not None and self.end_ms is not None:
            return self.start_ms, self.end_ms
        if first_ms is None or last_ms is None:
            raise PeriodError(self.text, nothing)
        end = ceil_local_hour(max(last_ms, first_ms + 1), self.tz)
        if self.last_days is not None:
            return end - self.last_days * DAY_MS, end
        return floor_local_hour(first_ms, self.tz), end


def floor_local_hour(ms: int, tz: str) -> int:
    """Epoch ms of the start of the local hour of ``tz`` holding ``ms`` (DST-aware)."""
    off = datetime.fromtimestamp(ms / 1000, ZoneInfo(tz)).utcoffset()
    off_ms = 0 if off is None else int(off.total_seconds() * 1000)
    return ms - (ms + off_ms) % HOUR_MS


def ceil_local_hour(ms: int, tz: str) -> int:
    """Epoch ms of the first local hour start of ``tz`` at or after ``ms``."""
    f = floor_local_hour(ms, tz)
    return f if f == ms else f + HOUR_MS


def _ms(t: datetime) -> int:
    return round(t.timestamp() * 1000)


def _day_start(d: date, zone: ZoneInfo) -> int:
    return _ms(datetime.combine(d, time(0), zone))


def _bound(text: str, part: str, zone: ZoneInfo, *, end: bool) -> int:
    """One end of an interval: a date (its local midnight; the next one for an end) or
    an ISO date-time (local unless it carries an offset)."""
    p = part.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", p):
            d = date.fromisoformat(p)
            return _day_start(d + timedelta(days=1) if end else d, zone)
        t = datetime.fromisoformat(p)
    except OverflowError:
        raise PeriodError(text, "out of range (1970-01-01 to 2262-04-11)") from None
    except ValueError:
        raise PeriodError(text, f"{p!r} is not an ISO date or date-time") from None
    return _ms(t if t.tzinfo else t.replace(tzinfo=zone))


def parse_period(text: str | None, tz: str) -> Period:
    """Read a period in one of the forms of this module's docstring, in ``tz``'s local
    time. Raises ``PeriodError`` (one line naming the text and the fault) for anything
    else, for an unknown ``tz``, and for a period that ends before it starts, starts
    before 1970 or ends after 2262-04-11."""
    raw = "" if text is None else text
    p = raw.strip()
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise PeriodError(raw, f"unknown time zone {tz!r}") from None
    if p in ("", "all"):
        return Period(raw, tz)
    m = re.fullmatch(r"last(\d+)d", p)
    if m:
        days = int(m.group(1))
        if not 1 <= days <= MAX_PERIOD_DAYS:
            raise PeriodError(raw, f"last<N>d needs 1 <= N <= {MAX_PERIOD_DAYS}")
        return Period(raw, tz, last_days=days)
    try:
        if re.fullmatch(r"\d{4}-\d{2}", p):
            first = date.fromisoformat(p + "-01")
            nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
            start, end = _day_start(first, zone), _day_start(nxt, zone)
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", p):
            d = date.fromisoformat(p)
            start, end = _day_start(d, zone), _day_start(d + timedelta(days=1), zone)
        elif "/" in p or ".." in p:
            a, b = p.split("/", 1) if "/" in p else p.split("..", 1)
            if not a.strip() or not b.strip() or "/" in b or ".." in b:
                raise PeriodError(raw, f"an interval is START/END (or START..END); use {FORMS}")
            start = _bound(raw, a, zone, end=False)
            end = _bound(raw, b, zone, end=True)
        else:
            raise PeriodError(raw, f"not a period; use {FORMS}")
    except PeriodError:
        raise
    except OverflowError:
        raise PeriodError(raw, "out of range (1970-01-01 to 2262-04-11)") from None
    except ValueError:
        raise PeriodError(raw, f"not a valid date; use {FORMS}") from None
    if start < 0:
        raise PeriodError(raw, "CDS times start at 1970-01-01")
    if end > MAX_END_MS:
        raise PeriodError(raw, "times after 2262-04-11 are not supported")
    if end <= start:
        raise PeriodError(raw, "it ends before it starts")
    return Period(raw, tz, start, end)
