"""One period syntax for every command and the API's optimiser jobs (occupancy.domain.period).

Before: ``optimise --period A/B`` and ``stats --period A..B``, each refusing the other's.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from occupancy.domain.period import MAX_PERIOD_DAYS, PeriodError, parse_period

PARIS = "Europe/Paris"


def ms(local: str, tz: str = PARIS) -> int:
    return int(datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(tz)).timestamp() * 1000)


H = 3_600_000


def test_interval_spellings_agree_and_end_dates_are_included() -> None:
    iso = parse_period("2026-03-28/2026-03-29", PARIS)
    dots = parse_period("2026-03-28..2026-03-29", PARIS)
    assert (iso.start_ms, iso.end_ms) == (dots.start_ms, dots.end_ms)
    # The spring-forward Sunday has 23 hours: 24 + 23.
    assert iso.start_ms == ms("2026-03-28T00:00") and iso.end_ms - iso.start_ms == 47 * H
    day = parse_period("2026-10-25", PARIS)  # fall back: 25 hours
    assert day.end_ms - day.start_ms == 25 * H
    month = parse_period("2026-12", PARIS)
    assert (month.start_ms, month.end_ms) == (ms("2026-12-01T00:00"), ms("2027-01-01T00:00"))
    # Date-times: local unless they carry an offset; an end date-time is exclusive.
    t = parse_period("2026-03-02T08:00/2026-03-02T12:00+01:00", PARIS)
    assert (t.start_ms, t.end_ms) == (ms("2026-03-02T08:00"), ms("2026-03-02T12:00"))
    t = parse_period(" 2026-03-02T08:00 .. 2026-03-02T09:30 ", "America/New_York")
    assert t.end_ms - t.start_ms == 90 * 60_000


def test_relative_forms_anchor_on_the_data() -> None:
    every = parse_period("all", PARIS)
    assert every.is_all and parse_period(None, PARIS).is_all and parse_period("", PARIS).is_all
    first, last = ms("2026-03-02T07:40"), ms("2026-03-04T18:05")
    assert every.resolve(first, last) == (ms("2026-03-02T07:00"), ms("2026-03-04T19:00"))
    week = parse_period("last7d", PARIS)
    assert week.resolve(first, last) == (
        ms("2026-03-04T19:00") - 7 * 24 * H,
        ms("2026-03-04T19:00"),
    )
    with pytest.raises(PeriodError, match="nothing observed"):
        week.resolve(None, None)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("yesterday", "not a period"),
        ("2026-13", "not a valid date"),
        ("2025-13-40", "not a valid date"),
        ("2026-03-02/", "an interval is START/END"),
        ("a/b/c", "an interval is START/END"),
        ("2026-03-02/tomorrow", "'tomorrow' is not an ISO date or date-time"),
        ("2026-03-05..2026-03-02", "it ends before it starts"),
        ("1960-01-01", "CDS times start at 1970-01-01"),
        ("9999-12-31", "out of range"),
        ("2300-01-01", "after 2262-04-11"),
        ("last0d", f"1 <= N <= {MAX_PERIOD_DAYS}"),
        ("last99999999d", f"1 <= N <= {MAX_PERIOD_DAYS}"),
    ],
)
def test_bad_periods_are_one_line_naming_the_text(text: str, why: str) -> None:
    with pytest.raises(PeriodError) as err:
        parse_period(text, PARIS)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"period {text!r}: ") and why in err.value.why


def test_unknown_time_zone() -> None:
    with pytest.raises(PeriodError, match="unknown time zone 'Mars/Olympus'"):
        parse_period("2026-03-02", "Mars/Olympus")
