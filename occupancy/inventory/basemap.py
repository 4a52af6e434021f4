"""An offline basemap from OpenStreetMap data: GeoJSON layers the web map draws under the bays.

``build_basemap`` reads an ``.osm.pbf`` extract with GDAL's OSM driver (through pyogrio,
which geopandas already brings) and writes, into one folder:

- ``streets.geojson``: OSM ways with a ``highway`` tag, LineStrings, properties
  ``class`` (``major`` | ``minor`` | ``service`` | ``pedestrian`` | ``path``, from the
  ``highway`` value as in OSM's usual rendering), ``highway``, ``name`` and ``street_key``
  (the name folded to upper case without accents, the key ``street_key`` of the bay
  inventory uses, so street statistics join the drawn street);
- ``water.geojson``: ``natural=water`` / ``waterway=riverbank`` areas and ``waterway`` lines;
- ``parks.geojson``: ``leisure=park|garden|playground`` and ``landuse=grass`` areas;
- ``areas.geojson``: administrative borders (e.g. the Paris arrondissements) from an
  optional GeoJSON file, properties ``name`` and ``area_id``;
- ``manifest.json``: layers with their feature counts, the bounds ``[west, south, east,
  north]`` (WGS84), the source file names and the attribution (ODbL: "© OpenStreetMap
  contributors").

Coordinates are WGS84 ``[lon, lat]`` rounded to 6 decimals (~0.1 m), RFC 7946 order.
Nothing here reaches the network.
"""

from __future__ import annotations

import json
import unicodedata
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LAYERS = ("streets", "water", "parks", "areas")
MANIFEST = "manifest.json"
ATTRIBUTION = "© OpenStreetMap contributors (ODbL)"

# OSM highway value -> drawing class (the grouping of OSM Carto, simplified to five).
HIGHWAY_CLASS = {
    **dict.fromkeys(
        ("motorway", "trunk", "primary", "secondary", "motorway_link", "trunk_link"), "major"
    ),
    **dict.fromkeys(("primary_link", "secondary_link", "tertiary", "tertiary_link"), "major"),
    **dict.fromkeys(("residential", "unclassified", "living_street", "road"), "minor"),
    "service": "service",
    **dict.fromkeys(("pedestrian", "footway", "steps", "corridor"), "pedestrian"),
    **dict.fromkeys(("cycleway", "path", "track", "bridleway"), "path"),
}
# Abbreviated street types of French inventories (Paris: "BD", "PL", "AV") -> OSM's full words.
STREET_TYPES = {
    "BD": "BOULEVARD",
    "BVD": "BOULEVARD",
    "AV": "AVENUE",
    "AVE": "AVENUE",
    "PL": "PLACE",
    "R": "RUE",
    "IMP": "IMPASSE",
    "PAS": "PASSAGE",
    "SQ": "SQUARE",
    "QU": "QUAI",
    "CHS": "CHAUSSEE",
    "CRS": "COURS",
    "ALL": "ALLEE",
    "VLA": "VILLA",
    "CITE": "CITE",
}
PARK_LEISURE = ("park", "garden", "playground", "common")


class BasemapError(ValueError):
    """The OSM or area file cannot be read; the message is one line naming the file."""


@dataclass(frozen=True, slots=True)
class BasemapSummary:
    """What ``build_basemap`` wrote: features per layer, bounds (WGS84 [w, s, e, n])."""

    out_dir: Path
    counts: dict[str, int]
    bounds: tuple[float, float, float, float]


def street_key(name: object) -> str | None:
    """A street name folded for matching: upper case, no accents, apostrophes and spaces
    collapsed ("Rue de l'Écluse" and "RUE DE L ECLUSE" give the same key)."""
    if not isinstance(name, str) or not name:
        return None
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).upper()
    for ch in "'’-.":
        text = text.replace(ch, " ")
    words = text.split()
    if words and words[0] in STREET_TYPES:
        words[0] = STREET_TYPES[words[0]]
    return " ".join(words) or None


def _round(coords: Any) -> Any:
    if isinstance(coords, (list, tuple)) and coords and isinstance(coords[0], (int, float)):
        return [round(float(coords[0]), 6), round(float(coords[1]), 6)]
    return [_round(c) for c in coords]


def _features(frame: Any, props: Iterable[str]) -> list[dict[str, Any]]:
    from shapely.geometry import mapping

    cols = list(props)
    out = []
    for row in frame[[*cols, "geometry"]].to_dict("records"):
        geom = row["geometry"]
        if geom is None or geom.is_empty:
            continue
        g = mapping(geom)
        properties = {}
        for c in cols:
            v = row[c]
            properties[c] = None if v is None or v != v else v  # NaN -> null
        out.append(
            {
                "type": "Feature",
                "geometry": {"type": g["type"], "coordinates": _round(g["coordinates"])},
                "properties": properties,
            }
        )
    return out


def _read(path: Path, layer: str, where: str | None = None) -> Any:
    import pyogrio

    try:
        with warnings.catch_warnings():
            # OSM multipolygons assembled from clipped extracts have open rings; GDAL warns.
            warnings.simplefilter("ignore", RuntimeWarning)
            return pyogrio.read_dataframe(path, layer=layer, where=where)
    except Exception as exc:  # pyogrio raises DataSourceError, DataLayerError, ...
        raise BasemapError(f"{path}: cannot read OSM layer {layer!r}: {exc}") from None


def build_basemap(osm_pbf: Path, out_dir: Path, *, areas: Path | None = None) -> BasemapSummary:
    """Write the basemap layers of ``osm_pbf`` (and ``areas``) into ``out_dir``.

    Raises ``BasemapError`` (one line) when a file is missing or unreadable. The folder
    is created; existing layers in it are replaced.
    """
    import pyogrio

    if not osm_pbf.is_file():
        raise BasemapError(f"{osm_pbf}: no such OSM file")
    if "OSM" not in pyogrio.list_drivers():
        raise BasemapError("GDAL was built without its OSM driver: cannot read .osm.pbf")
    lines = _read(osm_pbf, "lines")
    streets = lines[lines["highway"].notna()].copy()
    streets["class"] = streets["highway"].map(HIGHWAY_CLASS).fillna("minor")
    streets["street_key"] = streets["name"].map(street_key)
    water_lines = lines[lines["waterway"].notna()].copy()
    polys = _read(osm_pbf, "multipolygons")
    other = polys["other_tags"].fillna("")
    is_water = (polys["natural"] == "water") | other.str.contains('"waterway"=>"riverbank"')
    water = polys[is_water].copy()
    water["kind"] = "area"
    water_lines["kind"] = "line"
    is_park = polys["leisure"].isin(PARK_LEISURE) | (polys["landuse"] == "grass")
    parks = polys[is_park].copy()

    layers: dict[str, list[dict[str, Any]]] = {
        "streets": _features(streets, ("class", "highway", "name", "street_key")),
        "water": _features(water, ("kind", "name")) + _features(water_lines, ("kind", "name")),
        "parks": _features(parks, ("name",)),
        "areas": _area_features(areas) if areas is not None else [],
    }
    bounds = tuple(float(b) for b in lines.total_bounds)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, feats in layers.items():
        body = {"type": "FeatureCollection", "features": feats}
        (out_dir / f"{name}.geojson").write_text(json.dumps(body, ensure_ascii=False))
    counts = {name: len(feats) for name, feats in layers.items()}
    manifest = {
        "layers": counts,
        "bounds": [round(b, 6) for b in bounds],
        "sources": [osm_pbf.name] + ([areas.name] if areas is not None else []),
        "attribution": ATTRIBUTION,
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1))
    w, s, e, n = bounds
    return BasemapSummary(out_dir, counts, (w, s, e, n))


def _area_features(path: Path) -> list[dict[str, Any]]:
    """Area borders from a GeoJSON file: ``name`` from l_ar/name, ``area_id`` from
    c_arinsee/id (the Paris arrondissements file uses ``l_ar`` and ``c_arinsee``)."""
    if not path.is_file():
        raise BasemapError(f"{path}: no such area file")
    frame = _read(path, pyogrio_first_layer(path))
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    name_col = next((c for c in ("l_ar", "name", "nom") if c in frame.columns), None)
    id_col = next((c for c in ("c_arinsee", "id", "code") if c in frame.columns), None)
    frame = frame.assign(
        name=frame[name_col].astype(str) if name_col else None,
        area_id=frame[id_col].astype(str) if id_col else None,
    )
    return _features(frame, ("name", "area_id"))


def pyogrio_first_layer(path: Path) -> str:
    """Name of the first layer of a vector file; ``BasemapError`` when unreadable."""
    import pyogrio

    try:
        return str(pyogrio.list_layers(path)[0][0])
    except Exception as exc:
        raise BasemapError(f"{path}: not a readable vector file: {exc}") from None


def read_manifest(basemap_dir: Path) -> dict[str, Any] | None:
    """The manifest of a built basemap, or None when none was built there."""
    path = basemap_dir / MANIFEST
    if not path.is_file():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data
