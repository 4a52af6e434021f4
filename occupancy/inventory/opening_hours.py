"""OSM ``opening_hours`` strings for delivery regimes, checked with ``opening-hours-py``.

That library (a maintained Rust parser of the full OSM grammar) does the
parsing; this module only normalises what inventories write and turns parser
failures into one-line reasons.
"""

from __future__ import annotations

import re
from datetime import datetime

import opening_hours

_HHMM = re.compile(r"^\s*(\d{1,2})[:hH](\d{2})\s*$")


class OpeningHoursError(ValueError):
    """An opening_hours value that does not parse; the message quotes it."""


def check(value: str) -> str:
    """Return ``value`` stripped if it parses, else raise ``OpeningHoursError``."""
    text = value.strip()
    if not text:
        raise OpeningHoursError("empty opening_hours")
    try:
        opening_hours.OpeningHours(text)
    except Exception as exc:  # the binding raises its own ParserError type
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OpeningHoursError(f"bad opening_hours {text!r}: {first}") from exc
    return text


def is_open(value: str, when: datetime) -> bool:
    """Whether the regime applies at local naive time ``when``."""
    return bool(opening_hours.OpeningHours(value).is_open(when))


def hhmm(value: str) -> str:
    """'8:00', '08h00' -> '08:00'; raises ``OpeningHoursError`` otherwise."""
    m = _HHMM.match(value)
    if not m or int(m.group(1)) > 24 or int(m.group(2)) > 59:
        raise OpeningHoursError(f"bad time {value!r}")
    return f"{int(m.group(1)):02d}:{m.group(2)}"


def from_ranges(ranges: list[tuple[str, str]]) -> str | None:
    """'HH:MM-HH:MM,...' from (start, end) pairs; None for none or for 00:00-00:00 (always)."""
    parts = []
    for a, b in ranges:
        sa, sb = hhmm(a), hhmm(b)
        if sa == sb:
            return None  # 00:00-00:00 and the like: the whole day
        parts.append(f"{sa}-{sb}")
    return check(",".join(parts)) if parts else None
