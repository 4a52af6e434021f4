"""``baywatch basemap build OSM_PBF``: the offline basemap the web map draws under the bays."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from baywatch.console import console, fail
from occupancy.config.settings import get_settings

app = typer.Typer(help="Local basemap from OpenStreetMap data (no network).", no_args_is_help=True)

PARIS_AREAS = (
    Path(__file__).resolve().parents[2] / "shared" / "geodata" / "paris_arrondissements.geojson"
)


@app.command("build")
def build_command(
    osm_pbf: Annotated[Path, typer.Argument(help="OpenStreetMap extract (.osm.pbf)")],
    areas: Annotated[
        Path | None,
        typer.Option(
            help="GeoJSON of area borders (e.g. arrondissements); default: the Paris one in "
            "../shared/geodata when present"
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="output folder; default BAYWATCH_DATA_DIR/basemap (served by the API)"),
    ] = None,
) -> None:
    """Turn an .osm.pbf into GeoJSON layers (streets by class, water, parks, area borders)."""
    from occupancy.inventory.basemap import BasemapError, build_basemap

    target = out or get_settings().basemap_dir
    area_file = areas if areas is not None else (PARIS_AREAS if PARIS_AREAS.is_file() else None)
    try:
        summary = build_basemap(osm_pbf, target, areas=area_file)
    except BasemapError as exc:
        fail(str(exc))
    counts = ", ".join(f"{n:,} {layer}" for layer, n in summary.counts.items())
    console.print(f"Basemap in {summary.out_dir}: {counts}")
