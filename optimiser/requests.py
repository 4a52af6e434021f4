"""Requests and results of the optimiser, as pydantic models (JSON in, JSON out).

``PlacementRequest`` / ``TimeslotRequest`` name their ``Sources``: the database (an
area and a period) or files (CLI and Python callers only). ``PlacementJob`` /
``TimeslotJob`` are what the HTTP API accepts: an area, a period, a budget and rules,
never a file path or an output folder (a server never takes one from a client).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from optimiser.errors import OptimiserInputError
from optimiser.inputs import Budget, Costs, Rules

PERIOD_HELP = (
    "local time: START/END (ISO 8601 interval of dates or date-times; an end date is"
    " included), START..END, YYYY-MM-DD, YYYY-MM, last<N>d (the N days up to the area's"
    " latest session) or all; default: all sessions"
)


class Sources(BaseModel):
    """Where the bays, demand, candidates and streets come from.

    Database: ``db`` (SQLAlchemy URL) with ``area`` (an ``area_id`` or ``area_name`` of
    ``curb_zones``) and optionally ``period`` (``occupancy.domain.period``'s forms, local
    time: ``START/END`` ISO 8601 interval, ``START..END``, ``YYYY-MM-DD``, ``YYYY-MM``,
    ``last<N>d``, ``all``); bays,
    sessions and camera coverage are read from it, and ``shops`` (a declared demand
    layer) covers the bays no camera watches. Files: ``instance``, or ``bays`` (any
    inventory format ``occupancy.inventory`` reads) with ``demand`` or ``sessions`` +
    ``zones``."""

    model_config = ConfigDict(frozen=True)

    db: str | None = Field(default=None, description="SQLAlchemy URL of the database")
    area: str | None = Field(default=None, max_length=200, description="area_id or area_name")
    period: str | None = Field(default=None, max_length=80, description=PERIOD_HELP)
    shops: Path | None = Field(default=None, description="declared shops GeoJSON (demand)")
    instance: Literal["paris-3e"] | None = Field(
        default=None, description="the bundled real instance (reads ../shared/geodata)"
    )
    bays: Path | None = Field(default=None, description="bay inventory file (any format)")
    bays_format: Literal["auto", "paris", "cds", "cerema", "osm"] = "auto"
    demand: Path | None = Field(default=None, description="demand points GeoJSON or CSV")
    weight_field: str = "daily_deliveries"
    sessions: Path | None = Field(default=None, description="sessions table (CSV or Parquet)")
    zones: Path | None = Field(default=None, description="zones table for the sessions")
    candidates: Path | None = Field(default=None, description="kerb segments GeoJSON")
    streets_pbf: Path | None = Field(default=None, description="OSM PBF for walking distance")


# Solver limits: a day of solving, and 64 workers, are more than any planning run needs; larger
# values are typos (1e300 s overflows OR-Tools' int64 milliseconds, 100,000 workers make an
# invalid CP-SAT model), refused with the field's name.
MAX_TIME_LIMIT_S = 86_400.0
MAX_WORKERS = 64


class PlacementRequest(BaseModel):
    """A bay placement run: data sources, budget, rules, costs, and optional stop profile and dwell (hours)."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    sources: Sources
    budget: Budget = Budget()
    rules: Rules = Rules()
    costs: Costs = Costs()
    dwell_h: float | None = Field(default=None, gt=0, le=24)
    profile: tuple[float, ...] | None = None
    time_limit_s: float = Field(default=30.0, gt=0, le=MAX_TIME_LIMIT_S)
    num_workers: int = Field(default=8, ge=1, le=MAX_WORKERS)
    seed: int = 0
    solver: Literal["scip", "cp-sat"] = "scip"
    relative_gap: float = Field(default=1e-4, ge=0)
    split_by_area: bool = Field(
        default=False, description="solve per area label and stitch (bays-added budget only)"
    )


def _check_regimes(hours: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """Each regime must be opening_hours syntax (checked at submission, not in the run)."""
    from optimiser.regimes import hour_mask

    for h in hours or ():
        try:
            hour_mask(h)
        except OptimiserInputError:
            raise ValueError(f"not opening_hours syntax (got {h!r})") from None
    return hours


class TimeslotRequest(BaseModel):
    """A time-slot run: data sources, how bays are grouped (street, area, bay), rules and allowed regimes."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    sources: Sources
    zone_by: Literal["street", "area", "bay"] = "street"
    rules: Rules = Rules()
    regimes: tuple[str, ...] | None = Field(
        default=None,
        description=(
            "opening_hours of the regimes the city allows (default Paris: 24/7 and"
            " 'Mo-Sa 07:00-20:00; PH off')"
        ),
    )

    @field_validator("regimes")
    @classmethod
    def _regimes(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return _check_regimes(v)

    blocking_cap: float = Field(default=0.2, gt=0, lt=1)
    release_value: float = Field(default=0.1, ge=0)
    double_parking_weight: float = Field(default=1.0, ge=0)
    change_cost: float = Field(default=0.05, ge=0)
    dwell_h: float | None = Field(default=None, gt=0, le=24)
    profile: tuple[float, ...] | None = None
    time_limit_s: float = Field(default=20.0, gt=0, le=MAX_TIME_LIMIT_S)
    num_workers: int = Field(default=8, ge=1, le=MAX_WORKERS)
    seed: int = 0
    deterministic: bool = False


EvidenceShares = Annotated[
    dict[str, float],
    AfterValidator(lambda d: {k: round(v, 4) for k, v in d.items()}),
]  # published as 1, not 0.9999999999999997: a share of deliveries is not known to 1e-16


class PlacementResult(BaseModel):
    """A placement run's outcome: solver status, objective, bound and gaps, time, effects and proposals."""

    status: str
    solver: str
    objective: float
    bound: float
    gap: float
    abs_gap: float
    wall_s: float
    served_before: float
    served_after: float
    double_parking_before: float
    double_parking_after: float
    bays_before: int
    bays_after: int
    kerb_m_before: float
    kerb_m_after: float
    permanent_bays: int
    demand_simulated: bool
    evidence_shares: EvidenceShares
    proposals: dict[str, Any]
    summary: str
    notes: list[str]


class TimeslotResultModel(BaseModel):
    """A time-slot run's outcome: solver status, objective, bound, gap, time and effects."""

    status: str
    objective: float
    bound: float
    gap: float
    wall_s: float
    place_hours_released: float
    double_parking_before: float
    double_parking_after: float
    unreachable_cap: list[tuple[str, str, int]]
    demand_simulated: bool
    evidence_shares: EvidenceShares
    proposals: dict[str, Any]
    summary: str
    notes: list[str]


_NO_PATHS = (
    "the server never takes a file path or an output folder from a client: give area,"
    " period, budget and rules (bays and sessions come from the server's database)"
)


class _AreaJob(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    area: str = Field(min_length=1, max_length=200, description="area_id or area_name")
    period: str | None = Field(default=None, max_length=80, description=PERIOD_HELP)
    rules: Rules = Rules()
    time_limit_s: float = Field(default=30.0, gt=0, le=600)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)

    @model_validator(mode="before")
    @classmethod
    def _no_paths(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("sources", "out_dir", "db", "shops"):
                if key in data:
                    raise ValueError(f"{key}: {_NO_PATHS}")
        return data


class PlacementJob(_AreaJob):
    """An API placement job: where bays should be in an area."""

    budget: Budget = Budget()
    costs: Costs = Costs()
    solver: Literal["scip", "cp-sat"] = "scip"


class TimeslotJob(_AreaJob):
    """An API time-slot job: which regime each bay of an area should have."""

    zone_by: Literal["street", "area", "bay"] = "street"
    regimes: tuple[str, ...] | None = Field(default=None, max_length=10)
    blocking_cap: float = Field(default=0.2, gt=0, lt=1)

    @field_validator("regimes")
    @classmethod
    def _regimes(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return _check_regimes(v)


def placement_request(
    job: PlacementJob, db: str, shops: Path | None, streets: Path | None = None
) -> PlacementRequest:
    """The request a job runs on the server's own database and server-side layers (the
    declared shops; an OSM extract for candidate kerb and walking distances)."""
    src = Sources(db=db, area=job.area, period=job.period, shops=shops, streets_pbf=streets)
    return PlacementRequest(
        sources=src,
        budget=job.budget,
        rules=job.rules,
        costs=job.costs,
        time_limit_s=job.time_limit_s,
        seed=job.seed,
        solver=job.solver,
    )


def timeslot_request(job: TimeslotJob, db: str, shops: Path | None) -> TimeslotRequest:
    """The ``TimeslotRequest`` of an API time-slot job over the database ``db``."""
    src = Sources(db=db, area=job.area, period=job.period, shops=shops)
    return TimeslotRequest(
        sources=src,
        zone_by=job.zone_by,
        rules=job.rules,
        regimes=job.regimes,
        blocking_cap=job.blocking_cap,
        time_limit_s=job.time_limit_s,
        seed=job.seed,
    )


def request_error(exc: ValidationError) -> OptimiserInputError:
    """A pydantic validation error as one line naming the field and value."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    got = "" if "got" in msg else f" (got {err.get('input')!r})"
    return OptimiserInputError(f"{loc}: {msg}{got}" if loc else f"{msg}{got}")
