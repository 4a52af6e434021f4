"""Plain-Python entry points for the CLI and the HTTP job runner.

``run_placement(PlacementRequest) -> PlacementResult`` and
``run_timeslots(TimeslotRequest) -> TimeslotResultModel``: pydantic in and out, so
a job runner can take the request as JSON and store the result as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from optimiser.areas import solve_by_area
from optimiser.distances import reach_network, reach_straight
from optimiser.errors import OptimiserInputError
from optimiser.greedy import greedy_layout
from optimiser.inputs import (
    DEFAULT_DWELL_H,
    TYPICAL_URBAN_PROFILE,
    Budget,
    Costs,
    Demand,
    Rules,
    Sites,
)
from optimiser.loaders import (
    candidates_from_geojson,
    demand_from_file,
    sites_from_zones,
    with_candidates,
    zones_from_cds_geojson,
    zones_from_paris_csv,
)
from optimiser.placement import SolveOptions, optimise, solve
from optimiser.plot import proposal_map
from optimiser.problem import build_problem
from optimiser.proposals import (
    placement_proposals,
    placement_summary,
    retime_proposals,
    to_geojson,
)
from optimiser.timeslots import TimeslotProblem, solve_timeslots

Progress = Callable[[str], None]


class Sources(BaseModel):
    """Where the bays, demand, candidates and streets come from."""

    model_config = ConfigDict(frozen=True)

    instance: Literal["paris-3e"] | None = Field(
        default=None, description="the bundled real instance (reads ../shared/geodata)"
    )
    bays_csv: Path | None = Field(default=None, description="Paris open-data bay CSV")
    arrondissement: int | None = None
    bays_geojson: Path | None = Field(default=None, description="CDS curb-zones GeoJSON")
    demand: Path | None = Field(default=None, description="demand points GeoJSON or CSV")
    weight_field: str = "daily_deliveries"
    sessions: Path | None = Field(default=None, description="sessions table (CSV or Parquet)")
    zones: Path | None = Field(default=None, description="zones table for the sessions")
    candidates: Path | None = Field(default=None, description="kerb segments GeoJSON")
    streets_pbf: Path | None = Field(default=None, description="OSM PBF for walking distance")


class PlacementRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    sources: Sources
    budget: Budget = Budget()
    rules: Rules = Rules()
    costs: Costs = Costs()
    dwell_h: float | None = Field(default=None, gt=0, le=24)
    profile: tuple[float, ...] | None = None
    time_limit_s: float = Field(default=30.0, gt=0)
    num_workers: int = Field(default=8, ge=1)
    seed: int = 0
    solver: Literal["scip", "cp-sat"] = "scip"
    relative_gap: float = Field(default=1e-4, ge=0)
    split_by_area: bool = Field(
        default=False, description="solve per area label and stitch (bays-added budget only)"
    )
    out_dir: Path | None = None


class PlacementResult(BaseModel):
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
    demand_simulated: bool
    proposals: dict[str, Any]
    summary: str
    notes: list[str]
    files: dict[str, str]


class TimeslotRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    sources: Sources
    zone_by: Literal["street", "area", "bay"] = "street"
    rules: Rules = Rules()
    blocking_cap: float = Field(default=0.2, gt=0, lt=1)
    min_window_h: int = Field(default=2, ge=1, le=24)
    max_windows: int = Field(default=2, ge=1, le=12)
    release_value: float = Field(default=0.1, ge=0)
    double_parking_weight: float = Field(default=1.0, ge=0)
    dwell_h: float | None = Field(default=None, gt=0, le=24)
    profile: tuple[float, ...] | None = None
    time_limit_s: float = Field(default=20.0, gt=0)
    num_workers: int = Field(default=8, ge=1)
    seed: int = 0
    deterministic: bool = False
    out_dir: Path | None = None


class TimeslotResultModel(BaseModel):
    status: str
    objective: float
    bound: float
    gap: float
    wall_s: float
    place_hours_released: int
    double_parking_before: float
    double_parking_after: float
    unreachable_cap: list[tuple[str, int]]
    demand_simulated: bool
    proposals: dict[str, Any]
    summary: str
    notes: list[str]
    files: dict[str, str]


class _Loaded(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    sites: Any
    demand: Any
    graph: Any
    streets_xy: Any
    notes: list[str]
    profile: tuple[float, ...]
    dwell_h: float
    street_of: list[str]
    title: str
    # Observed stops a day per bay (index: site id) and hour, when sessions were given.
    observed: Any = None


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise OptimiserInputError(f"{path}: file not found")
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def _load(
    src: Sources,
    rules: Rules,
    profile: tuple[float, ...] | None,
    dwell_h: float | None,
    progress: Progress,
) -> _Loaded:
    notes: list[str] = []
    if src.instance == "paris-3e":
        from optimiser.instances import paris_3e

        progress("reading the Paris 3e instance (bays, shops, OSM streets)")
        inst = paris_3e(rules)
        return _Loaded(
            sites=inst.sites,
            demand=inst.demand,
            graph=inst.graph,
            streets_xy=inst.streets_xy,
            notes=list(inst.notes),
            profile=profile or TYPICAL_URBAN_PROFILE,
            dwell_h=dwell_h or DEFAULT_DWELL_H,
            street_of=list(inst.street_of),
            title="Paris 3e: delivery-bay proposals",
        )
    if src.bays_csv is not None:
        zones = zones_from_paris_csv(src.bays_csv, src.arrondissement)
    elif src.bays_geojson is not None:
        zones = zones_from_cds_geojson(src.bays_geojson)
    elif src.zones is not None:
        zones = _read_table(src.zones)
    else:
        raise OptimiserInputError("sources: give instance, bays_csv, bays_geojson or zones")
    sites: Sites = sites_from_zones(zones, rules)
    if src.candidates is not None:
        cid, lines, usable = candidates_from_geojson(src.candidates, rules)
        sites = with_candidates(sites, cid, lines, usable, rules)
    prof, dwell = profile, dwell_h
    observed = None
    if src.sessions is not None:
        from optimiser.sessions import demand_from_sessions

        if src.zones is None:
            raise OptimiserInputError("sources: sessions need the zones table (zones=...)")
        obs = demand_from_sessions(_read_table(src.sessions), _read_table(src.zones))
        demand: Demand = obs.demand
        prof, dwell = prof or obs.profile, dwell or obs.dwell_h
        notes.append(f"demand: observed sessions over {obs.n_days} day(s)")
        observed = obs.arrivals
    elif src.demand is not None:
        demand = demand_from_file(src.demand, src.weight_field)
        if demand.simulated:
            notes.append(f"demand: no '{src.weight_field}' field, every point weighs 1 (simulated)")
    else:
        raise OptimiserInputError("sources: give demand (points file) or sessions")
    if prof is None:
        notes.append("hourly profile: assumed typical urban delivery day (simulated)")
    graph = None
    streets_xy: list[np.ndarray] = []
    if src.streets_pbf is not None:
        import pyogrio

        from optimiser.distances import street_graph
        from optimiser.instances import WALK_HIGHWAYS

        if not src.streets_pbf.is_file():
            raise OptimiserInputError(f"{src.streets_pbf}: file not found")
        lines_df = pyogrio.read_dataframe(src.streets_pbf, layer="lines")
        lines_df = lines_df[lines_df["highway"].isin(WALK_HIGHWAYS)]
        streets_xy = [np.asarray(g.coords) for g in lines_df.to_crs(2154).geometry]
        graph = street_graph(streets_xy)
    street_col = next(
        (zones[c] for c in ("street_name", "street", "area_id") if c in zones.columns), None
    )
    street_of = [str(v) for v in street_col] if street_col is not None else []
    street_of += ["" for _ in range(len(sites) - len(street_of))]
    return _Loaded(
        sites=sites,
        demand=demand,
        graph=graph,
        streets_xy=streets_xy,
        notes=notes,
        profile=prof or TYPICAL_URBAN_PROFILE,
        dwell_h=dwell or DEFAULT_DWELL_H,
        street_of=street_of,
        title="delivery-bay proposals",
        observed=observed,
    )


def _noop(_: str) -> None:
    return None


def run_placement(request: PlacementRequest, progress: Progress = _noop) -> PlacementResult:
    src = _load(request.sources, request.rules, request.profile, request.dwell_h, progress)
    progress(f"walking reach ({'street graph' if src.graph else 'straight line'})")
    problem = build_problem(
        src.sites,
        src.demand,
        src.profile,
        src.dwell_h,
        request.budget,
        request.rules,
        request.costs,
        graph=src.graph,
    )
    progress(
        f"{len(src.sites)} sites, {len(src.demand)} demand points -> "
        f"{len(problem.groups.daily)} groups with identical reach"
    )
    opts = SolveOptions(
        time_limit_s=request.time_limit_s,
        num_workers=request.num_workers,
        seed=request.seed,
        relative_gap=request.relative_gap,
        solver=request.solver,
    )
    progress("evaluating the bays in place")
    # With the bays fixed the model is a linear programme: GLOP evaluates it exactly.
    before = solve(problem, replace(opts, solver="glop"), fix_bays=problem.sites.existing)
    if request.split_by_area:
        labels = problem.sites.area
        index = {a: i for i, a in enumerate(dict.fromkeys(labels))}
        area_of = np.array([index[a] for a in labels], dtype=np.int64)
        after = solve_by_area(problem, area_of, opts, progress=progress)
    else:
        progress("greedy warm start")
        hint = greedy_layout(problem)
        after = optimise(problem, opts, hint=hint, progress=progress)
    props = placement_proposals(problem, before, after)
    simulated = bool(src.demand.simulated)
    geo = to_geojson(props, simulated)
    summary = placement_summary(problem, before, after, props, simulated)
    files: dict[str, str] = {}
    if request.out_dir is not None:
        out = request.out_dir
        out.mkdir(parents=True, exist_ok=True)
        (out / "placement_proposals.geojson").write_text(json.dumps(geo, indent=1))
        (out / "placement_summary.txt").write_text(summary + "\n" + "\n".join(src.notes) + "\n")
        proposal_map(
            out / "placement_map.png",
            src.title,
            problem.sites,
            after.bays,
            src.demand,
            props,
            src.streets_xy,
            credits="; ".join(src.notes[:1]),
        )
        files = {
            "proposals": str(out / "placement_proposals.geojson"),
            "summary": str(out / "placement_summary.txt"),
            "map": str(out / "placement_map.png"),
        }
    kerb = problem.sites.bay_length_m
    return PlacementResult(
        status=after.status,
        solver=after.solver,
        objective=after.objective,
        bound=after.bound,
        gap=after.gap,
        abs_gap=after.abs_gap,
        wall_s=after.wall_s,
        served_before=before.served,
        served_after=after.served,
        double_parking_before=before.double_parking,
        double_parking_after=after.double_parking,
        bays_before=int(problem.sites.existing.sum()),
        bays_after=int(after.bays.sum()),
        kerb_m_before=float((problem.sites.existing * kerb).sum()),
        kerb_m_after=float((after.bays * kerb).sum()),
        demand_simulated=simulated,
        proposals=geo,
        summary=summary,
        notes=src.notes,
        files=files,
    )


def _zones_for_timeslots(
    src: _Loaded, zone_by: str, n_bays: int
) -> tuple[np.ndarray, tuple[str, ...]]:
    if zone_by == "bay":
        keys = list(src.sites.ids[:n_bays])
    elif zone_by == "area":
        keys = list(src.sites.area[:n_bays])
    else:
        keys = [s or src.sites.ids[b] for b, s in enumerate(src.street_of[:n_bays])]
    names = tuple(dict.fromkeys(keys))
    index = {k: i for i, k in enumerate(names)}
    return np.array([index[k] for k in keys], dtype=np.int64), names


def run_timeslots(request: TimeslotRequest, progress: Progress = _noop) -> TimeslotResultModel:
    src = _load(request.sources, request.rules, request.profile, request.dwell_h, progress)
    sites: Sites = src.sites
    bay_idx = np.flatnonzero(sites.existing > 0)
    n_bays = len(bay_idx)
    if n_bays == 0:
        raise OptimiserInputError("timeslots: no existing bays to schedule")
    zone_of, zone_ids = _zones_for_timeslots(src, request.zone_by, n_bays)
    # Each demand point uses its nearest bay in walking reach (straight-line ranking).
    xy = sites.xy[bay_idx]
    if src.graph is not None:
        reach = reach_network(src.demand.xy, xy, request.rules.walk_limit_m, src.graph)
    else:
        reach = reach_straight(src.demand.xy, xy, request.rules.walk_limit_m)
    if src.observed is not None:
        # Observed: each zone's stops a day in each hour, summed over its bays.
        arrivals = np.zeros((len(zone_ids), 24))
        for b, j in enumerate(bay_idx):
            sid = str(sites.ids[j])
            if sid in src.observed.index:
                arrivals[zone_of[b]] += src.observed.loc[sid].to_numpy(dtype=float)
    else:
        daily = np.zeros(len(zone_ids))
        for i, r in enumerate(reach):
            if len(r):
                near = r[np.argmin(np.hypot(*(xy[r] - src.demand.xy[i]).T))]
                daily[zone_of[near]] += src.demand.daily[i]
        arrivals = np.outer(daily, np.asarray(src.profile))
    problem = TimeslotProblem(
        bay_ids=tuple(sites.ids[b] for b in bay_idx),
        places=sites.existing[bay_idx],
        zone_of=zone_of,
        zone_ids=zone_ids,
        arrivals=arrivals,
        dwell_h=src.dwell_h,
        blocking_cap=request.blocking_cap,
        min_window_h=request.min_window_h,
        max_windows=request.max_windows,
        release_value=request.release_value,
        double_parking_weight=request.double_parking_weight,
    )
    progress(f"time-slot model: {n_bays} bays in {len(zone_ids)} zones x 24 h (CP-SAT)")
    res = solve_timeslots(
        problem,
        time_limit_s=request.time_limit_s,
        num_workers=request.num_workers,
        seed=request.seed,
        deterministic=request.deterministic,
    )
    props = retime_proposals(problem, res, sites.lonlat[bay_idx])
    simulated = bool(src.demand.simulated)
    geo = to_geojson(props, simulated)
    summary = "\n".join(
        [
            f"timeslots: {len(props)} of {n_bays} bays retimed; {res.place_hours_released}"
            f" place-hours a day given back (of {int(problem.places.sum()) * 24})",
            f"  expected double parking: {res.double_parking_before:.2f} (all bays all day) ->"
            f" {res.double_parking_after:.2f} deliveries/day"
            + (" [SIMULATED demand]" if simulated else ""),
            f"  blocking cap {request.blocking_cap:.0%}: met in every zone-hour"
            + (
                f" except {len(res.unreachable_cap)} where even all bays miss it"
                if res.unreachable_cap
                else ""
            ),
            f"  objective {res.objective:.2f}, bound {res.bound:.2f}, gap {res.gap:.2%},"
            f" {res.status} in {res.wall_s:.1f} s",
        ]
    )
    files: dict[str, str] = {}
    if request.out_dir is not None:
        out = request.out_dir
        out.mkdir(parents=True, exist_ok=True)
        (out / "timeslot_proposals.geojson").write_text(json.dumps(geo, indent=1))
        (out / "timeslot_summary.txt").write_text(summary + "\n" + "\n".join(src.notes) + "\n")
        proposal_map(
            out / "timeslot_map.png",
            src.title.replace("delivery-bay proposals", "delivery-only hours of each bay"),
            sites,
            sites.existing,
            src.demand,
            props,
            src.streets_xy,
            credits="; ".join(src.notes[:1]),
        )
        files = {
            "proposals": str(out / "timeslot_proposals.geojson"),
            "summary": str(out / "timeslot_summary.txt"),
            "map": str(out / "timeslot_map.png"),
        }
    return TimeslotResultModel(
        status=res.status,
        objective=res.objective,
        bound=res.bound,
        gap=res.gap,
        wall_s=res.wall_s,
        place_hours_released=res.place_hours_released,
        double_parking_before=res.double_parking_before,
        double_parking_after=res.double_parking_after,
        unreachable_cap=list(res.unreachable_cap),
        demand_simulated=simulated,
        proposals=geo,
        summary=summary,
        notes=src.notes,
        files=files,
    )


def request_error(exc: ValidationError) -> OptimiserInputError:
    """A pydantic validation error as one line naming the field and value."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    got = "" if "got" in msg else f" (got {err.get('input')!r})"
    return OptimiserInputError(f"{loc}: {msg}{got}")


__all__ = [
    "PlacementRequest",
    "PlacementResult",
    "Sources",
    "TimeslotRequest",
    "TimeslotResultModel",
    "request_error",
    "run_placement",
    "run_timeslots",
]
