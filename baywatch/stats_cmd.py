"""``baywatch import-bays | simulate | stats | report``: the statistics commands.

``register(app)`` adds them to the main typer app (``baywatch.cli``). User
errors print one ``error: ...`` line and exit with status 2.
"""

from __future__ import annotations

import functools
import math
import numbers
import os
import sys
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NamedTuple, ParamSpec

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from baywatch.console import err_console, fail
from baywatch.files import check_input_file, check_output_file, check_output_folder
from occupancy.config.settings import get_settings
from occupancy.domain.lazy import lazy_import
from occupancy.domain.states import COMMS_EVENTS

if TYPE_CHECKING:
    import pandas as pd

    import occupancy.domain.period as period_mod
    import occupancy.inventory.bays as bays_mod
    import occupancy.inventory.opening_hours as opening_hours_mod
    import occupancy.statistics.exports as exports
    import occupancy.statistics.hourly as stats
    import occupancy.statistics.spatial as spatial
    import occupancy.storage.store as store_mod
else:
    bays_mod = lazy_import("occupancy.inventory.bays")
    period_mod = lazy_import("occupancy.domain.period")
    opening_hours_mod = lazy_import("occupancy.inventory.opening_hours")
    store_mod = lazy_import("occupancy.storage.store")
    pd = lazy_import("pandas")
    exports = lazy_import("occupancy.statistics.exports")
    spatial = lazy_import("occupancy.statistics.spatial")
    stats = lazy_import("occupancy.statistics.hourly")


console = Console(soft_wrap=True)
P = ParamSpec("P")

DbOpt = Annotated[
    str | None, typer.Option("--db", help="SQLAlchemy URL (default: BAYWATCH_DB or sqlite file)")
]
TzOpt = Annotated[str | None, typer.Option("--tz", help="site time zone (default: BAYWATCH_TZ)")]
PeriodOpt = Annotated[
    str,
    typer.Option(
        "--period",
        help="all | YYYY-MM-DD | YYYY-MM | START/END (ISO 8601; START..END too; an end date"
        " is included) | last<N>d",
    ),
]


class By(StrEnum):
    """How ``baywatch stats`` groups: per bay, per area, or per H3 cell."""

    bay = "bay"
    area = "area"
    h3 = "h3"


class OutFormat(StrEnum):
    """Output formats of ``baywatch stats``: a table, CSV, GeoJSON, GeoParquet or CDS files."""

    table = "table"
    csv = "csv"
    geojson = "geojson"
    geoparquet = "geoparquet"
    cds_aggregates = "cds-aggregates"
    cds_sessions = "cds-sessions"


def _store(db: str | None, *, must_exist: bool = False) -> store_mod.Store:
    try:
        return store_mod.Store(db or get_settings().db, must_exist=must_exist)
    except store_mod.StoreError as exc:
        fail(str(exc))


def _tz(tz: str | None) -> str:
    name = tz or get_settings().tz
    try:
        pd.Timestamp(0, tz=name)
    except Exception:
        fail(f"unknown time zone {name!r}")
    return name


def _period(text: str, tz: str) -> period_mod.Period:
    try:
        return period_mod.parse_period(text, tz)
    except period_mod.PeriodError as exc:
        fail(f"bad --period {text!r}: {exc.why}")


def observed_span(sessions: pd.DataFrame, runs: pd.DataFrame) -> tuple[int | None, int | None]:
    """[first, last] epoch ms of what the database observed: its sessions and its camera
    runs' footage (a live run without an end runs until now). (None, None) when empty."""
    starts = [int(sessions["start_ms"].min())] if len(sessions) else []
    ends = [int(sessions["end_ms"].max())] if len(sessions) else []
    if len(runs):
        a = pd.to_numeric(runs["footage_start_ms"], errors="coerce")
        b = pd.to_numeric(runs["footage_end_ms"], errors="coerce")
        ran = a.notna()
        if ran.any():
            starts.append(int(a[ran].min()))
            ends.append(int(b[ran].fillna(store_mod.now_ms()).max()))
    if not starts:
        return None, None
    return min(starts), max(ends)


class Source(StrEnum):
    """Which sessions statistics are drawn from: never observed and simulated together."""

    auto = "auto"
    observed = "observed"
    simulated = "simulated"


SourceOpt = Annotated[
    Source,
    typer.Option(
        "--source",
        help="observed | simulated | auto (observed when anything was observed, else "
        "simulated); the two are never mixed",
    ),
]


class Loaded(NamedTuple):
    """What statistics are computed from: bays, one source's sessions, the period (epoch
    ms), the unobserved intervals and the label of every figure."""

    zones: pd.DataFrame
    sessions: pd.DataFrame
    start: int
    end: int
    offline: pd.DataFrame
    prov: str  # the data_source_type of every figure drawn from ``sessions``


def _load(store: store_mod.Store, period: str, tz: str, source: Source = Source.auto) -> Loaded:
    zones = store.zones_frame()
    if zones.empty:
        fail("no bays in the database: run 'baywatch import-bays FILE' first")
    wanted = _period(period, tz)
    runs = store.runs_frame()
    picked = stats.select_source(store.sessions_frame(), str(source), camera_runs=len(runs))
    sessions = picked.sessions
    simulated = picked.source == stats.SIMULATED
    if simulated:
        # The simulator covers its own days: cameras' runs and comms do not bound it.
        runs = runs.iloc[0:0]
    if picked.left_out:
        other = "observed" if simulated else "simulated"
        err_console.print(  # stderr: stdout may be a CSV
            f"{picked.left_out:,} {other} session(s) left out: observed and simulated "
            f"figures are never mixed (--source {other} shows them)",
            highlight=False,
        )
    first, last = observed_span(sessions, runs)
    if first is None and wanted.start_ms is None:
        if picked.left_out:
            fail(f"no {picked.source} session and no camera run in the database")
        fail(
            "nothing observed in the database: no session and no camera run (analyse "
            "footage with 'baywatch analyse', or run 'baywatch simulate')"
        )
    start, end = wanted.resolve(first, last)
    # Bays nothing ever observed (no camera, no session of any source): unobserved, not 0.
    unsourced = stats.unsourced_intervals(
        zones.assign(device_id=None) if simulated else zones, sessions, start, end, tz=tz
    )
    sessions = sessions[(sessions["end_ms"] > start) & (sessions["start_ms"] < end)]
    if simulated:
        offline = unsourced
    else:
        events = store.events_frame(event_types=[str(e) for e in COMMS_EVENTS], end_ms=end)
        # Hours a camera did not watch (no run's footage, comms lost) are unobserved, not 0.
        offline = stats.unwatched_intervals(events, runs, start, end, tz=tz)
        if len(unsourced):
            offline = pd.concat([offline, unsourced], ignore_index=True)
    return Loaded(zones, sessions, start, end, offline, picked.label)


def _banner(prov: str) -> None:
    if "simulated" in prov:
        console.print(
            "[bold white on red] SIMULATED DATA [/] these statistics come from simulated "
            "sessions, not observation"
        )


def _print_table(frame: pd.DataFrame, title: str, limit: int) -> None:
    t = Table(title=title, show_lines=False)
    for c in frame.columns:
        numeric = frame[c].dtype.kind in "fiu" or all(isinstance(v, numbers.Real) for v in frame[c])
        t.add_column(
            str(c),
            justify="right" if numeric else "left",
            no_wrap=True,
            overflow="ellipsis",
            max_width=None if numeric else 26,
        )
    for rec in frame.head(limit).itertuples(index=False):
        t.add_row(*[_cell(v) for v in rec])
    # Piped output has no terminal width: do not squeeze numbers into 80 columns.
    wide = console if console.is_terminal else Console(width=max(console.width, 150))
    wide.print(t)
    if len(frame) > limit:
        console.print(f"... {len(frame) - limit:,} more rows (use --limit or --format csv)")
    if any(isinstance(v, float) and math.isnan(v) for v in frame.head(limit).to_numpy().ravel()):
        console.print(NO_VALUE_NOTE, highlight=False)


# A figure that has no value is marked, never printed as "nan" nor as 0.
NO_VALUE = "—"
NO_VALUE_NOTE = (
    f"{NO_VALUE} no value: dwell times and shares need at least one session; every figure "
    "needs at least one observed hour ('obs h': an hour counts as observed when a camera "
    "watched most of it, CDS's offline rule; an unobserved hour is not 0 %)"
)


def _cell(v: object) -> str:
    if isinstance(v, float):  # numpy's float64 too
        return NO_VALUE if math.isnan(v) else f"{v:,.1f}"
    return "" if v is None else str(v)


def import_bays(
    file: Annotated[Path, typer.Argument(help="inventory file (CSV or GeoJSON)")],
    fmt: Annotated[
        str, typer.Option("--format", help="auto | cerema | cds | paris | osm")
    ] = "auto",
    streets: Annotated[
        Path | None,
        typer.Option("--streets", help="street lines (OSM PBF/GeoJSON) to align bays to"),
    ] = None,
    area: Annotated[
        Path | None,
        typer.Option(
            "--area", help="GeoJSON polygon the inventory covers; bays outside are rejected"
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="store nothing and exit 2 if any record is rejected (default: skip)"
        ),
    ] = False,
    db: DbOpt = None,
) -> None:
    """Import a city's delivery-bay inventory; bad records are listed and skipped.

    Each rejected record is printed with its line (or feature) number, field and value, and
    is not stored; the other bays are. A bay is an independent record: one typo in a city's
    9,000-row file should not keep the 8,999 good bays off the map, and nothing wrong is
    stored. With --strict, any rejected record stores nothing and exits 2 (for pipelines
    that must take a file whole or not at all).
    """
    if fmt not in bays_mod.FORMATS:
        fail(f"unknown --format {fmt!r}; choose one of {', '.join(bays_mod.FORMATS)}")
    try:
        res = bays_mod.load_bays(file, fmt, streets=streets, area=area)
    except (bays_mod.InventoryError, opening_hours_mod.OpeningHoursError) as exc:
        fail(str(exc))
    except Exception as exc:  # unreadable street layer and the like
        fail(f"{file}: {exc}")
    if not res.zones:
        first = f" (first: {res.rejected[0]})" if res.rejected else ""
        fail(f"{file}: no valid bay{first}")
    if strict and res.rejected:
        more = f" (and {len(res.rejected) - 1:,} more)" if len(res.rejected) > 1 else ""
        fail(f"{file}: {res.rejected[0]}{more}; nothing stored (--strict)")
    store = _store(db)
    store.upsert_zones(res.zones)
    console.print(
        f"imported {len(res.zones):,} bays from {file} (format {res.fmt}); "
        f"rejected {len(res.rejected):,}; warnings {len(res.warnings):,}"
    )
    for label, items in (("rejected", res.rejected), ("warning", res.warnings)):
        for r in items[:20]:
            console.print(f"  {label}: {r}", markup=False, highlight=False)
        if len(items) > 20:
            console.print(f"  ... and {len(items) - 20:,} more")


def simulate(
    days: Annotated[int, typer.Option(min=1, max=3660, help="days to simulate")] = 7,
    start: Annotated[
        str | None, typer.Option(help="first local day, YYYY-MM-DD (default: 'days' ago)")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same sessions)")] = 0,
    stops_per_bay_day: Annotated[float, typer.Option(min=0.0)] = 5.0,
    replace: Annotated[bool, typer.Option(help="delete earlier simulated sessions first")] = True,
    tz: TzOpt = None,
    db: DbOpt = None,
) -> None:
    """Write simulated sessions (data_source_type=simulated) for every bay in the database."""
    from occupancy.evaluation.simulate import simulate_sessions

    zone_tz = _tz(tz)
    store = _store(db)
    zones = store.zones_frame()
    if zones.empty:
        fail("no bays in the database: run 'baywatch import-bays FILE' first")
    try:
        first = (
            datetime.fromisoformat(start)
            if start
            else (pd.Timestamp.now(tz=zone_tz).normalize() - pd.Timedelta(days=days))
            .tz_localize(None)
            .to_pydatetime()
        )
    except ValueError:
        fail(f"bad --start {start!r}: use YYYY-MM-DD")
    frame = simulate_sessions(
        zones, start=first, days=days, seed=seed, stops_per_bay_day=stops_per_bay_day, tz=zone_tz
    )
    if replace:
        gone = store.delete_sessions(data_source_type="simulated")
        if gone:
            console.print(f"deleted {gone:,} earlier simulated sessions")
    chunk = 50_000
    with Progress(
        TextColumn("writing simulated sessions"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("write", total=len(frame))
        for i in range(0, len(frame), chunk):
            n = store.write_sessions_frame(frame.iloc[i : i + chunk])
            bar.advance(task, n)
    console.print(
        f"[bold white on red] SIMULATED [/] {len(frame):,} sessions for {len(zones):,} bays, "
        f"{days} days from {first:%Y-%m-%d}, seed {seed}"
    )


def stats_cmd(
    by: Annotated[By, typer.Option("--by", help="bay | area | h3")] = By.bay,
    period: PeriodOpt = "all",
    fmt: Annotated[OutFormat, typer.Option("--format")] = OutFormat.table,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="file to write")] = None,
    areas: Annotated[
        Path | None,
        typer.Option("--areas", help="polygon layer (GeoJSON/GeoPackage) for --by area"),
    ] = None,
    area_id: Annotated[str | None, typer.Option(help="id column of --areas")] = None,
    h3_res: Annotated[int, typer.Option("--h3-res", min=0, max=15)] = 9,
    limit: Annotated[int, typer.Option(min=1, help="rows shown by the table format")] = 25,
    source: SourceOpt = Source.auto,
    tz: TzOpt = None,
    db: DbOpt = None,
) -> None:
    """Occupancy statistics per bay, area or H3 cell (CDS Metrics definitions)."""
    zone_tz = _tz(tz)
    if fmt in (OutFormat.geojson, OutFormat.geoparquet) and output is None:
        fail(f"--format {fmt} needs --output FILE")
    if fmt == OutFormat.cds_aggregates and by != By.bay:
        fail("--format cds-aggregates is per bay (CDS zone): use --by bay")
    if output is not None:
        check_output_file(output, "--output")
    if areas is not None:
        check_input_file(areas, "--areas")
    store = _store(db, must_exist=True)  # reading: a mistyped path is an error
    zones, sessions, start, end, offline, prov = _load(store, period, zone_tz, source)

    if fmt == OutFormat.cds_sessions:
        out = exports.cds_sessions(sessions, zones)
        _write_csv(out, output)
        return
    if fmt == OutFormat.cds_aggregates:
        p = stats.prepare(sessions, zones, offline=offline)
        frames = (
            exports.cds_aggregates(b, data_source_type=prov)
            for b in stats.iter_hourly_aggregates(p, start_ms=start, end_ms=end, tz=zone_tz)
        )
        if output is None:
            for i, f in enumerate(frames):
                f.to_csv(sys.stdout, index=False, header=i == 0, float_format=exports.CDS_FLOAT)
        else:
            exports.write_cds_csv(frames, output)
            console.print(f"wrote {output}")
        return

    totals = stats.period_totals(
        sessions, zones, start_ms=start, end_ms=end, tz=zone_tz, offline=offline
    )
    try:
        if by == By.bay:
            geo = spatial.bays_frame(zones)[
                ["curb_zone_id", "name", "street_name", "area_name", "num_spaces", "geometry"]
            ]
            result = geo.merge(totals, on="curb_zone_id")
        elif by == By.area:
            polys = spatial.read_polygons(areas, id_col=area_id) if areas else None
            assign = (
                spatial.assign_polygons(zones, polys)
                if polys is not None
                else zones[["curb_zone_id", "area_id", "area_name"]]
            )
            result = spatial.aggregate_totals(totals, zones, assign, polys)
        else:
            assign = spatial.assign_h3(zones, h3_res)
            cells = sorted(assign["area_id"].unique())
            result = spatial.aggregate_totals(totals, zones, assign, spatial.h3_polygons(cells))
    except spatial.SpatialError as exc:
        fail(str(exc))
    result = result.assign(data_source_type=prov)
    # A bay or area no camera watched for most of any hour has no count either: empty,
    # not 0 (its occupancy and rates are already empty: 0 observed hours).
    unseen = result["observed_hours"].to_numpy() == 0
    for c, dtype in (
        ("total_sessions", "Int64"),
        ("double_park_sessions", "Int64"),
        ("double_park_minutes", "Float64"),
    ):
        if c in result:
            result[c] = result[c].astype(dtype).mask(unseen)

    if fmt == OutFormat.table:
        _banner(prov)
        t0 = pd.Timestamp(start, unit="ms", tz="UTC").tz_convert(zone_tz)
        t1 = pd.Timestamp(end, unit="ms", tz="UTC").tz_convert(zone_tz)
        cols = [
            c
            for c in (
                "name" if by == By.bay else "area_name",
                "area_name" if by == By.bay else "n_bays",
                "total_sessions",
                "turnover",
                "average_dwell_time",
                "median_dwell_time",
                "occupancy_percent",
                "overstay_share",
                "misuse_share",
                "double_park_sessions",
                "observed_hours",
            )
            if c in result.columns
        ]
        shown = pd.DataFrame(result[cols]).sort_values("occupancy_percent", ascending=False)
        for c in ("overstay_share", "misuse_share"):
            shown[c] = shown[c] * 100.0
        # No observed hour: no figure at all (0 sessions would read as an empty bay).
        unseen = shown["observed_hours"].to_numpy() == 0
        for c in cols[2:-1]:
            shown[c] = shown[c].astype(object).where(~unseen, math.nan)
        shown = shown.rename(
            columns={
                "area_name": "area",
                "n_bays": "bays",
                "total_sessions": "sessions",
                "average_dwell_time": "dwell min",
                "median_dwell_time": "p50 dwell",
                "occupancy_percent": "occ %",
                "overstay_share": "overstay %",
                "misuse_share": "misuse %",
                "double_park_sessions": "dbl parks",
                "observed_hours": "obs h" if by == By.bay else "obs bay-h",
            }
        )
        _print_table(
            shown, f"by {by} - {t0:%Y-%m-%d %H:%M} to {t1:%Y-%m-%d %H:%M} {zone_tz}", limit
        )
        _note_uncounted(sessions, totals, start, end)
    elif fmt == OutFormat.csv:
        _write_csv(pd.DataFrame(result.drop(columns="geometry")), output)
    elif fmt == OutFormat.geojson:
        assert output is not None
        exports.write_geojson(result, output)
        console.print(f"wrote {output}")
    else:
        assert output is not None
        exports.write_geoparquet(result, output)
        console.print(f"wrote {output}")


def _note_uncounted(sessions: pd.DataFrame, totals: pd.DataFrame, start: int, end: int) -> None:
    """Say so when stops were seen in hours that count as unobserved (a clip shorter
    than half an hour): they are stored, not lost, but no rate can be drawn from them."""
    park = sessions["kind"] == "park" if "kind" in sessions else True
    seen = sessions[park & (sessions["start_ms"] >= start) & (sessions["start_ms"] < end)]
    seen = seen[seen["curb_zone_id"].isin(totals["curb_zone_id"])]
    missing = len(seen) - int(totals["total_sessions"].sum())
    if missing > 0:
        console.print(
            f"{missing:,} parking session(s) started in hours no camera watched for most of "
            "the hour: stored, but not counted above (--format cds-sessions lists them)",
            highlight=False,
        )


def _write_csv(frame: pd.DataFrame, output: Path | None) -> None:
    if output is None:
        frame.to_csv(sys.stdout, index=False)
    else:
        frame.to_csv(output, index=False)
        console.print(f"wrote {output}")


def report_cmd(
    output: Annotated[Path, typer.Option("--output", "-o")] = Path("baywatch-report.html"),
    period: PeriodOpt = "all",
    areas: Annotated[
        Path | None, typer.Option("--areas", help="polygon layer drawn on the maps")
    ] = None,
    figures_dir: Annotated[
        Path | None, typer.Option("--figures-dir", help="also save the pictures as PNG files")
    ] = None,
    title: Annotated[str, typer.Option()] = "Delivery bay occupancy",
    source: SourceOpt = Source.auto,
    tz: TzOpt = None,
    db: DbOpt = None,
) -> None:
    """Write a self-contained HTML report with pictures (profiles, heatmap, maps)."""
    from occupancy.statistics.report import build_report, write_report

    zone_tz = _tz(tz)
    check_output_file(output, "--output")
    if figures_dir is not None:
        check_output_folder(figures_dir, "--figures-dir")
    if areas is not None:
        check_input_file(areas, "--areas")
    store = _store(db, must_exist=True)  # reading: a mistyped path is an error
    zones, sessions, start, end, offline, _prov = _load(store, period, zone_tz, source)
    try:
        polys = spatial.read_polygons(areas) if areas else None
    except spatial.SpatialError as exc:
        fail(str(exc))
    with console.status("computing statistics and drawing"):
        rep = build_report(
            sessions,
            zones,
            start_ms=start,
            end_ms=end,
            tz=zone_tz,
            offline=offline,
            areas=polys,
            lane_zones=store.lane_zones_frame(),
            title=title,
        )
        try:
            write_report(rep, output, figures_dir=figures_dir)
        except OSError as exc:
            fail(f"cannot write {exc.filename or output}: {exc.strerror}")
    _banner(rep.provenance)
    console.print(f"wrote {output}")


def _user_errors(fn: Callable[P, None]) -> Callable[P, None]:
    """Files that cannot be written become one ``error:`` line, never a traceback."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            fn(*args, **kwargs)
        except BrokenPipeError:
            # stdout piped into `head` and closed: not an error; silence the final flush.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError as exc:
            fail(f"cannot write {exc.filename or 'output'}: {exc.strerror or exc}")

    return run


# The commands as ``baywatch.cli`` registers them, each with this module's user-error handling.
import_bays_command = _user_errors(import_bays)
simulate_command = _user_errors(simulate)
stats_command = _user_errors(stats_cmd)
report_command = _user_errors(report_cmd)
