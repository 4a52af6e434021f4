"""``baywatch evaluate``: found sessions against a truth file, as an accuracy table."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from baywatch.console import check_output_file, console, err_console, fail
from occupancy.domain.lazy import lazy_import

if TYPE_CHECKING:
    import occupancy.config.site as site_mod
    import occupancy.evaluation.evaluate as evaluate_mod
    import occupancy.evaluation.truth as truth_mod
    import occupancy.storage.store as store_mod
    import vision.detector as detector_mod
    import vision.sources as sources_mod
else:
    site_mod = lazy_import("occupancy.config.site")
    evaluate_mod = lazy_import("occupancy.evaluation.evaluate")
    truth_mod = lazy_import("occupancy.evaluation.truth")
    store_mod = lazy_import("occupancy.storage.store")
    detector_mod = lazy_import("vision.detector")
    sources_mod = lazy_import("vision.sources")


def _found(
    site: site_mod.Site,
    site_path: Path,
    source: str | None,
    db: str | None,
    run: str | None,
    fps: float,
) -> tuple[list[evaluate_mod.Span], evaluate_mod.Coverage]:
    if db is not None:
        stored = store_mod.Store(db, must_exist=True)  # reading: a mistyped path is an error
        try:
            spans, run_id = evaluate_mod.spans_from_store(stored, site, run)
            return spans, _coverage(stored, run_id)
        finally:
            stored.close()
    from baywatch.analyse_cmd import run_analysis

    with tempfile.TemporaryDirectory(prefix="baywatch-eval-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'evaluate_mod.evaluate.db'}"
        _, result = run_analysis(
            source,
            site_path,
            db=url,
            fps=fps,
            annotate=None,
            start=None,
            model=None,
            folder_fps=None,
            quiet=True,
        )
        store = store_mod.Store(url)
        try:
            spans, run_id = evaluate_mod.spans_from_store(store, site, result.run_id)
            return spans, _coverage(store, run_id)
        finally:
            store.close()


def _coverage(store: store_mod.Store, run_id: str) -> evaluate_mod.Coverage:
    record = store.get_run(run_id)
    if record is None:  # spans_from_store found it a moment ago
        raise truth_mod.TruthError(f"--run: no run {run_id!r} in this database")
    return evaluate_mod.coverage(record)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


def _err(e: evaluate_mod.Errors) -> str:
    return "—" if e.median_s is None else f"{e.median_s:.2f} s / {e.p90_s:.2f} s"


def report_tables(report: evaluate_mod.Report, title: str) -> tuple[Table, Table]:
    """The evaluation as two rich tables: per zone, then sessions and timing errors."""
    zones = Table(title=title, title_justify="left")
    for col in ("zone", "per-second occupancy accuracy", "true", "found", "matched"):
        zones.add_column(col, justify="left" if col == "zone" else "right")
    for z, acc in report.zone_accuracy.items():
        true = sum(m.truth.zone == z for m in report.matches) + sum(
            s.zone == z for s in report.unmatched_truth
        )
        found = sum(m.found.zone == z for m in report.matches) + sum(
            s.zone == z for s in report.unmatched_found
        )
        matched = sum(m.truth.zone == z for m in report.matches)
        zones.add_row(z, _pct(acc), str(true), str(found), str(matched))
    summary = Table(show_header=True, title_justify="left")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    rows = [
        ("occupancy accuracy, mean of bays", _pct(report.bay_accuracy)),
        (
            "sessions true / found / matched",
            f"{report.n_true} / {report.n_found} / {report.n_matched}",
        ),
        ("session precision", _pct(report.precision)),
        ("session recall", _pct(report.recall)),
        ("session F1", _pct(report.f1)),
        ("start error median / p90", _err(report.start_error)),
        ("end error median / p90", _err(report.end_error)),
        ("dwell error median / p90", _err(report.dwell_error)),
        (
            "double-parking recall",
            f"{_pct(report.double_park_recall)} ({report.double_park_matched}/{report.double_park_true})",
        ),
        ("match rule", f"same zone, temporal IoU ≥ {report.iou_min:g}, one-to-one"),
    ]
    for k, v in rows:
        summary.add_row(k, v)
    return zones, summary


def evaluate_command(
    truth: Annotated[Path | None, typer.Argument(help="truth file (JSON)")] = None,
    source: Annotated[
        str | None,
        typer.Argument(
            help="footage to analyse; default the site's source.uri (ignored with --db)"
        ),
    ] = None,
    site: Annotated[Path, typer.Option("--site", help="site description (YAML or JSON)")] = Path(
        "site.yaml"
    ),
    db: Annotated[
        str | None,
        typer.Option(
            help="read sessions a run stored in this database instead of analysing; an incomplete run is scored on the footage it analysed, with a notice"
        ),
    ] = None,
    run: Annotated[
        str | None, typer.Option(help="run id in --db; default the camera's latest run")
    ] = None,
    iou: Annotated[
        float, typer.Option(min=0.01, max=1.0, help="temporal IoU a match needs")
    ] = evaluate_mod.DEFAULT_IOU,
    fps: Annotated[float, typer.Option(min=0.05, max=60, help="analysed frames per second")] = 2.0,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            help="also draw true and found sessions on a timeline (.png; or .svg, .pdf, any format matplotlib writes), checked before the analysis"
        ),
    ] = None,
    schema: Annotated[
        bool, typer.Option("--truth-schema", help="print the truth file's JSON schema and exit")
    ] = False,
) -> None:
    """Accuracy of the sessions baywatch finds, against a truth file.

    With --db, a run that did not complete (interrupted, failed, still running) is
    evaluated on the footage it analysed only (truth cut at its last analysed frame), with
    a notice naming its status and that span; a truth much longer than a complete run's
    footage is refused.
    """
    if schema:
        typer.echo(json.dumps(truth_mod.truth_json_schema(), indent=2))
        return
    if truth is None:
        fail("give a TRUTH file (see --truth-schema for its format)")
    if not site.exists():
        fail(f"{site}: site file not found (give it with --site)")
    if plot is not None:  # before the analysis, which can take minutes
        from occupancy.evaluation.plot import picture_suffixes

        check_output_file(plot, "--plot", picture_suffixes(), "the picture")
    try:
        site_obj = site_mod.load_site(site)
        truth_obj = truth_mod.load_truth(truth)
        evaluate_mod.check_against_site(truth_obj, site_obj, str(truth))
        found, cov = _found(site_obj, site, source, db, run, fps)
        evaluate_mod.check_coverage(truth_obj, cov, str(truth))
    except (
        truth_mod.TruthError,
        site_mod.SiteError,
        sources_mod.SourceError,
        detector_mod.ModelNotFoundError,
        store_mod.StoreError,
    ) as exc:
        fail(str(exc))
    except ValueError as exc:  # e.g. detector classes the model does not have
        fail(str(exc))
    run_id = cov.run_id
    full_s = truth_obj.duration_s
    if not cov.complete:
        # Seconds the run never analysed are not misses: evaluate the span it covered.
        truth_obj, found = evaluate_mod.clip_to(truth_obj, found, cov.covered_s)
        err_console.print(
            f"[yellow]incomplete run:[/] run {run_id[:8]} is {cov.status}: it analysed "
            f"{cov.covered_s:.1f} s of footage ({cov.frames} frames); evaluated on those "
            f"{truth_obj.duration_s:.1f} s of the truth's {full_s:g} s only. Run the same "
            "analyse command again to complete it.",
            highlight=False,
        )
    report = evaluate_mod.evaluate(truth_obj, found, iou_min=iou)
    if plot is not None:
        from occupancy.evaluation.plot import timeline_png

        try:
            timeline_png(report, plot, f"{site_obj.camera_id}: {truth.name}")
        except OSError as exc:
            fail(f"{plot}: cannot write the picture ({exc.strerror or exc})")
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "camera_id": site_obj.camera_id,
                    "run_id": run_id,
                    "run_status": cov.status,
                    "footage_analysed_s": cov.covered_s,
                    "truth_duration_s": full_s,
                    **report.as_dict(),
                },
                indent=2,
            )
        )
        return
    zones, summary = report_tables(
        report,
        f"{site_obj.camera_id}: accuracy against {truth.name} ({report.duration_s:.0f} s, run {run_id[:8]})",
    )
    console.print(zones)
    console.print(summary)
