"""Inventory sanity checks at import: axis order, ring orientation, encodings, area.

Each check looks at one record and says, in one line, what is wrong with it
(``Rejected``: the record is left out) or what was repaired (a warning):

* **axis order** — a point whose swapped coordinates lie near the inventory's other
  bays while its own lie far away (more than ``AXIS_FAR_DEG``) had latitude and
  longitude swapped: rejected, naming both readings. Judged against the median of
  the inventory, so a file that is swapped as a whole is caught by the area check;
* **ring orientation** — a polygon given with a clockwise exterior (RFC 7946 section
  3.1.6 wants counter-clockwise) is reoriented with shapely and reported;
* **encodings** — text that reads as UTF-8 decoded as Latin-1 ("Ã©" for "é") is
  repaired and reported; a file that is not UTF-8 at all is read as Latin-1 and
  reported once (``read_text``);
* **declared area** — with an area (a GeoJSON (Multi)Polygon, e.g. the commune the
  inventory is for), a bay outside it is rejected with its coordinates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.polygon import orient

# Farther than this from the inventory's median (in degrees, ~100 km) is not a bay of it.
AXIS_FAR_DEG = 1.0
# UTF-8 multi-byte sequences read as Latin-1 start with Ã or Â followed by a Latin-1
# continuation character; genuine French text never has these pairs.
_MOJIBAKE = re.compile("[\u00c2\u00c3][\u0080-\u00bf]")


def read_text(path: Path) -> tuple[str, str | None]:
    """The file's text (UTF-8, BOM allowed) and a warning if it had to be read as Latin-1.

    Raises ``OSError`` when the file cannot be read.
    """
    try:
        return path.read_text(encoding="utf-8-sig"), None
    except UnicodeDecodeError as exc:
        return (
            path.read_text(encoding="latin-1"),
            f"{path.name}: not UTF-8 (byte {exc.start}); read as Latin-1",
        )


def repair_mojibake(value: str) -> str | None:
    """``value`` decoded right when it is UTF-8 that was read as Latin-1, else None."""
    if not _MOJIBAKE.search(value):
        return None
    try:
        fixed = value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None
    return fixed if fixed != value else None


def swapped_axes(lon: float, lat: float, centre: tuple[float, float]) -> bool:
    """Whether (lon, lat) is far from ``centre`` but (lat, lon) is near it."""
    cx, cy = centre
    own = max(abs(lon - cx), abs(lat - cy))
    swapped = max(abs(lat - cx), abs(lon - cy))
    return own > AXIS_FAR_DEG and swapped <= AXIS_FAR_DEG


def median_centre(lons: list[float], lats: list[float]) -> tuple[float, float] | None:
    """The inventory's place: median (lon, lat) of its bays; None for fewer than three."""
    if len(lons) < 3:
        return None  # too few to say what "the inventory's place" is
    return float(np.median(lons)), float(np.median(lats))


def oriented(poly: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """The polygon with a counter-clockwise exterior (and clockwise holes), and whether
    it had to be turned."""
    g = shape(poly)
    if g.geom_type != "Polygon" or g.is_empty:
        return dict(poly), False
    if g.exterior.is_ccw and all(not r.is_ccw for r in g.interiors):
        return dict(poly), False
    fixed = orient(g, sign=1.0)
    out = shapely.geometry.mapping(fixed)
    return {
        "type": "Polygon",
        "coordinates": [[list(p) for p in r] for r in out["coordinates"]],
    }, True


def load_area(area: Mapping[str, Any] | str | Path) -> shapely.Geometry:
    """A declared area from a GeoJSON geometry, Feature or FeatureCollection (dict or file).

    Raises ``ValueError`` naming what is wrong.
    """
    import json

    doc: Any = area
    if isinstance(area, str | Path):
        try:
            doc = json.loads(Path(area).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{area}: cannot read the declared area: {exc}") from exc
    if not isinstance(doc, Mapping):
        raise ValueError("declared area: not a GeoJSON object")
    if doc.get("type") == "FeatureCollection":
        geoms = [shape(f["geometry"]) for f in doc.get("features", []) if f.get("geometry")]
        g = shapely.union_all(geoms) if geoms else shapely.Polygon()
    elif doc.get("type") == "Feature":
        g = shape(doc["geometry"])
    else:
        g = shape(doc)
    if g.is_empty or g.geom_type not in ("Polygon", "MultiPolygon"):
        raise ValueError("declared area: needs a (Multi)Polygon")
    return g
