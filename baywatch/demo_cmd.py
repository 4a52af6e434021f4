"""``baywatch demo``: the bundled sample scenes analysed into the database, sessions printed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from baywatch.analyse_cmd import run_analysis
from baywatch.console import console, fail, sessions_table
from occupancy.config.settings import get_settings
from occupancy.domain.lazy import lazy_import

if TYPE_CHECKING:
    import occupancy.config.site as site_mod
    import occupancy.storage.store as store_mod
    import vision.detector as detector_mod
    import vision.sources as sources_mod
else:
    site_mod = lazy_import("occupancy.config.site")
    store_mod = lazy_import("occupancy.storage.store")
    detector_mod = lazy_import("vision.detector")
    sources_mod = lazy_import("vision.sources")


if TYPE_CHECKING:
    from vision.detector import Detector

SAMPLES = Path(__file__).resolve().parents[1] / "sample_videos"
GEODATA = Path(__file__).resolve().parents[2] / "shared" / "geodata"
PARIS_BAYS = GEODATA / "paris_delivery_bays.csv"
PARIS_STREETS = GEODATA / "paris_3e_streets.osm.pbf"
PARIS_AREAS = GEODATA / "paris_arrondissements.geojson"


def demo_command(
    db: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy URL; default BAYWATCH_DB or sqlite:///baywatch.db"),
    ] = None,
    samples: Annotated[Path, typer.Option(help="folder of sample site files")] = SAMPLES,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    inventory: Annotated[
        Path | None,
        typer.Option(
            help="bay inventory to add with simulated statistics; default: the Paris one in ../shared/geodata when present"
        ),
    ] = None,
    days: Annotated[
        int,
        typer.Option(
            min=0, max=366, help="days of simulated stops for the inventory (0: no inventory)"
        ),
    ] = 14,
) -> None:
    """Analyse every sample scene into the database and print the sessions found.

    Then, for the map, load a real city inventory (the 9,198 Paris bays when
    ../shared/geodata is present) with simulated statistics, marked as simulated.
    """
    from vision.detector import Detector

    url = db or get_settings().db
    sites = sorted(samples.glob("*.yaml"))
    if not sites:
        fail(f"{samples}: no sample site files")
    detectors: dict[tuple[object, ...], Detector] = {}
    analysed = 0
    for path in sites:
        try:
            site = site_mod.load_site(path)
            d = site.detector
            key = (d.model, *sorted(d.classes), d.confidence, d.imgsz)
            if key not in detectors:
                detectors[key] = Detector.for_site(site)
            _, result = run_analysis(
                None,
                path,
                db=url,
                fps=2.0,
                annotate=None,
                start=None,
                model=None,
                folder_fps=None,
                quiet=quiet,
                detector=detectors[key],
            )
        except sources_mod.SourceError as exc:
            console.print(f"[yellow]skipped {path.name}:[/] {exc} (see sample_videos/README.md)")
            continue
        except (
            site_mod.SiteError,
            detector_mod.ModelNotFoundError,
            store_mod.StoreError,
            ValueError,
        ) as exc:
            fail(str(exc))
        analysed += 1
        console.print(
            sessions_table(
                result.sessions,
                result.zones,
                site.timezone,
                f"{path.name} ({site.camera_id}): {len(result.sessions)} session(s), "
                f"{result.footage_s:.1f} s of footage",
            )
        )
    if analysed == 0:
        fail("no sample footage found: run `python sample_videos/fetch.py` first")
    inv = inventory or (PARIS_BAYS if PARIS_BAYS.exists() else None)
    if inv is not None and days > 0:
        from occupancy.inventory.bays import InventoryError
        from occupancy.runtime.demo import seed_inventory_demo
        from occupancy.storage.store import Store

        if not inv.exists():
            fail(f"{inv}: no such inventory file")
        console.print(f"Loading {inv.name} with {days} days of SIMULATED stops for the map ...")
        try:
            # Where the OSM extract covers them (the 3e), bays are drawn along the kerb.
            streets = PARIS_STREETS if PARIS_STREETS.is_file() else None
            summary = seed_inventory_demo(Store(url), inv, days=days, streets=streets)
        except InventoryError as exc:
            fail(str(exc))
        console.print(
            f"{summary.bays:,} real bays ({summary.rejected} rejected records), "
            f"{summary.sessions:,} [bold]simulated[/] sessions"
        )
    if PARIS_STREETS.is_file():
        from occupancy.inventory.basemap import BasemapError, build_basemap

        try:
            bm = build_basemap(
                PARIS_STREETS,
                get_settings().basemap_dir,
                areas=PARIS_AREAS if PARIS_AREAS.is_file() else None,
            )
        except BasemapError as exc:
            fail(str(exc))
        console.print(
            f"Offline basemap ({PARIS_STREETS.name}): {bm.counts['streets']:,} streets, "
            f"{bm.counts['areas']} area borders in {bm.out_dir}"
        )
    console.print(f"[green]Stored in {url}[/]; `baywatch serve` shows it on the map.")
