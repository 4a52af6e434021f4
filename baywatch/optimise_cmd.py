"""``baywatch optimise placement|timeslots``: the optimiser on the command line.

User mistakes print one ``error: ...`` line and exit 2, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from optimiser.api import (
    PlacementRequest,
    Sources,
    TimeslotRequest,
    request_error,
    run_placement,
    run_timeslots,
)
from optimiser.errors import OptimiserInputError
from optimiser.inputs import Budget, Costs, Rules

app = typer.Typer(
    help="Propose where delivery bays should be and when they serve deliveries.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")

Instance = Annotated[
    str | None, typer.Option(help="bundled real instance: paris-3e (reads ../shared/geodata)")
]
BaysCsv = Annotated[Path | None, typer.Option(help="Paris open-data bay CSV")]
Arr = Annotated[int | None, typer.Option(help="only this arrondissement of the bay CSV")]
BaysGeo = Annotated[Path | None, typer.Option(help="CDS curb-zones GeoJSON")]
DemandOpt = Annotated[Path | None, typer.Option(help="demand points GeoJSON/CSV")]
Sessions = Annotated[Path | None, typer.Option(help="sessions table CSV/Parquet")]
Zones = Annotated[Path | None, typer.Option(help="zones table CSV/Parquet (with sessions)")]
Cands = Annotated[Path | None, typer.Option(help="candidate kerb segments GeoJSON")]
Streets = Annotated[Path | None, typer.Option(help="OSM PBF for walking distances")]
Out = Annotated[Path, typer.Option(help="folder for GeoJSON, summary and map")]
Fixed = Annotated[list[str] | None, typer.Option(help="bay id that must stay (repeatable)")]


def _guard(run: Callable[[], T]) -> T:
    try:
        return run()
    except ValidationError as exc:
        console.print(f"error: {request_error(exc)}", markup=False)
        raise typer.Exit(2) from None
    except OptimiserInputError as exc:
        console.print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None


def _sources(
    instance: str | None,
    bays_csv: Path | None,
    arrondissement: int | None,
    bays_geojson: Path | None,
    demand: Path | None,
    sessions: Path | None,
    zones: Path | None,
    candidates: Path | None,
    streets: Path | None,
) -> Sources:
    return Sources.model_validate(
        {
            "instance": instance,
            "bays_csv": bays_csv,
            "arrondissement": arrondissement,
            "bays_geojson": bays_geojson,
            "demand": demand,
            "sessions": sessions,
            "zones": zones,
            "candidates": candidates,
            "streets_pbf": streets,
        }
    )


@app.command()
def placement(
    instance: Instance = None,
    bays_csv: BaysCsv = None,
    arrondissement: Arr = None,
    bays_geojson: BaysGeo = None,
    demand: DemandOpt = None,
    sessions: Sessions = None,
    zones: Zones = None,
    candidates: Cands = None,
    streets: Streets = None,
    walk_limit_m: float = typer.Option(100.0, help="walking reach of a bay (m)"),
    min_bay_length_m: float = typer.Option(10.0, help="length of one new bay (m)"),
    fixed: Fixed = None,
    max_added: int | None = typer.Option(None, help="budget: bays added"),
    max_removed: int | None = typer.Option(None, help="budget: bays removed"),
    max_changes: int | None = typer.Option(20, help="budget: bays added + removed"),
    max_new_kerb_m: float | None = typer.Option(None, help="budget: kerb metres of new bays"),
    kerb_neutral: bool = typer.Option(False, help="total bay kerb metres may not grow"),
    double_parking_weight: float = typer.Option(1.0, help="objective weight"),
    time_limit_s: float = typer.Option(30.0, help="solver time limit"),
    workers: int = typer.Option(8, help="solver threads/workers"),
    seed: int = typer.Option(0),
    solver: str = typer.Option("scip", help="scip (MIP interface) or cp-sat"),
    out: Out = Path("out/optimiser"),
) -> None:
    """Where bays should be: add, remove and move proposals with expected effects."""

    def go() -> None:
        src = _sources(
            instance,
            bays_csv,
            arrondissement,
            bays_geojson,
            demand,
            sessions,
            zones,
            candidates,
            streets,
        )
        budget = Budget(
            max_added=max_added,
            max_removed=max_removed,
            max_changes=max_changes,
            max_new_kerb_m=max_new_kerb_m,
        )
        req = PlacementRequest.model_validate(
            {
                "sources": src,
                "budget": budget,
                "rules": Rules(
                    walk_limit_m=walk_limit_m,
                    min_bay_length_m=min_bay_length_m,
                    fixed_bay_ids=frozenset(fixed or []),
                ),
                "costs": Costs(double_parking_weight=double_parking_weight),
                "time_limit_s": time_limit_s,
                "num_workers": workers,
                "seed": seed,
                "solver": solver,
                "out_dir": out,
            }
        )
        if kerb_neutral:
            req = req.model_copy(
                update={"budget": budget.model_copy(update={"max_total_kerb_m": _kerb_now(req)})}
            )
        with console.status("optimising placement") as status:
            res = run_placement(req, progress=lambda m: status.update(m))
        typer.echo(res.summary)
        for note in res.notes:
            typer.echo(f"  note: {note}")
        for name, path in res.files.items():
            typer.echo(f"  {name}: {path}")

    _guard(go)


def _kerb_now(req: PlacementRequest) -> float:
    """Kerb metres of the bays in place (for --kerb-neutral)."""
    from optimiser.api import _load

    src = _load(req.sources, req.rules, req.profile, req.dwell_h, lambda _: None)
    return float((src.sites.existing * src.sites.bay_length_m).sum()) + 1e-6


@app.command()
def timeslots(
    instance: Instance = None,
    bays_csv: BaysCsv = None,
    arrondissement: Arr = None,
    bays_geojson: BaysGeo = None,
    demand: DemandOpt = None,
    sessions: Sessions = None,
    zones: Zones = None,
    streets: Streets = None,
    zone_by: str = typer.Option("street", help="pool bays by street, area or bay"),
    walk_limit_m: float = typer.Option(100.0, help="walking reach of a bay (m)"),
    blocking_cap: float = typer.Option(0.2, help="max P(no free bay) in any zone-hour"),
    min_window_h: int = typer.Option(2, help="shortest delivery window (h)"),
    max_windows: int = typer.Option(2, help="most delivery windows a day"),
    release_value: float = typer.Option(0.1, help="value of a place-hour given back"),
    time_limit_s: float = typer.Option(20.0, help="solver time limit (s)"),
    workers: int = typer.Option(8),
    seed: int = typer.Option(0),
    deterministic: bool = typer.Option(False, help="same answer for a seed (slower)"),
    out: Out = Path("out/optimiser"),
) -> None:
    """In which hours each bay serves deliveries only: retime proposals."""

    def go() -> None:
        src = _sources(
            instance, bays_csv, arrondissement, bays_geojson, demand, sessions, zones, None, streets
        )
        req = TimeslotRequest.model_validate(
            {
                "sources": src,
                "zone_by": zone_by,
                "rules": Rules(walk_limit_m=walk_limit_m),
                "blocking_cap": blocking_cap,
                "min_window_h": min_window_h,
                "max_windows": max_windows,
                "release_value": release_value,
                "time_limit_s": time_limit_s,
                "num_workers": workers,
                "seed": seed,
                "deterministic": deterministic,
                "out_dir": out,
            }
        )
        with console.status("optimising delivery hours") as status:
            res = run_timeslots(req, progress=lambda m: status.update(m))
        typer.echo(res.summary)
        for note in res.notes:
            typer.echo(f"  note: {note}")
        for name, path in res.files.items():
            typer.echo(f"  {name}: {path}")

    _guard(go)
