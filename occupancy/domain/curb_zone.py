"""``CurbZoneRecord``: one bay as stored in ``curb_zones``, whoever produced it.

A site file's bay (``occupancy.observe.zones.zone_rows``), an imported inventory's bay
(``occupancy.inventory.bays``) and the API's read model (``api.live``) are this one
type. Field names and units are those of CDS 1.0 ``Curbs API`` Curb Zone where CDS has
the field (``curb_zone_id``, lengths in cm, ``published_date``/``last_updated_date`` as
``published_ms``/``last_updated_ms``, ms since the epoch) and of the ``curb_zones``
columns otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class CurbZoneRecord:
    """One curb zone (a delivery bay): geometry, regulation and provenance.

    ``geometry`` is a GeoJSON Polygon in WGS84 (RFC 7946: longitude first); ``lon``/
    ``lat`` a representative point of it in degrees. ``device_id`` is the camera that
    watches the bay (None: no camera, e.g. an inventory bay). ``source`` names the site
    file (``site:<camera>``) or inventory dataset it came from. ``vehicle_types`` are CDS
    vehicle types allowed (None: any), ``user_classes`` CDS user classes,
    ``delivery_hours`` an OSM ``opening_hours`` string. ``last_updated_ms`` is None only
    before the store has stamped it (``Store.upsert_zones`` sets the write time).
    """

    curb_zone_id: str
    name: str | None
    lon: float
    lat: float
    geometry: Mapping[str, Any]
    device_id: str | None
    source: str
    area_id: str | None = None
    area_name: str | None = None
    length_cm: int | None = None
    width_cm: int | None = None
    num_spaces: int | None = None
    max_stay_min: float | None = None
    vehicle_types: tuple[str, ...] | None = None
    user_classes: tuple[str, ...] | None = None
    street_name: str | None = None
    street_side: str | None = None
    delivery_hours: str | None = None
    published_ms: int | None = None
    last_updated_ms: int | None = None
    attributes: Mapping[str, Any] | None = None

    @property
    def geometry_derived(self) -> str | None:
        """How the footprint was made where it was not surveyed (the importer's
        ``attributes.footprint``, e.g. "rectangle, east-west (no street to align to)");
        None when the geometry is as given."""
        v = self.attributes.get("footprint") if isinstance(self.attributes, Mapping) else None
        return str(v) if v else None

    @property
    def updated_ms(self) -> int:
        """``last_updated_ms`` of a stored record; ``ValueError`` for one never stored."""
        if self.last_updated_ms is None:
            raise ValueError(f"curb zone {self.curb_zone_id}: not stored yet (no last_updated_ms)")
        return self.last_updated_ms

    def row(self) -> dict[str, Any]:
        """The ``curb_zones`` row: tuples as JSON lists; an unset ``last_updated_ms`` is left
        out so that the store stamps it."""
        out = asdict(self)
        for k in ("vehicle_types", "user_classes"):
            if out[k] is not None:
                out[k] = list(out[k])
        if out["last_updated_ms"] is None:
            del out["last_updated_ms"]
        return out

    @classmethod
    def from_row(cls, r: Mapping[str, Any]) -> CurbZoneRecord:
        """A record from a ``curb_zones`` row or a DataFrame record (NaN read as None).

        Raises ``KeyError`` when a required column (``curb_zone_id``, ``lon``, ``lat``,
        ``geometry``, ``source``) is missing.
        """
        vt, uc = _opt(r.get("vehicle_types")), _opt(r.get("user_classes"))
        return cls(
            curb_zone_id=str(r["curb_zone_id"]),
            name=_opt(r.get("name")),
            lon=float(r["lon"]),
            lat=float(r["lat"]),
            geometry=r["geometry"],
            device_id=_opt(r.get("device_id")),
            source=str(r["source"]),
            area_id=_opt(r.get("area_id")),
            area_name=_opt(r.get("area_name")),
            length_cm=_opt_int(r.get("length_cm")),
            width_cm=_opt_int(r.get("width_cm")),
            num_spaces=_opt_int(r.get("num_spaces")),
            max_stay_min=_opt(r.get("max_stay_min")),
            vehicle_types=None if vt is None else tuple(vt),
            user_classes=None if uc is None else tuple(uc),
            street_name=_opt(r.get("street_name")),
            street_side=_opt(r.get("street_side")),
            delivery_hours=_opt(r.get("delivery_hours")),
            published_ms=_opt_int(r.get("published_ms")),
            last_updated_ms=_opt_int(r.get("last_updated_ms")),
            attributes=_opt(r.get("attributes")),
        )


FIELDS = tuple(f.name for f in fields(CurbZoneRecord))


def records_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[CurbZoneRecord]:
    """``CurbZoneRecord.from_row`` over rows (e.g. ``DataFrame.to_dict("records")``)."""
    return [CurbZoneRecord.from_row(r) for r in rows]


def _opt(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _opt_int(v: Any) -> int | None:
    v = _opt(v)
    return None if v is None else int(v)
