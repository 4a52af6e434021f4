"""One parser per inventory format; each turns a file into ``Candidate`` bays and rejections."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from occupancy.domain.geo import WGS84, metric_crs, transformer
from occupancy.inventory import geometry
from occupancy.inventory import opening_hours as oh
from occupancy.inventory.bays import (
    Candidate,
    InventoryError,
    Parsed,
    RecordError,
    Rejected,
    lonlat,
    number,
    optional_number,
    parse_rows,
    polygon_from_geojson,
    read_csv_rows,
    read_json,
    valid_uuid,
)

# Paris: a "ZL périodique" without its own hours is delivery-only 07:00-20:00 except
# Sundays and public holidays (Ville de Paris parking rules), "ZL permanente" always.
PARIS_PERIODIC_HOURS = "Mo-Sa 07:00-20:00; PH off"
ALWAYS = "24/7"


def _get(row: dict[str, str], *names: str) -> str:
    for n in names:
        v = row.get(n)
        if v is not None and v.strip() not in ("", "NA", "NaN", "N/A", "n/a"):
            return v.strip()
    return ""


def _hours(value: str, field: str) -> str | None:
    if not value:
        return None
    try:
        return oh.check(value)
    except oh.OpeningHoursError as exc:
        raise RecordError(f"{field}: {exc}") from None


def _length_cm(value: str, field: str, *, metres: bool | None) -> int | None:
    """Length in cm; ``metres=None`` guesses: values under 100 are metres (0.1 files)."""
    v = optional_number(value, field, lo=0)
    if v is None or v == 0:
        return None
    if metres or (metres is None and v < 100):
        v *= 100
    if v > 100_000:
        raise RecordError(f"{field} {value} is over 1 km")
    return round(v)


def _point_from_geo_shape(value: str) -> tuple[float, float]:
    try:
        g = json.loads(value)
        x, y = g["coordinates"][:2]
    except (ValueError, KeyError, TypeError):
        raise RecordError(f"geo_shape is not a GeoJSON point: {value[:60]!r}") from None
    return lonlat(x, y)


def _side(value: str) -> str | None:
    v = value.strip().lower()
    return {"pair": "even", "impair": "odd"}.get(v)


# -- CEREMA schema-aire-livraison ---------------------------------------------------


def _cerema_row(line: int, row: dict[str, str]) -> Candidate:
    hds = "code_insee" in row  # Hauts-de-Seine departmental export of the same family
    local_id = _get(row, "ID", "id")
    if not local_id:
        raise RecordError("ID is missing")
    xy = _get(row, "XY")
    if _get(row, "LONGITUDE") or _get(row, "LATITUDE"):
        lon, lat = lonlat(_get(row, "LONGITUDE"), _get(row, "LATITUDE"))
    elif xy:
        parts = re.split(r"[,\s;]+", xy.strip("() "))
        if len(parts) != 2:
            raise RecordError(f"XY is not 'lon,lat': {xy!r}")
        lon, lat = lonlat(parts[0], parts[1])
    elif _get(row, "geo_shape"):
        lon, lat = _point_from_geo_shape(_get(row, "geo_shape"))
    else:
        raise RecordError("no coordinates (LONGITUDE/LATITUDE or XY)")

    c = Candidate(number=line, local_id=local_id, lon=lon, lat=lat)
    c.uuid = valid_uuid(_get(row, "UUID"))
    c.name = _get(row, "NOM") or None
    wkt = _get(row, "GEOM_WKT")
    if wkt:
        try:
            c.geometry = polygon_from_geojson(wkt)
        except RecordError as exc:
            c.attributes["geom_wkt_ignored"] = str(exc)
    if hds:
        c.length_cm = _length_cm(_get(row, "longueur"), "longueur", metres=True)
        c.width_cm = _length_cm(_get(row, "largeur"), "largeur", metres=True)
        try:
            c.delivery_hours = oh.from_ranges([(_get(row, "h_debut"), _get(row, "h_fin"))])
        except oh.OpeningHoursError as exc:
            raise RecordError(f"h_debut/h_fin: {exc}") from None
        if c.delivery_hours is None:
            c.delivery_hours = ALWAYS
        c.street_name = _get(row, "adresse") or None
        c.street_side = {"droit": "right", "gauche": "left"}.get(_get(row, "loc_num").lower())
        c.area_id = _get(row, "code_insee") or None
        c.area_name = _get(row, "commune") or None
        c.attributes.update(
            {k: row[k] for k in ("type", "sens", "tonnage", "lim_vitesse") if row.get(k)}
        )
        return c
    c.length_cm = _length_cm(_get(row, "LONGUEUR"), "LONGUEUR", metres=None)
    c.width_cm = _length_cm(_get(row, "LARGEUR"), "LARGEUR", metres=None)
    places = optional_number(_get(row, "NB_PLACES"), "NB_PLACES", lo=1, hi=100)
    c.num_spaces = None if places is None else int(places)
    c.max_stay_min = optional_number(_get(row, "DUREE_MAX"), "DUREE_MAX", lo=1, hi=24 * 60)
    osm_field = "TEMPORALITE_OSM" if _get(row, "TEMPORALITE_OSM") else "JH"
    c.delivery_hours = _hours(_get(row, osm_field), osm_field)
    c.street_name = _get(row, "ADRESSE") or None
    c.street_side = _side(_get(row, "PARITE_TROTTOIR"))
    c.area_id = _get(row, "COLL_INSEE", "CODE_POSTAL") or None
    c.area_name = _get(row, "COMMUNE", "COLL_NOM") or None
    for k in ("TYPE", "ACTIVE", "REGLEMENT", "LOCALISATION", "DISPOSITION", "DUREE_CONTROLE"):
        if _get(row, k):
            c.attributes[k.lower()] = _get(row, k)
    return c


def parse_cerema(path: Path) -> Parsed:
    """Parse a CEREMA ``schema-aire-livraison`` CSV (0.1 or 1.0 field names). Raises
    ``InventoryError`` when identifying or position columns are missing.
    """
    header, rows = read_csv_rows(path)
    cols = set(header)
    if "code_insee" not in cols:
        missing = [n for n in ("ID",) if n not in cols]
        if not ({"LONGITUDE", "LATITUDE"} <= cols or "XY" in cols):
            missing.append("LONGITUDE/LATITUDE or XY")
        if missing:
            raise InventoryError(f"{path}: missing field(s) {', '.join(missing)}")
    parsed = parse_rows(rows, _cerema_row)
    for c in parsed.candidates:
        if "geom_wkt_ignored" in c.attributes:
            parsed.warnings.append(
                Rejected(c.number, f"GEOM_WKT ignored ({c.attributes['geom_wkt_ignored']})")
            )
    return parsed


# -- Ville de Paris ------------------------------------------------------------------


PARIS_MAX_STAY_MIN = 30.0


def _paris_row(line: int, row: dict[str, str]) -> Candidate:
    regime = _get(row, "Régime prioritaire")
    if regime.upper() != "LIVRAISON":
        raise RecordError(f"not a delivery bay (Régime prioritaire = {regime!r})")
    shape = _get(row, "geo_shape")
    if shape:
        lon, lat = _point_from_geo_shape(shape)
    elif _get(row, "geo_point_2d"):
        parts = _get(row, "geo_point_2d").split(",")
        if len(parts) != 2:
            raise RecordError("geo_point_2d is not 'lat, lon'")
        lon, lat = lonlat(parts[1], parts[0])
    else:
        raise RecordError("no coordinates (geo_shape)")
    new_id, old_id = _get(row, "Nouvel identifiant"), _get(row, "Ancien identifiant")
    local_id = new_id or (f"ancien:{old_id}" if old_id else f"xy:{lon:.6f},{lat:.6f}")
    c = Candidate(number=line, local_id=local_id, lon=lon, lat=lat)
    # The export carries no duration: Paris's rule for every delivery bay is a 30-minute stop.
    c.max_stay_min = PARIS_MAX_STAY_MIN
    c.length_cm = _length_cm(_get(row, "Longueur"), "Longueur", metres=True)
    c.width_cm = _length_cm(_get(row, "Largeur"), "Largeur", metres=True)
    places = optional_number(
        _get(row, "Nombre places réelles", "Nombre places calculées"), "Nombre places", lo=0
    )
    c.num_spaces = None if places is None else max(1, int(places))
    ranges = [
        (_get(row, f"Plage horaire {i}-Début"), _get(row, f"Plage horaire {i}-Fin"))
        for i in (1, 2, 3)
    ]
    ranges = [(a, b) for a, b in ranges if a or b]
    special = _get(row, "Régime particulier")
    try:
        hours = oh.from_ranges(ranges) if ranges else None
    except oh.OpeningHoursError as exc:
        # The bay itself is fine; its special hours are unreadable: keep the regime default.
        c.attributes["hours_ignored"] = f"Plage horaire: {exc}"
        hours = None
    if hours is None:
        hours = PARIS_PERIODIC_HOURS if "riodique" in special else ALWAYS
    c.delivery_hours = hours
    c.street_name = " ".join(p for p in (_get(row, "Type voie"), _get(row, "Nom voie")) if p)
    c.street_name = c.street_name.replace("' ", "'") or None
    c.street_side = _side(_get(row, "Parité"))
    arr = _get(row, "Arrondissement")
    if arr:
        n = int(number(arr, "Arrondissement"))
        if 1 <= n <= 20:
            c.area_id = f"751{n:02d}"
            c.area_name = f"Paris {n}{'er' if n == 1 else 'e'}"
        else:  # the export uses 21/22 for a few bays outside the 20 arrondissements
            c.attributes["arrondissement"] = n
    num = " ".join(p for p in (_get(row, "Numéro voie"), _get(row, "Complément numéro voie")) if p)
    c.name = f"{num} {c.street_name or ''}".strip() or None
    for key, col in (
        ("regime", "Régime particulier"),
        ("iris", "Numéro IRIS"),
        ("location", "Localisation stationnement"),
        ("parking_type", "Type de stationnement"),
        ("surveyed", "Date du relevé"),
    ):
        if _get(row, col):
            c.attributes[key] = _get(row, col)
    return c


def parse_paris(path: Path) -> Parsed:
    """Parse the Ville de Paris "stationnement-voie-publique-emplacements" CSV (delivery
    bays). Raises ``InventoryError`` when "Régime prioritaire" or ``geo_shape`` is missing.
    """
    header, rows = read_csv_rows(path)
    missing = [n for n in ("Régime prioritaire", "geo_shape") if n not in header]
    if missing:
        raise InventoryError(f"{path}: missing field(s) {', '.join(missing)}")
    parsed = parse_rows(rows, _paris_row)
    parsed.warnings.extend(
        Rejected(c.number, c.attributes["hours_ignored"])
        for c in parsed.candidates
        if "hours_ignored" in c.attributes
    )
    return parsed


# -- GeoJSON helpers ------------------------------------------------------------------


def _features(path: Path) -> list[Any]:
    data = read_json(path)
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise InventoryError(f"{path}: not a GeoJSON FeatureCollection")
    crs = data.get("crs")
    if crs:
        name = str((crs.get("properties") or {}).get("name", "")) if isinstance(crs, dict) else ""
        if not re.search(r"CRS84|4326", name):
            raise InventoryError(
                f"{path}: CRS {name or crs!r} is not WGS84; GeoJSON must be longitude/latitude "
                "(RFC 7946): reproject it first"
            )
    feats = data.get("features")
    if not isinstance(feats, list):
        raise InventoryError(f"{path}: 'features' is not a list")
    return feats


def _parse_features(feats: list[Any], one: Any) -> Parsed:
    out = Parsed([], [], unit="feature")
    for i, f in enumerate(feats):
        try:
            if not isinstance(f, dict) or f.get("type") != "Feature":
                raise RecordError("not a GeoJSON Feature")
            res = one(i, f)
            out.candidates.extend(res if isinstance(res, list) else [res])
        except RecordError as exc:
            out.rejected.append(Rejected(i, str(exc), "feature"))
    return out


def _centre(poly: dict[str, Any]) -> tuple[float, float]:
    p = shapely.point_on_surface(geometry.shapely_shape(poly))
    return round(float(p.x), 7), round(float(p.y), 7)


# -- CDS curb zones ----------------------------------------------------------------------


def _cds_feature(i: int, f: dict[str, Any]) -> Candidate:
    props = f.get("properties") or {}
    zid = valid_uuid(props.get("curb_zone_id"))
    if zid is None:
        raise RecordError(f"curb_zone_id is not a UUID: {props.get('curb_zone_id')!r}")
    if f.get("geometry") is None:
        raise RecordError("no geometry")
    poly = polygon_from_geojson(f["geometry"])
    lon, lat = _centre(poly)
    c = Candidate(number=i, local_id=zid, lon=lon, lat=lat, uuid=zid, geometry=poly)
    c.name = props.get("name")
    ln = optional_number(props.get("length"), "length", lo=0)
    wd = optional_number(props.get("width"), "width", lo=0)
    c.length_cm = None if ln is None else round(ln)
    c.width_cm = None if wd is None else round(wd)
    ns = optional_number(props.get("num_spaces"), "num_spaces", lo=0)
    c.num_spaces = None if ns is None else int(ns)
    c.max_stay_min = optional_number(props.get("max_stay_min"), "max_stay_min", lo=0)
    if props.get("delivery_hours"):
        c.delivery_hours = _hours(str(props["delivery_hours"]), "delivery_hours")
    if "vehicle_types" in props:
        vt = props.get("vehicle_types")
        c.vehicle_types = [str(v) for v in vt] if isinstance(vt, list) else None
    c.user_classes = props.get("user_classes") or c.user_classes
    c.street_name = props.get("street_name")
    c.street_side = props.get("street_side")
    areas = props.get("curb_area_ids") or []
    c.area_id = str(areas[0]) if areas else None
    for k in ("curb_policy_ids", "curb_area_ids", "parking_angle", "cross_street_start_name"):
        if props.get(k) is not None:
            c.attributes[k] = props[k]
    return c


def parse_cds(path: Path) -> Parsed:
    """Parse a CDS 1.x Curbs ``curb_zones`` GeoJSON FeatureCollection (one bay per feature)."""
    return _parse_features(_features(path), _cds_feature)


# -- OpenStreetMap ----------------------------------------------------------------------

_SIDES = ("left", "right", "both")
_DEFAULT_ROAD_HALF_WIDTH_M = 4.0


def _loading_sides(props: dict[str, Any]) -> list[str]:
    sides = []
    for s in _SIDES:
        if (
            str(props.get(f"parking:{s}:restriction", "")).strip() == "loading_only"
            or str(props.get(f"parking:condition:{s}", "")).strip() == "loading"
        ):
            sides.append(s)
    if not sides and str(props.get("parking:condition", "")).strip() == "loading":
        sides = ["both"]
    if "both" in sides:
        sides = ["left", "right"]
    return sides


def _osm_hours(props: dict[str, Any], side: str) -> str | None:
    for key in (
        f"parking:{side}:restriction:conditional",
        "parking:both:restriction:conditional",
        f"parking:condition:{side}:time_interval",
        "parking:condition:time_interval",
    ):
        v = props.get(key)
        if not v:
            continue
        m = re.search(r"loading_only\s*@\s*\((.+)\)", str(v))
        text = m.group(1) if m else str(v)
        return _hours(text, key)
    return None


_HSTORE = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')


def osm_tags(props: dict[str, Any]) -> dict[str, Any]:
    """Feature properties with GDAL's ``other_tags`` hstore ("k"=>"v",...) expanded."""
    extra = props.get("other_tags")
    if not isinstance(extra, str):
        return props
    tags = {k.replace('\\"', '"'): v.replace('\\"', '"') for k, v in _HSTORE.findall(extra)}
    return {**tags, **{k: v for k, v in props.items() if k != "other_tags"}}


def _osm_feature(i: int, f: dict[str, Any]) -> list[Candidate]:
    props = osm_tags(f.get("properties") or {})
    sides = _loading_sides(props)
    if not sides:
        raise RecordError("no loading restriction tag (parking:<side>:restriction=loading_only)")
    geom = f.get("geometry")
    if geom is None:
        raise RecordError("no geometry")
    try:
        shp = geometry.shapely_shape(geom)
    except Exception as exc:
        raise RecordError(f"invalid geometry: {exc}") from None
    osm_id = str(
        props.get("@id") or props.get("id") or props.get("osm_id") or f.get("id") or f"feature{i}"
    )
    name = props.get("name")
    out = []
    if shp.geom_type in ("Polygon", "MultiPolygon", "Point"):
        if shp.geom_type == "Point":
            lon, lat = lonlat(shp.x, shp.y)
            c = Candidate(number=i, local_id=osm_id, lon=lon, lat=lat)
        else:
            poly = polygon_from_geojson(geom)
            lon, lat = _centre(poly)
            c = Candidate(number=i, local_id=osm_id, lon=lon, lat=lat, geometry=poly)
        c.delivery_hours = _osm_hours(props, sides[0])
        c.street_name = name
        out.append(c)
        return out
    if shp.geom_type != "LineString":
        raise RecordError(f"geometry is a {shp.geom_type}")
    xs, ys = shapely.get_coordinates(shp).T
    if np.any(np.abs(xs) > 180) or np.any(np.abs(ys) > 90):
        raise RecordError("coordinates are not WGS84 longitude/latitude")
    crs = metric_crs(xs, ys)
    to_m = transformer(WGS84, crs)
    to_ll = transformer(crs, WGS84)
    line_m = shapely.transform(shp, lambda a: np.column_stack(to_m.transform(a[:, 0], a[:, 1])))
    width_tag = optional_number(props.get("width"), "width", lo=0)
    half = width_tag / 2 if width_tag else _DEFAULT_ROAD_HALF_WIDTH_M
    lane_w = 2.0
    for side in sides:
        d = half - lane_w / 2
        offset = shapely.offset_curve(line_m, d if side == "left" else -d)
        poly_m = shapely.buffer(offset, lane_w / 2, cap_style="flat")
        poly = shapely.transform(
            poly_m, lambda a: np.column_stack(to_ll.transform(a[:, 0], a[:, 1]))
        )
        pj = polygon_from_geojson(geometry.to_geojson(poly))
        lon, lat = _centre(pj)
        c = Candidate(number=i, local_id=f"{osm_id}:{side}", lon=lon, lat=lat, geometry=pj)
        c.length_cm = round(line_m.length * 100)
        c.width_cm = round(lane_w * 100)
        c.delivery_hours = _osm_hours(props, side)
        c.street_name = name
        c.street_side = side
        maxstay = props.get(f"parking:{side}:maxstay") or props.get("parking:both:maxstay")
        if maxstay:
            m = re.match(r"\s*(\d+(?:\.\d+)?)\s*(min|minutes|h|hours?)?", str(maxstay))
            if m:
                c.max_stay_min = float(m.group(1)) * (
                    60 if (m.group(2) or "").startswith("h") else 1
                )
        c.name = f"{name or osm_id} ({side})"
        c.attributes["osm_id"] = osm_id
        out.append(c)
    return out


def parse_osm(path: Path) -> Parsed:
    """Parse an OpenStreetMap GeoJSON extract: ways with ``parking:*`` loading restrictions
    (Key:parking on the OSM wiki); other ways are ignored, not rejected.
    """
    feats = _features(path)
    parsed = _parse_features(feats, _osm_feature)
    # Ways without any loading tag are ordinary streets in an extract, not bad records.
    parsed.rejected = [r for r in parsed.rejected if not r.reason.startswith("no loading")]
    return parsed
