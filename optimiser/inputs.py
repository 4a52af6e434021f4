"""Validated, immutable inputs of the placement and time-slot models.

Everything the solvers read is built here and checked once, so a bad value fails
with one line naming the field, before any model is built. Arrays rather than one
object per point: a Paris-sized instance has 100,000 demand points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator

from optimiser.errors import OptimiserInputError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Assumed hourly shares of delivery arrivals (sums to 1 after normalising), used when
# no sessions are observed: a typical urban goods-delivery day, starting at 06:00,
# peaking 09:00-12:00, a smaller early-afternoon shoulder, nearly nothing after 20:00.
# It is an assumption, labelled "simulated" wherever it feeds an output.
TYPICAL_URBAN_PROFILE: tuple[float, ...] = tuple(
    v / 100.0 for v in (0, 0, 0, 0, 0, 1, 3, 7, 10, 12, 13, 12, 8, 6, 7, 7, 5, 4, 2, 1, 1, 0, 0, 0)
)
# Assumed mean dwell of a delivery stop when none is observed (hours).
DEFAULT_DWELL_H = 0.25


class Budget(BaseModel):
    """Limits on changes. ``None`` means no limit on that count."""

    model_config = ConfigDict(frozen=True)

    max_added: int | None = Field(default=None, description="bays added (a move counts one)")
    max_removed: int | None = Field(default=None, description="bays removed (a move counts one)")
    max_changes: int | None = Field(default=None, description="bays added plus bays removed")
    max_new_kerb_m: float | None = Field(default=None, description="kerb metres of new bays")
    max_total_kerb_m: float | None = Field(
        default=None, description="kerb metres of all delivery bays after the changes"
    )

    @field_validator("*")
    @classmethod
    def _non_negative(cls, v: float | None, info: object) -> float | None:
        if v is not None and v < 0:
            name = getattr(info, "field_name", "budget")
            raise ValueError(f"budget {name} must be >= 0, got {v}")
        return v


class Rules(BaseModel):
    """Hard rules every proposal keeps."""

    model_config = ConfigDict(frozen=True)

    walk_limit_m: float = Field(default=100.0, gt=0, description="walking reach of a bay")
    min_bay_length_m: float = Field(default=10.0, gt=0, description="length of one new bay")
    max_bays_per_candidate: int = Field(default=2, ge=1, le=8)
    fixed_bay_ids: frozenset[str] = Field(default_factory=frozenset)


class Costs(BaseModel):
    """Objective weights, in deliveries a day (the objective's unit)."""

    model_config = ConfigDict(frozen=True)

    double_parking_weight: float = Field(default=1.0, ge=0)
    add_cost: float = Field(default=0.5, ge=0, description="per bay added")
    remove_cost: float = Field(default=0.25, ge=0, description="per bay removed")


def check_profile(profile: Sequence[float], dwell_h: float) -> tuple[float, ...]:
    """Normalise a 24-value hourly profile; reject wrong lengths, negatives and bad dwells."""
    if len(profile) != 24:
        raise OptimiserInputError(f"profile: need 24 hourly values, got {len(profile)}")
    arr = np.asarray(profile, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or arr.sum() <= 0:
        raise OptimiserInputError("profile: values must be finite, >= 0 and not all 0")
    if not (0 < dwell_h <= 24):
        raise OptimiserInputError(f"dwell_h: must be in (0, 24] hours, got {dwell_h}")
    return tuple(float(v) for v in arr / arr.sum())


@dataclass(frozen=True, eq=False)
class Sites:
    """Kerb sites: existing bays and candidate kerb segments, one row each.

    ``existing`` bays sit there now; ``max_bays`` is how many bays the site can hold
    (for a new segment: usable length // minimum bay length, capped by the rules).
    ``xy`` is Lambert-93 (EPSG:2154) metres, ``lonlat`` WGS84.
    """

    ids: tuple[str, ...]
    xy: FloatArray
    lonlat: FloatArray
    existing: IntArray
    max_bays: IntArray
    bay_length_m: FloatArray
    fixed: BoolArray
    area: tuple[str, ...]
    label: tuple[str, ...]
    lines: tuple[tuple[tuple[float, float], ...] | None, ...] = field(default=())

    def __post_init__(self) -> None:
        n = len(self.ids)
        for name in ("xy", "lonlat", "existing", "max_bays", "bay_length_m", "fixed"):
            if len(getattr(self, name)) != n:
                raise OptimiserInputError(f"sites: {name} has {len(getattr(self, name))} rows")
        if len(set(self.ids)) != n:
            raise OptimiserInputError("sites: ids are not unique")
        if n and (np.any(self.existing < 0) or np.any(self.max_bays < self.existing)):
            bad = int(np.argmax((self.existing < 0) | (self.max_bays < self.existing)))
            raise OptimiserInputError(
                f"sites: {self.ids[bad]} has existing={self.existing[bad]}"
                f" > max_bays={self.max_bays[bad]}"
            )

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, eq=False)
class Demand:
    """Delivery demand points with deliveries a day; ``simulated`` marks derived weights."""

    ids: tuple[str, ...]
    xy: FloatArray
    lonlat: FloatArray
    daily: FloatArray
    label: tuple[str, ...]
    simulated: bool

    def __post_init__(self) -> None:
        if len(self.xy) != len(self.ids) or len(self.daily) != len(self.ids):
            raise OptimiserInputError("demand: ids, coordinates and weights differ in length")
        if len(self.ids) == 0:
            raise OptimiserInputError("demand: no demand points")
        if not np.all(np.isfinite(self.daily)) or np.any(self.daily < 0):
            bad = int(np.argmax(~np.isfinite(self.daily) | (self.daily < 0)))
            raise OptimiserInputError(
                f"demand: point {self.ids[bad]} has weight {self.daily[bad]} (need >= 0)"
            )

    def __len__(self) -> int:
        return len(self.ids)
