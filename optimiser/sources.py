"""Load what a request's ``Sources`` name into model inputs (``Loaded``).

Three ways in: the database (``db`` + ``area`` + ``period``: bays, sessions, camera
coverage, see ``optimiser.observed``), the bundled Paris 3e instance, or files (a bay
inventory in any format ``occupancy.inventory`` reads, with demand points or a
sessions table). Every mistake is one ``OptimiserInputError`` line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimiser.bay_length import MIN_STOPS, NewBayLength, for_rules, local_lengths
from optimiser.errors import OptimiserInputError
from optimiser.inputs import (
    DEFAULT_DWELL_H,
    ESTIMATED_DAY_FACTOR,
    TYPICAL_URBAN_PROFILE,
    Demand,
    Rules,
    Sites,
)
from optimiser.loaders import (
    candidate_midpoints,
    candidates_from_geojson,
    demand_from_file,
    sites_from_zones,
    with_candidates,
    zones_from_inventory,
)
from optimiser.requests import Sources

Progress = Callable[[str], None]


@dataclass(frozen=True, eq=False)
class Loaded:
    """What an optimiser run reads: sites, demand, streets, notes, stop profile and dwell, title, area."""

    sites: Sites
    demand: Demand
    graph: object | None
    streets_xy: list[np.ndarray]
    notes: list[str]
    profile: tuple[float, ...]
    dwell_h: float
    street_of: list[str]
    title: str
    area_id: str | None = None
    period_ms: tuple[int | None, int | None] = (None, None)
    # Observed deliveries a day per bay id, (3 day types, 24 h), when sessions were read.
    arrivals: dict[str, np.ndarray] = field(default_factory=dict)
    observed_profile: bool = False
    # The length of one new bay and how it was chosen (optimiser.bay_length).
    new_bay: NewBayLength | None = None
    # Each candidate's own new-bay length where it differs by place (candidate id -> it).
    new_bay_by_site: dict[str, NewBayLength] = field(default_factory=dict)
    # Share of each day type's time-slot arrivals counted in watched hours (NaN: none).
    observed_by_day_type: tuple[float, ...] = ()
    # Deliveries a day of each day type counted in watched hours, and simulated.
    observed_per_day_type: tuple[float, ...] = ()
    simulated_per_day_type: tuple[float, ...] = ()


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise OptimiserInputError(f"{path}: file not found")
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def load(
    src: Sources,
    rules: Rules,
    profile: tuple[float, ...] | None,
    dwell_h: float | None,
    progress: Progress,
    tz: str = "Europe/Paris",
    candidates: bool = True,
) -> Loaded:
    """Everything the models read, from the database or from files; ``candidates=False``
    leaves out candidate kerb (the time-slot model schedules the bays in place only)."""
    if src.db is not None:
        return _from_db(src, rules, profile, dwell_h, progress, tz, candidates)
    if src.instance == "paris-3e":
        from optimiser.instances import paris_3e

        progress("reading the Paris 3e instance (bays, shops, OSM streets)")
        inst = paris_3e(rules)
        new_bay = for_rules(None, rules)
        return Loaded(
            sites=inst.sites,
            demand=inst.demand,
            graph=inst.graph,
            streets_xy=inst.streets_xy,
            notes=[*inst.notes, _length_note(new_bay)],
            profile=profile or TYPICAL_URBAN_PROFILE,
            dwell_h=dwell_h or DEFAULT_DWELL_H,
            street_of=list(inst.street_of),
            title="Paris 3e: delivery-bay proposals",
            area_id="75103",
            new_bay=new_bay,
        )
    return _from_files(src, rules, profile, dwell_h)


def _from_db(
    src: Sources,
    rules: Rules,
    profile: tuple[float, ...] | None,
    dwell_h: float | None,
    progress: Progress,
    tz: str,
    candidates: bool,
) -> Loaded:
    from optimiser.observed import area_demand, session_bays
    from optimiser.store_inputs import parse_period, period_bounds, read_area

    if not src.area:
        raise OptimiserInputError("sources: a database needs an area (--area AREA)")
    start, end = period_bounds(src.db or "", src.area, parse_period(src.period, tz))
    progress(f"reading area {src.area} from the database")
    inputs = read_area(src.db or "", src.area, start, end, tz=tz)
    # No stop stored (observed or simulated) and no camera watching: the period says nothing
    # about this area. Zero stops seen by a running camera are data; this is its absence.
    unseen = inputs.sessions.empty and not any(h > 0 for h in inputs.camera_hours.values())
    if unseen and not candidates:
        raise OptimiserInputError(
            f"area {src.area}: no data in the period {src.period or 'all'}: no session"
            " (observed or simulated) and no camera hour; nothing to schedule, nothing stored"
        )
    area = area_demand(inputs, rules, tz=tz, shops=src.shops)
    sites = area.sites
    notes = list(area.notes)
    if unseen:
        notes.insert(
            0,
            f"NOTHING OBSERVED in the period {src.period or 'all'}: no session (observed or"
            " simulated) and no camera hour in this area; every proposal rests on estimated"
            " demand only",
        )
    new_bay = for_rules(inputs.sessions, rules)
    bays = sites
    bay_of = session_bays(inputs)

    def lengths(lines: list[list[tuple[float, float]]]) -> list[NewBayLength]:
        mids = candidate_midpoints(lines)
        return local_lengths(mids, bays.xy, bays.ids, inputs.sessions, bay_of, rules, new_bay)

    per: list[NewBayLength] = []
    area_id = str(inputs.zones["area_id"].iloc[0]) if "area_id" in inputs.zones else src.area
    pbf = src.streets_pbf
    if pbf is not None and not _covers(pbf, sites.lonlat):
        notes.append(
            f"{pbf.name} does not cover this area's bays: straight-line walking distances"
            " and no OSM candidate kerb"
        )
        pbf = None
    if not candidates:
        pass
    elif src.candidates is not None:
        cid, lines, usable = candidates_from_geojson(src.candidates, rules)
        per = lengths(lines)
        sites = with_candidates(
            sites,
            cid,
            lines,
            usable,
            rules,
            area=[area_id] * len(cid),
            length_m=[p.length_m for p in per],
        )
    elif pbf is not None:
        progress("candidate kerb from OpenStreetMap")
        sites, note, per = _osm_candidates(pbf, sites, rules, area_id, lengths)
        notes.append(note)
    by_site = dict(zip(sites.ids[len(bays) :], per, strict=True))
    if candidates:
        notes.append(_length_note(new_bay))
        own = sum(p is not new_bay for p in per)
        if own:
            notes.append(
                f"new bays: {own} of {len(per)} candidates sized from the stops at the bays"
                f" within {rules.walk_limit_m:g} m of them ({MIN_STOPS} or more seen there),"
                " the others at the area's length"
            )
    graph, streets_xy = _streets(pbf)
    return Loaded(
        sites=sites,
        demand=area.demand,
        graph=graph,
        streets_xy=streets_xy,
        notes=notes,
        profile=profile or area.profile,
        dwell_h=dwell_h or area.dwell_h,
        street_of=list(area.street_of),
        title=f"{src.area}: delivery-bay proposals",
        area_id=area_id,
        period_ms=(inputs.start_ms, inputs.end_ms),
        arrivals=area.arrivals,
        observed_profile=bool(area.arrivals),
        new_bay=new_bay if candidates else None,
        new_bay_by_site=by_site,
        observed_by_day_type=area.observed_by_day_type,
        observed_per_day_type=area.observed_per_day_type,
        simulated_per_day_type=area.simulated_per_day_type,
    )


def _from_files(
    src: Sources, rules: Rules, profile: tuple[float, ...] | None, dwell_h: float | None
) -> Loaded:
    notes: list[str] = []
    if src.bays is not None:
        zones = zones_from_inventory(src.bays, src.bays_format, src.area)
    elif src.zones is not None:
        zones = _read_table(src.zones)
    else:
        raise OptimiserInputError("sources: give db + area, instance, bays or zones")
    sites = sites_from_zones(zones, rules)
    sessions = None
    if src.sessions is not None:
        if src.zones is None:
            raise OptimiserInputError("sources: sessions need the zones table (zones=...)")
        sessions = _read_table(src.sessions)
    new_bay = for_rules(sessions, rules)
    if src.candidates is not None:
        cid, lines, usable = candidates_from_geojson(src.candidates, rules)
        sites = with_candidates(sites, cid, lines, usable, rules, length_m=new_bay.length_m)
        notes.append(_length_note(new_bay))
    prof, dwell = profile, dwell_h
    arrivals: dict[str, np.ndarray] = {}
    if sessions is not None:
        from optimiser.sessions import demand_from_sessions

        assert src.zones is not None
        obs = demand_from_sessions(sessions, _read_table(src.zones))
        demand: Demand = obs.demand
        prof, dwell = prof or obs.profile, dwell or obs.dwell_h
        notes.append(f"demand: observed sessions over {obs.n_days} day(s)")
        arrivals = {
            str(z): np.outer(ESTIMATED_DAY_FACTOR, row.to_numpy(dtype=float))
            for z, row in obs.arrivals.iterrows()
        }
    elif src.demand is not None:
        demand = demand_from_file(src.demand, src.weight_field)
        if demand.simulated:
            notes.append(f"demand: no '{src.weight_field}' field, every point weighs 1 (simulated)")
    else:
        raise OptimiserInputError("sources: give demand (points file) or sessions")
    if prof is None:
        notes.append("hourly profile: assumed typical urban delivery day (estimated)")
    graph, streets_xy = _streets(src.streets_pbf)
    street_col = next(
        (zones[c] for c in ("street_name", "street", "area_id") if c in zones.columns), None
    )
    street_of = (
        [str(v) if pd.notna(v) else "" for v in street_col] if street_col is not None else []
    )
    street_of += ["" for _ in range(len(sites) - len(street_of))]
    return Loaded(
        sites=sites,
        demand=demand,
        graph=graph,
        streets_xy=streets_xy,
        notes=notes,
        profile=prof or TYPICAL_URBAN_PROFILE,
        dwell_h=dwell or DEFAULT_DWELL_H,
        street_of=street_of,
        title="delivery-bay proposals",
        area_id=src.area,
        arrivals=arrivals,
        observed_profile=src.sessions is not None,
        new_bay=new_bay if src.candidates is not None else None,
    )


def _streets(pbf: Path | None) -> tuple[object | None, list[np.ndarray]]:
    if pbf is None:
        return None, []

    from optimiser.distances import street_graph
    from optimiser.instances import WALK_HIGHWAYS

    lines_df = read_pbf_layer(pbf, "lines")
    lines_df = lines_df[lines_df["highway"].isin(WALK_HIGHWAYS)]
    streets_xy = [np.asarray(g.coords) for g in lines_df.to_crs(2154).geometry]
    return street_graph(streets_xy), streets_xy


def _length_note(new_bay: NewBayLength) -> str:
    return f"new bays: {new_bay.basis} [{new_bay.evidence}]"


def _osm_candidates(
    pbf: Path,
    sites: Sites,
    rules: Rules,
    area_id: str,
    lengths: Callable[[list[list[tuple[float, float]]]], list[NewBayLength]],
) -> tuple[Sites, str, list[NewBayLength]]:
    """Existing bays plus candidate kerb cut from the OSM extract (``optimiser.kerb``) inside
    the bays' convex hull, grown by 30 m, each with the length ``lengths`` gives it."""
    import shapely

    from optimiser.kerb import kerb_candidates

    lines = read_pbf_layer(pbf, "lines")
    points = read_pbf_layer(pbf, "points")
    hull = shapely.convex_hull(shapely.multipoints(sites.xy)).buffer(30.0)
    cid, clines, usable, skipped = kerb_candidates(lines, points, hull, sites.xy)
    per = lengths(clines)
    out = with_candidates(
        sites,
        cid,
        clines,
        usable,
        rules,
        area=[area_id] * len(cid),
        length_m=[p.length_m for p in per],
    )
    note = (
        f"candidates: {len(cid)} OSM kerb pieces, one per side ({pbf.name});"
        f" {skipped['bus_lane_sides']} bus-lane sides (of {skipped['bus_lane_ways']} ways)"
        " and the 5 m before junctions and crossings left out"
    )
    return out, note, per


COVER_SHARE = 0.9


def read_pbf_info(pbf: Path) -> dict[str, Any]:
    """GDAL's description of an OSM PBF's ``lines`` layer (pyogrio.read_info); raises
    ``OptimiserInputError`` as ``read_pbf_layer`` does."""
    import pyogrio

    return dict(_osm(pbf, lambda: pyogrio.read_info(pbf, layer="lines")))


def read_pbf_layer(pbf: Path, layer: str) -> Any:
    """One layer of an OSM PBF extract as a GeoDataFrame (pyogrio); a missing file or one
    GDAL cannot read as OSM is an ``OptimiserInputError`` naming it, not a driver traceback."""
    import pyogrio

    return _osm(pbf, lambda: pyogrio.read_dataframe(pbf, layer=layer))


def _osm(pbf: Path, read: Callable[[], Any]) -> Any:
    from pyogrio.errors import DataLayerError, DataSourceError

    if not pbf.is_file():
        raise OptimiserInputError(f"{pbf}: file not found")
    try:
        return read()
    except (DataSourceError, DataLayerError) as exc:
        why = " ".join(str(exc).split())
        raise OptimiserInputError(f"{pbf}: not an OSM PBF extract GDAL can read ({why})") from None


def _covers(pbf: Path, lonlat: np.ndarray) -> bool:
    """Whether at least ``COVER_SHARE`` of the bays lie inside the extract's street extent
    (its lines' bounding box): a city-wide database with a one-district extract must not
    route walks through streets it lacks."""
    bounds = read_pbf_info(pbf).get("total_bounds")
    if bounds is None:  # the driver could not tell: trust the user's extract
        return True
    x0, y0, x1, y1 = bounds
    inside = (
        (lonlat[:, 0] >= x0) & (lonlat[:, 0] <= x1) & (lonlat[:, 1] >= y0) & (lonlat[:, 1] <= y1)
    )
    return bool(inside.mean() >= COVER_SHARE)
