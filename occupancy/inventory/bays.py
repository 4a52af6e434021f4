"""Import a city's existing delivery-bay inventory into ``curb_zones`` rows.

Formats (``fmt``): ``cerema`` (national ``schema-aire-livraison`` CSV, 0.1 and
1.0 field names, and the Hauts-de-Seine export of that family), ``paris`` (Ville
de Paris ``stationnement-voie-publique-emplacements``), ``cds`` (CDS Curbs
curb-zones GeoJSON), ``osm`` (OpenStreetMap GeoJSON with ``parking:*`` loading
restrictions); ``auto`` looks at the file.

Every record is validated on its own: a bad one is reported in ``rejected`` with
its line (CSV, counting the header as line 1) or feature number (GeoJSON,
from 0) and the reason, and the others are kept. A file that cannot be read at
all raises ``InventoryError``. Point-only bays get a rectangle of their length
and width along the kerb (see ``occupancy.inventory.geometry``).
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import shapely

from occupancy.domain.curb_zone import CurbZoneRecord
from occupancy.domain.geo import metric_crs
from occupancy.domain.records import stable_id
from occupancy.inventory import geometry, sanity

Format = Literal["auto", "cerema", "cds", "paris", "osm"]
FORMATS: tuple[str, ...] = ("auto", "cerema", "cds", "paris", "osm")

# Vehicles French delivery bays are for (Code de la route R417-10: stops for
# loading and unloading goods); cars are the typical misuse.
DELIVERY_VEHICLES = ["van", "truck", "freight", "cargo_bicycle"]
DEFAULT_LENGTH_M = 10.0  # median Paris bay length, used when a record has none
DEFAULT_WIDTH_M = 2.0


class InventoryError(ValueError):
    """The file as a whole cannot be imported; the message names it and says why."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record left out: ``unit`` is "line" (CSV) or "feature" (GeoJSON)."""

    number: int
    reason: str
    unit: str = "line"

    def __str__(self) -> str:
        return f"{self.unit} {self.number}: {self.reason}"


@dataclass(frozen=True)
class ImportResult:
    """An imported inventory: the bays kept (``CurbZoneRecord``, not yet stored), the
    records left out and why, the format read, and warnings about kept records.
    """

    zones: list[CurbZoneRecord]
    rejected: list[Rejected]
    fmt: str = "auto"
    warnings: list[Rejected] = field(default_factory=list)


@dataclass
class Candidate:
    """A record that passed its format's checks, before its footprint is built."""

    number: int
    local_id: str
    lon: float
    lat: float
    uuid: str | None = None
    name: str | None = None
    geometry: dict[str, Any] | None = None
    length_cm: int | None = None
    width_cm: int | None = None
    num_spaces: int | None = None
    max_stay_min: float | None = None
    delivery_hours: str | None = None
    vehicle_types: list[str] | None = field(default_factory=lambda: list(DELIVERY_VEHICLES))
    user_classes: list[str] | None = field(default_factory=lambda: ["commercial"])
    street_name: str | None = None
    street_side: str | None = None
    area_id: str | None = None
    area_name: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


class RecordError(ValueError):
    """One record is bad; caught per record and turned into a ``Rejected``."""


@dataclass
class Parsed:
    """A format parser's output before ids and footprints: candidate bays, rejected records,
    warnings; ``unit`` says what record numbers count ("line" or "feature").
    """

    candidates: list[Candidate]
    rejected: list[Rejected]
    warnings: list[Rejected] = field(default_factory=list)
    unit: str = "line"


# -- shared field helpers -------------------------------------------------------------


def number(value: Any, what: str, *, lo: float | None = None, hi: float | None = None) -> float:
    """A finite number from a field (decimal comma accepted), within [``lo``, ``hi``] when
    given; ``RecordError`` naming ``what`` otherwise.
    """
    try:
        v = float(str(value).strip().replace(",", "."))
    except ValueError:
        raise RecordError(f"{what} is not a number: {value!r}") from None
    if not np.isfinite(v):
        raise RecordError(f"{what} is not a number: {value!r}")
    # Either bound may be absent: name the one broken (a length has only ``lo=0``).
    if lo is not None and v < lo:
        raise RecordError(f"{what} {value!r}: must be {lo:g} or more")
    if hi is not None and v > hi:
        raise RecordError(f"{what} {value!r}: must be {hi:g} or less")
    return v


def optional_number(value: Any, what: str, **kw: Any) -> float | None:
    """``number``, or None for an empty or NA-like field."""
    if value is None or str(value).strip() in ("", "NA", "NaN", "N/A", "n/a"):
        return None
    return number(value, what, **kw)


def lonlat(lon: Any, lat: Any) -> tuple[float, float]:
    """WGS84 (longitude, latitude) in degrees from two fields; ``RecordError`` when out of
    range (typically projected coordinates such as Lambert-93).
    """
    x = number(lon, "longitude")
    y = number(lat, "latitude")
    if abs(x) > 180 or abs(y) > 90:
        raise RecordError(
            f"coordinates ({x:g}, {y:g}) are not WGS84 longitude/latitude "
            "(projected, e.g. Lambert-93?)"
        )
    return x, y


def valid_uuid(value: Any) -> str | None:
    """The canonical form of a UUID field, or None when empty or not a UUID."""
    if value is None or not str(value).strip():
        return None
    try:
        return str(uuid.UUID(str(value).strip()))
    except ValueError:
        return None


def read_csv_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and (line number, row) pairs; the delimiter is sniffed among ``;`` and ``,``."""
    try:
        text, _note = sanity.read_text(path)  # the Latin-1 note is reported by load_bays
    except OSError as exc:
        raise InventoryError(f"{path}: cannot read: {exc.strerror}") from exc
    first = text.split("\n", 1)[0]
    delim = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delim)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InventoryError(f"{path}: empty file") from None
    rows = []
    for row in reader:
        line = reader.line_num
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            rows.append((line, {"__bad__": f"{len(row)} fields, header has {len(header)}"}))
            continue
        rows.append((line, dict(zip(header, row, strict=True))))
    return header, rows


def parse_rows(
    rows: list[tuple[int, dict[str, str]]], one: Callable[[int, dict[str, str]], Candidate]
) -> Parsed:
    """Apply ``one`` to each (line number, CSV row); a ``RecordError`` rejects that row with
    its line, the others are kept.
    """
    out = Parsed([], [])
    for line, row in rows:
        if "__bad__" in row:
            out.rejected.append(Rejected(line, row["__bad__"]))
            continue
        try:
            out.candidates.append(one(line, row))
        except RecordError as exc:
            out.rejected.append(Rejected(line, str(exc)))
    return out


def polygon_from_geojson(geom: Any) -> dict[str, Any]:
    """A valid WGS84 GeoJSON Polygon (the largest part of a MultiPolygon)."""
    try:
        shp = geometry.shapely_shape(geom)
    except Exception as exc:
        raise RecordError(f"invalid geometry: {exc}") from None
    if shp.geom_type == "MultiPolygon":
        shp = max(shp.geoms, key=lambda g: g.area)
    if shp.geom_type != "Polygon" or shp.is_empty:
        raise RecordError(f"geometry is a {shp.geom_type}, expected a Polygon")
    minx, miny, maxx, maxy = shp.bounds
    if max(abs(minx), abs(maxx)) > 180 or max(abs(miny), abs(maxy)) > 90:
        raise RecordError("geometry coordinates are not WGS84 longitude/latitude")
    if not shp.is_valid:
        raise RecordError("geometry is not a valid polygon (self-intersecting?)")
    return geometry.to_geojson(shp)


# -- detection and finishing ----------------------------------------------------------


def detect_format(path: Path) -> str:
    """The inventory format of a file from its content: ``cds`` (GeoJSON with
    ``curb_zone_id``), ``osm`` (GeoJSON with ``parking*`` tags), ``paris`` or ``cerema``
    (CSV, by header). Raises ``InventoryError`` naming the file when it cannot tell.
    """
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        data = read_json(path)
        feats = data.get("features") if isinstance(data, dict) else None
        if not isinstance(feats, list):
            raise InventoryError(f"{path}: not a GeoJSON FeatureCollection")
        for f in feats[:200]:
            props = (f or {}).get("properties") or {}
            if "curb_zone_id" in props:
                return "cds"
            if any(str(k).startswith("parking") for k in props):
                return "osm"
            if "parking" in str(props.get("other_tags", "")):  # GeoJSON written by GDAL
                return "osm"
        raise InventoryError(
            f"{path}: GeoJSON with neither CDS curb_zone_id nor OSM parking:* tags; give --format"
        )
    if suffix in (".csv", ".txt"):
        try:
            with path.open(encoding="utf-8-sig") as fh:
                head = fh.readline()
        except (OSError, UnicodeDecodeError) as exc:
            raise InventoryError(f"{path}: cannot read: {exc}") from exc
        if "Régime prioritaire" in head or "Nombre places réelles" in head:
            return "paris"
        cols = {c.strip().strip('"') for c in head.replace(";", ",").split(",")}
        if {"ID"} <= cols and ({"LONGITUDE", "LATITUDE"} <= cols or "XY" in cols):
            return "cerema"
        if {"code_insee", "geo_shape"} <= cols:
            return "cerema"
        raise InventoryError(f"{path}: unrecognised CSV header; give --format")
    raise InventoryError(f"{path}: unknown file type {suffix!r}; give --format")


def read_json(path: Path) -> Any:
    """Parse a JSON file; ``InventoryError`` naming the file when unreadable or invalid."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InventoryError(f"{path}: cannot read: {exc.strerror}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise InventoryError(f"{path}: not valid JSON: {exc}") from exc


def _check(
    parsed: Parsed, area: shapely.Geometry | None
) -> tuple[list[Candidate], list[Rejected], list[Rejected]]:
    """Sanity of each record (``occupancy.inventory.sanity``): kept, rejected, warnings."""
    unit = parsed.unit
    cands = parsed.candidates
    centre = sanity.median_centre([c.lon for c in cands], [c.lat for c in cands])
    inside = (
        None
        if area is None or not cands
        else shapely.contains_xy(area, [c.lon for c in cands], [c.lat for c in cands])
    )
    kept: list[Candidate] = []
    rejected: list[Rejected] = []
    warnings: list[Rejected] = []
    for k, c in enumerate(cands):
        if centre is not None and sanity.swapped_axes(c.lon, c.lat, centre):
            rejected.append(
                Rejected(
                    c.number,
                    f"latitude and longitude swapped? ({c.lon:g}, {c.lat:g}) is far from the "
                    f"other bays (median {centre[0]:.4f}, {centre[1]:.4f}); "
                    f"({c.lat:g}, {c.lon:g}) is among them",
                    unit,
                )
            )
            continue
        if inside is not None and not bool(inside[k]):
            rejected.append(
                Rejected(c.number, f"({c.lon:g}, {c.lat:g}) is outside the declared area", unit)
            )
            continue
        if c.geometry is not None:
            c.geometry, turned = sanity.oriented(c.geometry)
            if turned:
                warnings.append(
                    Rejected(
                        c.number,
                        "exterior ring clockwise; turned counter-clockwise (RFC 7946 3.1.6)",
                        unit,
                    )
                )
        for field_name in ("name", "street_name", "area_name"):
            v = getattr(c, field_name)
            fixed = sanity.repair_mojibake(v) if isinstance(v, str) else None
            if fixed is not None:
                setattr(c, field_name, fixed)
                warnings.append(
                    Rejected(
                        c.number,
                        f"{field_name} {v!r} was UTF-8 read as Latin-1; repaired to {fixed!r}",
                        unit,
                    )
                )
        kept.append(c)
    return kept, rejected, warnings


def _finish(
    source: str,
    id_ns: str,
    parsed: Parsed,
    streets: gpd.GeoDataFrame | None,
    area: shapely.Geometry | None = None,
) -> ImportResult:
    cands, bad, notes = _check(parsed, area)
    rejected = list(parsed.rejected) + bad
    seen: dict[str, int] = {}
    kept: list[Candidate] = []
    for c in cands:
        zid = c.uuid or stable_id(id_ns, c.local_id)
        if zid in seen:
            rejected.append(
                Rejected(
                    c.number, f"duplicate id {c.local_id!r} (first at {seen[zid]})", parsed.unit
                )
            )
            continue
        seen[zid] = c.number
        c.uuid = zid
        kept.append(c)
    need = [c for c in kept if c.geometry is None]
    if need:
        lon = np.array([c.lon for c in need])
        lat = np.array([c.lat for c in need])
        crs = metric_crs(lon, lat)
        length = np.array(
            [c.length_cm / 100 if c.length_cm else DEFAULT_LENGTH_M for c in need], dtype=float
        )
        frames = geometry.kerb_frames(lon, lat, streets, crs, length)
        width = np.array(
            [c.width_cm / 100 if c.width_cm else DEFAULT_WIDTH_M for c in need], dtype=float
        )
        shift = geometry.kerb_side_shift(frames, width)
        polys = geometry.bay_rectangles(
            lon,
            lat,
            length,
            width,
            frames.angle_rad,
            crs,
            shift=(shift * frames.normal_x, shift * frames.normal_y),
        )
        for i, (c, poly) in enumerate(zip(need, polys, strict=True)):
            c.geometry = poly
            if not frames.found[i]:
                c.attributes["footprint"] = "rectangle, east-west (no street to align to)"
            else:
                known = frames.side_known[i]
                side = "on its kerb side" if known else "kerb side unknown, right"
                c.attributes["footprint"] = f"rectangle along nearest street, {side}"
                dist = round(float(frames.distance_m[i]), 2)
                c.attributes["footprint_street_distance_m"] = dist
                if shift[i] > 0:
                    c.attributes["footprint_offset_to_kerb_m"] = round(float(shift[i]), 2)
            if not c.length_cm:
                c.attributes["footprint_length_assumed_m"] = DEFAULT_LENGTH_M
            if not c.width_cm:
                c.attributes["footprint_width_assumed_m"] = DEFAULT_WIDTH_M
    zones = [_record(c, source) for c in kept]
    rejected.sort(key=lambda r: r.number)
    warnings = sorted([*parsed.warnings, *notes], key=lambda r: r.number)
    return ImportResult(zones=zones, rejected=rejected, warnings=warnings)


def load_bays(
    path: str | Path,
    fmt: str = "auto",
    *,
    streets: gpd.GeoDataFrame | str | Path | None = None,
    source: str | None = None,
    area: Mapping[str, Any] | str | Path | None = None,
) -> ImportResult:
    """Read a bay inventory file; ``streets`` (lines) orients point-only bays along the kerb.

    ``area`` (a GeoJSON (Multi)Polygon, Feature, FeatureCollection or a file of one) is
    the place the inventory declares to cover: a bay outside it is rejected. Every
    record is also checked for swapped axes, clockwise rings and mis-decoded text
    (``occupancy.inventory.sanity``), one line per record.
    """
    from occupancy.inventory import formats

    p = Path(path)
    if not p.exists():
        raise InventoryError(f"{p}: no such file")
    if fmt not in FORMATS:
        raise InventoryError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    chosen = detect_format(p) if fmt == "auto" else fmt
    street_frame = geometry.load_streets(streets) if isinstance(streets, str | Path) else streets
    parsers: dict[str, Callable[[Path], Parsed]] = {
        "cerema": formats.parse_cerema,
        "paris": formats.parse_paris,
        "cds": formats.parse_cds,
        "osm": formats.parse_osm,
    }
    try:
        declared = None if area is None else sanity.load_area(area)
    except ValueError as exc:
        raise InventoryError(str(exc)) from exc
    parsed = parsers[chosen](p)
    res = _finish(source or f"{chosen}:{p.name}", chosen, parsed, street_frame, declared)
    warnings = list(res.warnings)
    if chosen in ("cerema", "paris"):
        note = sanity.read_text(p)[1]
        if note is not None:
            warnings.insert(0, Rejected(0, note, "file"))
    return ImportResult(zones=res.zones, rejected=res.rejected, fmt=chosen, warnings=warnings)


def _record(c: Candidate, source: str) -> CurbZoneRecord:
    # Ids and footprints were filled in above, for every kept candidate.
    assert c.uuid is not None and c.geometry is not None
    return CurbZoneRecord(
        curb_zone_id=c.uuid,
        name=c.name or c.local_id,
        device_id=None,
        source=source,
        geometry=c.geometry,
        lon=c.lon,
        lat=c.lat,
        length_cm=c.length_cm,
        width_cm=c.width_cm,
        num_spaces=c.num_spaces,
        max_stay_min=c.max_stay_min,
        vehicle_types=None if c.vehicle_types is None else tuple(c.vehicle_types),
        user_classes=None if c.user_classes is None else tuple(c.user_classes),
        delivery_hours=c.delivery_hours,
        street_name=c.street_name,
        street_side=c.street_side,
        area_id=c.area_id,
        area_name=c.area_name,
        attributes={"local_id": c.local_id, **c.attributes},
    )
