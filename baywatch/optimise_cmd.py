"""``baywatch optimise placement|timeslots``: the optimiser on the command line.

From the database (``--db URL --area AREA [--period PERIOD]``: bays, sessions and
camera coverage; proposals are stored for planners unless ``--no-store``) or from files
(``--bays`` inventory in any format, ``--demand`` or ``--sessions`` + ``--zones``).
User mistakes print one ``error: ...`` line and exit 2, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from baywatch.console import err_console, fail
from baywatch.files import check_input_file, check_output_folder
from optimiser import walking
from optimiser.errors import OptimiserInputError
from optimiser.inputs import Budget, Costs, Rules
from optimiser.requests import PlacementRequest, Sources, TimeslotRequest, request_error

if TYPE_CHECKING:
    from optimiser.runners import Run

app = typer.Typer(
    help="Propose where delivery bays should be and which delivery regime each bay has.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
T = TypeVar("T")
GEODATA = Path(__file__).resolve().parents[2] / "shared" / "geodata"
SHOPS = GEODATA / "paris_shops_delivery.geojson"
STREETS = GEODATA / "paris_3e_streets.osm.pbf"

Db = Annotated[
    str | None, typer.Option(help="SQLAlchemy URL: read the area's bays and sessions from it")
]
Area = Annotated[
    str | None, typer.Option(help="area_id or area_name of the bays (e.g. 75103 or 'Paris 3e')")
]
Period = Annotated[
    str | None,
    typer.Option(
        help="START/END (ISO 8601; START..END too; an end date is included), YYYY-MM-DD,"
        " YYYY-MM, last<N>d or all, local time (default: every session)"
    ),
]
Shops = Annotated[
    Path | None,
    typer.Option(help="declared shops GeoJSON: demand where no camera watches (default: Paris's)"),
]
Store_ = Annotated[
    bool, typer.Option("--store/--no-store", help="with --db: store the proposals for review")
]
Instance = Annotated[
    str | None, typer.Option(help="bundled real instance: paris-3e (reads ../shared/geodata)")
]
Bays = Annotated[
    Path | None, typer.Option(help="bay inventory file: Paris CSV, CDS GeoJSON, CEREMA CSV, OSM")
]
BaysFormat = Annotated[str, typer.Option(help="auto, paris, cds, cerema or osm")]
DemandOpt = Annotated[Path | None, typer.Option(help="demand points GeoJSON/CSV")]
Sessions = Annotated[Path | None, typer.Option(help="sessions table CSV/Parquet")]
Zones = Annotated[Path | None, typer.Option(help="zones table CSV/Parquet (with sessions)")]
Cands = Annotated[Path | None, typer.Option(help="candidate kerb segments GeoJSON")]
Streets = Annotated[
    Path | None,
    typer.Option(help="OSM PBF: walking distances, and candidate kerb with --db (default: the 3e)"),
]
Out = Annotated[Path, typer.Option(help="folder for GeoJSON, summary and map")]
Fixed = Annotated[list[str] | None, typer.Option(help="bay id that must stay (repeatable)")]
AllowPermanent = Annotated[
    bool,
    typer.Option(help="let proposals remove or retime permanent (24/7) bays (off: kept)"),
]


def _guard(run: Callable[[], T]) -> T:
    try:
        return run()
    except ValidationError as exc:
        fail(str(request_error(exc)))
    except OptimiserInputError as exc:
        fail(str(exc))


# What each file option must hold: text formats are sniffed (a photo given as --shops is
# named, not a UnicodeDecodeError); binary ones (Parquet, OSM PBF) are only checked readable.
_TEXT = {"shops": "GeoJSON", "candidates": "GeoJSON", "demand": "GeoJSON or CSV"}
_OPTION = {"streets_pbf": "--streets"}


# Read from files only: with --db the database's bays and sessions are used instead.
_FILES_ONLY = ("bays", "demand", "sessions", "zones")


def _check_files(out: Path, db: str | None, **files: Path | None) -> None:
    """One ``error:`` line, before any work, for an input file that is missing, unreadable
    or not text where text is due, for a file option that --db would leave unread, and for
    an --out folder that cannot be made or written. A file given is always checked, even
    where the run would not read it."""
    for name, path in files.items():
        if path is None:
            continue
        option = _OPTION.get(name, "--" + name.replace("_", "-"))
        if db is not None and name in _FILES_ONLY:
            fail(f"{option} {path}: not read with --db (the database's bays and sessions are)")
        text = _TEXT.get(name)
        if name in ("sessions", "zones") and path.suffix.lower() != ".parquet":
            text = "CSV"
        check_input_file(path, option, text=text)
        if name == "streets_pbf":  # binary: GDAL's OSM driver is the judge of its content
            from optimiser.errors import OptimiserInputError
            from optimiser.sources import read_pbf_info

            try:
                read_pbf_info(path)
            except OptimiserInputError as exc:
                fail(f"{option} {exc}")
    check_output_folder(out, "--out")


def _sources(**kw: Any) -> Sources:
    """With --db, the shared Paris shops layer and 3e street extract are the defaults
    (demand where no camera watches; candidate kerb and walking distances)."""
    if kw.get("db") is not None:
        if kw.get("shops") is None and SHOPS.is_file():
            kw["shops"] = SHOPS
        if kw.get("streets_pbf") is None and STREETS.is_file():
            kw["streets_pbf"] = STREETS
    return Sources.model_validate({k: v for k, v in kw.items() if v is not None})


def _report(run: Run, kind: str, out: Path, db: str | None, store: bool, req: Any) -> None:
    from optimiser.runners import write_outputs

    typer.echo(run.result.summary)
    for note in run.result.notes:
        typer.echo(f"  note: {note}")
    for p in run.proposals:
        typer.echo(f"  - {p.action} {p.site_id} [{p.evidence}]: {p.reason}")
    for name, path in write_outputs(run, kind, out).items():
        typer.echo(f"  {name}: {path}")
    if db is not None and store:
        from occupancy.storage.store import Store, StoreError
        from optimiser.publish import save

        try:
            st = Store(db)
        except StoreError as exc:
            fail(str(exc))
        try:
            run_id, ids = save(st, kind, run, req.model_dump(mode="json"))
        finally:
            st.close()
        typer.echo(
            f"  stored: run {run_id}, {len(ids)} proposals pending review (GET /proposals"
            f" lists the newest {kind} run of each area: this one supersedes earlier ones)"
        )


@app.command()
def placement(
    db: Db = None,
    area: Area = None,
    period: Period = None,
    shops: Shops = None,
    store: Store_ = True,
    instance: Instance = None,
    bays: Bays = None,
    bays_format: BaysFormat = "auto",
    demand: DemandOpt = None,
    sessions: Sessions = None,
    zones: Zones = None,
    candidates: Cands = None,
    streets: Streets = None,
    walk_limit_m: float = typer.Option(
        walking.LIMIT_M, help="walk (m) at which a bay serves none of a point's deliveries"
    ),
    walk_full_m: float | None = typer.Option(
        None,
        help="walk (m) up to which a bay serves all of a point's deliveries"
        f" (default {walking.FULL_M:g}, or --walk-limit-m if shorter; at most --walk-limit-m)",
    ),
    walk_detour_factor: float = typer.Option(
        walking.DETOUR_FACTOR, help="walking m per straight-line m without a street graph"
    ),
    min_bay_length_m: float = typer.Option(
        10.0, help="shortest bay: a zone in place with no place count holds length // this (m)"
    ),
    new_bay_length_m: float | None = typer.Option(
        None,
        help="kerb metres of one new bay; default: sized from the delivery vehicles seen"
        " (their --new-bay-share quantile + 4 m to enter forwards, within CEREMA's 12-15 m)",
    ),
    new_bay_share: float = typer.Option(
        0.85, help="share of the delivery stops seen that a new bay must fit"
    ),
    fixed: Fixed = None,
    allow_permanent_changes: AllowPermanent = False,
    max_added: int | None = typer.Option(None, help="budget: bays added"),
    max_removed: int | None = typer.Option(None, help="budget: bays removed"),
    max_changes: int | None = typer.Option(20, help="budget: bays added + removed"),
    max_new_kerb_m: float | None = typer.Option(None, help="budget: kerb metres of new bays"),
    kerb_neutral: bool = typer.Option(False, help="total bay kerb metres may not grow"),
    double_parking_weight: float = typer.Option(1.0, help="objective weight"),
    time_limit_s: float = typer.Option(30.0, help="solver time limit (s)"),
    workers: int = typer.Option(8, help="solver threads/workers"),
    seed: int = typer.Option(0),
    solver: str = typer.Option("scip", help="scip (MIP interface) or cp-sat"),
    out: Out = Path("out/optimiser"),
) -> None:
    """Where bays should be: add, remove, move and enforce proposals with expected effects."""

    _check_files(
        out,
        db,
        shops=shops,
        bays=bays,
        demand=demand,
        sessions=sessions,
        zones=zones,
        candidates=candidates,
        streets_pbf=streets,
    )

    def go() -> None:
        from optimiser.runners import placement as run_placement

        src = _sources(
            db=db,
            area=area,
            period=period,
            shops=shops,
            instance=instance,
            bays=bays,
            bays_format=bays_format,
            demand=demand,
            sessions=sessions,
            zones=zones,
            candidates=candidates,
            streets_pbf=streets,
        )
        req = PlacementRequest.model_validate(
            {
                "sources": src,
                "budget": Budget(
                    max_added=max_added,
                    max_removed=max_removed,
                    max_changes=max_changes,
                    max_new_kerb_m=max_new_kerb_m,
                    kerb_neutral=kerb_neutral,
                ),
                "rules": Rules(
                    walk_limit_m=walk_limit_m,
                    walk_full_m=walk_full_m,
                    walk_detour_factor=walk_detour_factor,
                    min_bay_length_m=min_bay_length_m,
                    new_bay_length_m=new_bay_length_m,
                    new_bay_share=new_bay_share,
                    fixed_bay_ids=frozenset(fixed or []),
                    allow_permanent_changes=allow_permanent_changes,
                ),
                "costs": Costs(double_parking_weight=double_parking_weight),
                "time_limit_s": time_limit_s,
                "num_workers": workers,
                "seed": seed,
                "solver": solver,
            }
        )
        with err_console.status("optimising placement") as status:
            run = run_placement(req, progress=lambda m: status.update(m))
        _report(run, "placement", out, db, store, req)

    _guard(go)


@app.command()
def timeslots(
    db: Db = None,
    area: Area = None,
    period: Period = None,
    shops: Shops = None,
    store: Store_ = True,
    instance: Instance = None,
    bays: Bays = None,
    bays_format: BaysFormat = "auto",
    demand: DemandOpt = None,
    sessions: Sessions = None,
    zones: Zones = None,
    streets: Streets = None,
    zone_by: str = typer.Option("street", help="pool bays by street, area or bay"),
    regime: list[str] | None = typer.Option(
        None,
        help="opening_hours of a regime the city allows (repeatable; default Paris: 24/7 and"
        " 'Mo-Sa 07:00-20:00; PH off')",
    ),
    allow_permanent_changes: AllowPermanent = False,
    walk_limit_m: float = typer.Option(100.0, help="walking reach of a bay (m)"),
    blocking_cap: float = typer.Option(0.2, help="max P(no free bay) in any zone-hour"),
    release_value: float = typer.Option(0.1, help="value of a place-hour open to all"),
    time_limit_s: float = typer.Option(20.0, help="solver time limit (s)"),
    workers: int = typer.Option(8),
    seed: int = typer.Option(0),
    deterministic: bool = typer.Option(False, help="same answer for a seed (slower)"),
    out: Out = Path("out/optimiser"),
) -> None:
    """Which of the city's delivery regimes each bay should have, per day type."""

    _check_files(
        out,
        db,
        shops=shops,
        bays=bays,
        demand=demand,
        sessions=sessions,
        zones=zones,
        streets_pbf=streets,
    )

    def go() -> None:
        from optimiser.runners import timeslots as run_timeslots

        src = _sources(
            db=db,
            area=area,
            period=period,
            shops=shops,
            instance=instance,
            bays=bays,
            bays_format=bays_format,
            demand=demand,
            sessions=sessions,
            zones=zones,
            streets_pbf=streets,
        )
        req = TimeslotRequest.model_validate(
            {
                "sources": src,
                "zone_by": zone_by,
                "regimes": tuple(regime) if regime else None,
                "rules": Rules(
                    walk_limit_m=walk_limit_m, allow_permanent_changes=allow_permanent_changes
                ),
                "blocking_cap": blocking_cap,
                "release_value": release_value,
                "time_limit_s": time_limit_s,
                "num_workers": workers,
                "seed": seed,
                "deterministic": deterministic,
            }
        )
        with err_console.status("optimising delivery regimes") as status:
            run = run_timeslots(req, progress=lambda m: status.update(m))
        _report(run, "timeslots", out, db, store, req)

    _guard(go)
