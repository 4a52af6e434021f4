"""Delivery regimes of a bay and the hours they serve deliveries, per day type.

A regime is an OSM ``opening_hours`` string of the hours a bay is delivery-only
(open to all otherwise). The city's catalogue is what a time-slot proposal may
choose from; for Paris (Ville de Paris parking rules, "aires de livraison"):

- ``permanent`` ("ZL permanente"): delivery-only at all times, ``24/7``;
- ``periodic`` ("ZL périodique"): delivery-only Monday-Saturday 07:00-20:00, open to
  all at night, on Sundays and on public holidays.

Day types: ``working`` (Monday-Friday), ``saturday``, ``sunday`` (Sundays and public
holidays, which Paris treats alike). Hours are local wall-clock hours 0..23.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import numpy as np

from occupancy.inventory import opening_hours as oh
from optimiser.errors import OptimiserInputError

DAY_TYPES: tuple[str, ...] = ("working", "saturday", "sunday")
# Days of each type in a week: weights of per-day figures in a weekly mean.
DAYS_PER_WEEK: tuple[float, ...] = (5.0, 1.0, 1.0)
# A reference day of each type (Wednesday, Saturday, Sunday of an ordinary week, no
# public holiday) on which an opening_hours string is evaluated hour by hour.
_REFERENCE_DAYS = (datetime(2025, 3, 12), datetime(2025, 3, 15), datetime(2025, 3, 16))

PERMANENT = "permanent"
PERIODIC = "periodic"
ALWAYS = "24/7"
PARIS_PERIODIC = "Mo-Sa 07:00-20:00; PH off"


@dataclass(frozen=True)
class Regime:
    """A named delivery regime: ``hours`` is its OSM opening_hours string."""

    name: str
    hours: str

    @property
    def permanent(self) -> bool:
        """Whether the regime reserves the bay for deliveries every hour of the week."""
        return bool(hour_mask(self.hours).all())


# The regimes Paris allows (the default catalogue of the time-slot model).
PARIS_REGIMES: tuple[Regime, ...] = (
    Regime(PERMANENT, ALWAYS),
    Regime(PERIODIC, PARIS_PERIODIC),
)


@cache
def hour_mask(hours: str) -> np.ndarray:
    """(3, 24) bool: delivery-only in each hour of each day type (``DAY_TYPES`` order).

    Raises ``OptimiserInputError`` naming the string if it does not parse."""
    try:
        oh.check(hours)
    except oh.OpeningHoursError as exc:
        raise OptimiserInputError(f"regime hours: {exc}") from None
    out = np.zeros((len(DAY_TYPES), 24), dtype=bool)
    for t, day in enumerate(_REFERENCE_DAYS):
        for h in range(24):
            # Mid-hour, so that "07:00-20:00" covers 07..19 and not 20.
            out[t, h] = oh.is_open(hours, day.replace(hour=h, minute=30))
    out.setflags(write=False)
    return out


def regime_of_zone(delivery_hours: Any, attributes: Any) -> str:
    """``permanent`` or ``periodic`` for a ``curb_zones`` row.

    The inventory's own regime wins (Paris: ``attributes.regime`` "ZL permanente" /
    "ZL périodique"); otherwise a bay delivery-only in every hour of every day type is
    permanent, any other (or no) hours periodic."""
    regime = (
        str((attributes or {}).get("regime", "")).lower() if isinstance(attributes, dict) else ""
    )
    if "permanent" in regime:
        return PERMANENT
    if "riodique" in regime or "periodic" in regime:
        return PERIODIC
    if isinstance(delivery_hours, str) and delivery_hours.strip():
        try:
            return PERMANENT if hour_mask(delivery_hours.strip()).all() else PERIODIC
        except OptimiserInputError:
            return PERIODIC
    return PERIODIC


def catalogue(hours: list[str] | tuple[str, ...] | None) -> tuple[Regime, ...]:
    """The regimes a time-slot proposal may choose: Paris's by default, or the given
    opening_hours strings (each checked; one that is delivery-only always is named
    ``permanent``)."""
    if not hours:
        return PARIS_REGIMES
    out = []
    for i, h in enumerate(hours):
        mask = hour_mask(h)
        out.append(Regime(PERMANENT if mask.all() else f"regime-{i}", h))
    if not any(r.permanent for r in out):
        out.insert(0, Regime(PERMANENT, ALWAYS))
    return tuple(out)
