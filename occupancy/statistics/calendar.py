"""Public holidays and the Paris parking rules' day types.

Day types: ``working`` = Monday-Friday except public holidays, ``saturday`` = Saturdays
except public holidays, ``sunday_holiday`` = Sundays and public holidays (Ville de
Paris: periodic delivery bays serve deliveries Monday-Saturday 07-20, "PH off").
Public holidays are OSM's ``PH`` of a country, from opening-hours-py (the library that
already reads the bays' delivery hours).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Literal

DayType = Literal["working", "saturday", "sunday_holiday"]
DAY_TYPE_ORDER: tuple[DayType, ...] = ("working", "saturday", "sunday_holiday")


def public_holidays(country: str, days: Iterable[date]) -> set[date]:
    """The public holidays among ``days`` (empty where the country has no calendar)."""
    import opening_hours

    try:
        ph = opening_hours.OpeningHours("PH", country=country)
    except opening_hours.UnknownCountryError:  # type: ignore[attr-defined]  # no calendar
        return set()
    out = set()
    for d in days:
        state, _comment = ph.state(datetime(d.year, d.month, d.day, 12, 0))
        if state == opening_hours.State.OPEN:
            out.add(d)
    return out


def day_type(d: date, holidays: set[date]) -> DayType:
    """``d``'s day type given the public ``holidays``."""
    if d in holidays or d.weekday() == 6:
        return "sunday_holiday"
    return "saturday" if d.weekday() == 5 else "working"
