"""Validated, immutable inputs of the placement and time-slot models.

Everything the solvers read is built here and checked once, so a bad value fails
with one line naming the field, before any model is built. Arrays rather than one
object per point: a Paris-sized instance has 100,000 demand points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from optimiser import walking
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
# Assumed deliveries of a Saturday and of a Sunday/holiday relative to a working day,
# where no session says (the simulator's weekday factors: 0.55 and 0.12 of a weekday).
ESTIMATED_DAY_FACTOR: tuple[float, float, float] = (1.0, 0.55, 0.12)
# Assumed mean dwell of a delivery stop when none is observed (hours).
DEFAULT_DWELL_H = 0.25


class Budget(BaseModel):
    """Limits on changes. ``None`` means no limit on that count."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    max_added: int | None = Field(default=None, description="bays added (a move counts one)")
    max_removed: int | None = Field(default=None, description="bays removed (a move counts one)")
    max_changes: int | None = Field(default=None, description="bays added plus bays removed")
    max_new_kerb_m: float | None = Field(default=None, description="kerb metres of new bays")
    max_total_kerb_m: float | None = Field(
        default=None, description="kerb metres of all delivery bays after the changes"
    )
    kerb_neutral: bool = Field(
        default=False,
        description="kerb metres of all delivery bays may not exceed those of the bays in place",
    )

    @field_validator(
        "max_added", "max_removed", "max_changes", "max_new_kerb_m", "max_total_kerb_m"
    )
    @classmethod
    def _non_negative(cls, v: float | None, info: object) -> float | None:
        if v is not None and v < 0:
            name = getattr(info, "field_name", "budget")
            raise ValueError(f"budget {name} must be >= 0, got {v}")
        return v


# No delivery bay is longer: an articulated lorry is 16.5 m (EU 96/53/EC), CEREMA's bays
# 12-15 m. A longer value is a unit mistake (cm for m), refused with the field's name.
MAX_BAY_LENGTH_M = 40.0


class Rules(BaseModel):
    """Hard rules every proposal keeps (every number finite: inf and nan are refused)."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    walk_limit_m: float = Field(
        default=walking.LIMIT_M,
        gt=0,
        description="walking distance (m) at which a bay's served share of a point's"
        " deliveries reaches 0 (optimiser.walking)",
    )
    walk_full_m: float = Field(
        default=walking.FULL_M,
        ge=0,
        description="walking distance (m) up to which a bay serves all of a point's"
        " deliveries; linear to 0 at walk_limit_m (equal to walk_limit_m: a cliff there;"
        " more than walk_limit_m is refused)",
    )
    walk_detour_factor: float = Field(
        default=walking.DETOUR_FACTOR,
        ge=1.0,
        le=3.0,
        description="walking metres per straight-line metre where no street graph is given",
    )
    min_bay_length_m: float = Field(
        default=10.0,
        gt=0,
        le=MAX_BAY_LENGTH_M,
        description="shortest bay: a zone in place with no num_spaces holds length // this",
    )
    new_bay_length_m: float | None = Field(
        default=None,
        gt=0,
        le=MAX_BAY_LENGTH_M,
        description=(
            "kerb metres of one new bay; None: sized from the delivery vehicles seen in the"
            " area (optimiser.bay_length: the new_bay_share quantile of their lengths plus a"
            " manoeuvre margin, within new_bay_range_m)"
        ),
    )
    new_bay_share: float = Field(
        default=0.85, gt=0, le=1, description="share of the delivery stops seen a new bay fits"
    )
    new_bay_range_m: tuple[float, float] = Field(
        default=(12.0, 15.0),
        description="(shortest, longest) new bay the city allows, m (CEREMA: 12-15 m)",
    )
    max_bays_per_candidate: int = Field(default=2, ge=1, le=8)
    fixed_bay_ids: frozenset[str] = Field(default_factory=frozenset)
    allow_permanent_changes: bool = Field(
        default=False,
        description=(
            "let proposals remove, shrink or retime permanent ('ZL permanente', 24/7) bays;"
            " off by default: the city keeps them (Ville de Paris rules)"
        ),
    )
    enforce_min_gain: float = Field(
        default=0.5,
        ge=0,
        description="deliveries a day an 'enforce' proposal must win back to be made",
    )

    @model_validator(mode="before")
    @classmethod
    def _full_within_limit(cls, data: Any) -> Any:
        """walk_full_m not given: the default, or walk_limit_m when that is shorter."""
        if isinstance(data, dict) and data.get("walk_full_m") is None:
            limit = data.get("walk_limit_m")
            data = {k: v for k, v in data.items() if k != "walk_full_m"}
            if isinstance(limit, int | float) and limit == limit:
                data["walk_full_m"] = min(walking.FULL_M, float(limit))
        return data

    @model_validator(mode="after")
    def _walk_order(self) -> Rules:
        if self.walk_full_m > self.walk_limit_m:
            raise ValueError(
                "walk_full_m must be <= walk_limit_m: nobody walks walk_limit_m or more"
                f" (got walk_full_m={self.walk_full_m:g}, walk_limit_m={self.walk_limit_m:g})"
            )
        return self

    @field_validator("new_bay_range_m")
    @classmethod
    def _range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not (0 < v[0] <= v[1]):
            raise ValueError(f"new_bay_range_m must be 0 < shortest <= longest, got {list(v)}")
        return v


class Costs(BaseModel):
    """Objective weights, in deliveries a day (the objective's unit)."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

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
    # Regime of each site: "permanent" (delivery-only 24/7), "periodic" (delivery-only in
    # its hours, open to all otherwise) or "new" (a candidate); () means all "periodic".
    regime: tuple[str, ...] = field(default=())
    # Share of bay time taken by vehicles that are not delivering or overstay (0..1), per
    # site; None: none known. A share m leaves (1 - m) of the Erlang-B served deliveries.
    misuse: FloatArray | None = None
    # Where each site's misuse and demand figures come from: observed | simulated | estimated.
    evidence: tuple[str, ...] = field(default=())

    def availability(self) -> FloatArray:
        """1 - misuse share per site (1 where none is known)."""
        if self.misuse is None:
            return np.ones(len(self.ids))
        return 1.0 - np.clip(self.misuse, 0.0, 0.95)

    def regime_of(self, j: int) -> str:
        """Site ``j``'s delivery regime (its stored one, else periodic if it exists, else new)."""
        return self.regime[j] if self.regime else ("periodic" if self.existing[j] else "new")

    def subset(self, idx: IntArray) -> Sites:
        """The sites at positions ``idx`` (same fields, same order as ``idx``)."""
        return Sites(
            ids=tuple(self.ids[i] for i in idx),
            xy=self.xy[idx],
            lonlat=self.lonlat[idx],
            existing=self.existing[idx],
            max_bays=self.max_bays[idx],
            bay_length_m=self.bay_length_m[idx],
            fixed=self.fixed[idx],
            area=tuple(self.area[i] for i in idx),
            label=tuple(self.label[i] for i in idx),
            lines=tuple(self.lines[i] for i in idx) if self.lines else (),
            regime=tuple(self.regime[i] for i in idx) if self.regime else (),
            misuse=None if self.misuse is None else self.misuse[idx],
            evidence=tuple(self.evidence[i] for i in idx) if self.evidence else (),
        )

    def __post_init__(self) -> None:
        n = len(self.ids)
        for name in ("regime", "evidence"):
            if getattr(self, name) and len(getattr(self, name)) != n:
                raise OptimiserInputError(f"sites: {name} has {len(getattr(self, name))} rows")
        if self.misuse is not None and len(self.misuse) != n:
            raise OptimiserInputError(f"sites: misuse has {len(self.misuse)} rows")
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
    # Per point: observed (a camera watched it), simulated, or estimated (a declared layer);
    # () means every point is "simulated" if ``simulated`` else "estimated".
    evidence: tuple[str, ...] = ()

    def evidence_of(self, i: int) -> str:
        """What point ``i``'s demand rests on: observed, simulated or estimated."""
        if self.evidence:
            return self.evidence[i]
        return "simulated" if self.simulated else "estimated"

    def shares(self) -> dict[str, float]:
        """Share of the deliveries a day by evidence: all three of observed, simulated and
        estimated, 0 included (published to 4 decimals, ``optimiser.requests.EvidenceShares``)."""
        total = float(self.daily.sum()) or 1.0
        out = dict.fromkeys(("observed", "simulated", "estimated"), 0.0)
        for i in range(len(self.ids)):
            e = self.evidence_of(i)
            out[e] = out.get(e, 0.0) + float(self.daily[i]) / total
        return out

    def __post_init__(self) -> None:
        if self.evidence and len(self.evidence) != len(self.ids):
            raise OptimiserInputError("demand: evidence has a different length")
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
