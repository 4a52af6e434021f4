"""The Paris 3e real instance, assembled from ``../shared/geodata`` (read-only, ODbL).

- bays: the 248 real delivery bays of the 3e (Ville de Paris open data);
- demand: the shops of the 3e that declared delivery or pickup (self-declared, a
  subset of all businesses), weighted by shop type (``SHOP_DAILY``, an assumption:
  labelled simulated in every output);
- streets: the OpenStreetMap extract, for walking distances (every way with a
  ``highway`` tag) and for candidate kerb segments (drivable ways inside the 3e, cut
  into pieces by ``optimiser.kerb``: one per kerb side, no bus-lane side, nothing
  within 5 m of a junction or crossing, half of each piece counted usable, an
  assumption).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

from optimiser.distances import StreetGraph, street_graph, to_l93
from optimiser.errors import OptimiserInputError
from optimiser.inputs import Demand, Rules, Sites
from optimiser.kerb import SEGMENT_M, USABLE_SHARE, kerb_candidates
from optimiser.loaders import sites_from_zones, with_candidates, zones_from_inventory

# Assumed inbound deliveries a day by declared shop type (fresh food daily, other trades
# a few times a week); shops offering home delivery add HOME_DELIVERY_EXTRA for their
# own outbound trips. Labelled simulated wherever used.
SHOP_DAILY: dict[str, float] = {
    "Restaurant ou traiteur": 2.0,
    "Alimentation générale et produits de première nécessité": 2.0,
    "Boucherie - charcuterie - rôtisserie": 1.5,
    "Primeur": 1.5,
    "Boulangerie - pâtisserie": 1.5,
    "Poissonnerie": 1.5,
    "Pharmacies et parapharmacies": 1.5,
    "Fromagerie": 1.0,
    "Épicerie fine": 1.0,
    "Epicerie fine": 1.0,
    "Caviste - Brasserie": 1.0,
    "Fleuriste": 1.0,
    "Presse et papeterie": 1.0,
    "Chocolaterie - Pâtisserie": 0.7,
    "Librairie": 0.7,
}
OTHER_SHOP_DAILY = 0.5
HOME_DELIVERY_EXTRA = 0.5

WALK_HIGHWAYS = frozenset(
    {
        "footway",
        "residential",
        "steps",
        "service",
        "cycleway",
        "pedestrian",
        "living_street",
        "primary",
        "tertiary",
        "secondary",
        "unclassified",
        "path",
        "secondary_link",
        "primary_link",
        "tertiary_link",
    }
)


def geodata_dir(repo_root: Path | None = None) -> Path:
    """The shared geodata folder (``../shared/geodata`` beside the repository)."""
    root = repo_root or Path(__file__).resolve().parents[1]
    return (root / ".." / "shared" / "geodata").resolve()


@dataclass(frozen=True, eq=False)
class RealInstance:
    """A real optimiser instance: sites, demand and the walking graph (Lambert-93), street
    lines and boundary for the map, notes on the data, and each existing bay's street.
    """

    name: str
    sites: Sites
    demand: Demand
    graph: StreetGraph
    streets_xy: list[np.ndarray]  # for the map
    boundary_lonlat: list[np.ndarray]
    notes: tuple[str, ...]
    street_of: tuple[str, ...]  # street name of each existing bay (time-slot zones)


def _arrondissement(geo: Path, number: int) -> shapely.Geometry:
    path = geo / "paris_arrondissements.geojson"
    if not path.is_file():
        raise OptimiserInputError(f"{path}: file not found")
    arr = gpd.read_file(path)
    sel = arr[arr["c_ar"].astype(int) == number]
    if sel.empty:
        raise OptimiserInputError(f"{path}: no arrondissement {number}")
    return sel.geometry.iloc[0]


def shop_demand(path: Path, boundary: shapely.Geometry) -> Demand:
    """Demand points from a shops GeoJSON inside ``boundary``: deliveries a day per shop by
    shop type (``SHOP_DAILY``), marked simulated. Raises ``OptimiserInputError`` when the
    file is missing.
    """
    if not path.is_file():
        raise OptimiserInputError(f"{path}: file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        features = data["features"]
    except (OSError, ValueError, KeyError, TypeError) as exc:  # UnicodeDecodeError too
        raise OptimiserInputError(f"{path}: not a GeoJSON FeatureCollection ({exc})") from exc
    ids, pts, daily, labels = [], [], [], []
    for n, f in enumerate(features):
        try:
            lon, lat = f["geometry"]["coordinates"][:2]
        except (KeyError, TypeError, ValueError) as exc:
            raise OptimiserInputError(f"{path}: feature {n} has no point geometry") from exc
        if not boundary.contains(shapely.Point(lon, lat)):
            continue
        p = f["properties"]
        w = SHOP_DAILY.get(p.get("shop_type") or "", OTHER_SHOP_DAILY)
        if "Livraisons" in (p.get("services") or ""):
            w += HOME_DELIVERY_EXTRA
        ids.append(f"shop-{n}")
        pts.append((lon, lat))
        daily.append(w)
        labels.append(f"{p.get('name', '')} ({p.get('shop_type', '')})")
    if not ids:
        raise OptimiserInputError(f"{path}: no shop inside the area")
    lonlat = np.asarray(pts, dtype=float)
    return Demand(tuple(ids), to_l93(lonlat), lonlat, np.asarray(daily), tuple(labels), True)


def paris_3e(rules: Rules | None = None, geo: Path | None = None) -> RealInstance:
    """The Paris 3rd arrondissement instance: its real delivery bays (Ville de Paris
    inventory), demand from its shops and its OSM street graph. Raises
    ``OptimiserInputError`` when a geodata file is missing.
    """
    rules = rules or Rules()
    geo = geo or geodata_dir()
    boundary = _arrondissement(geo, 3)
    boundary_l93 = gpd.GeoSeries([boundary], crs=4326).to_crs(2154).iloc[0]
    zones = zones_from_inventory(geo / "paris_delivery_bays.csv", "paris", area="75103")
    existing = sites_from_zones(zones, rules, where="paris_delivery_bays.csv")
    pbf = geo / "paris_3e_streets.osm.pbf"
    if not pbf.is_file():
        raise OptimiserInputError(f"{pbf}: file not found")
    all_lines = pyogrio.read_dataframe(pbf, layer="lines")
    points = pyogrio.read_dataframe(pbf, layer="points")
    lines = all_lines[all_lines["highway"].isin(WALK_HIGHWAYS)]
    walk_xy = [np.asarray(g.coords) for g in lines.to_crs(2154).geometry if g is not None]
    graph = street_graph(walk_xy)
    cid, clines, cusable, skipped = kerb_candidates(all_lines, points, boundary_l93, existing.xy)
    sites = with_candidates(existing, cid, clines, cusable, rules, area=["75103"] * len(cid))
    demand = shop_demand(geo / "paris_shops_delivery.geojson", boundary)
    ring = np.asarray(boundary.exterior.coords) if boundary.geom_type == "Polygon" else None
    return RealInstance(
        name="Paris 3e",
        sites=sites,
        demand=demand,
        graph=graph,
        streets_xy=walk_xy,
        boundary_lonlat=[ring] if ring is not None else [],
        street_of=tuple(str(v or "") for v in zones["street_name"]),
        notes=(
            "bays: Ville de Paris open data (ODbL); streets: © OpenStreetMap contributors (ODbL)",
            f"demand: {len(demand)} self-declared shops, weights by shop type (simulated)",
            "hourly profile and dwell: assumed typical urban delivery day (simulated)",
            f"candidates: drivable OSM ways cut into {SEGMENT_M:g} m pieces, "
            f"{USABLE_SHARE:.0%} usable (assumption), one per kerb side;"
            f" {skipped['bus_lane_sides']} bus-lane sides (of {skipped['bus_lane_ways']} ways)"
            " and the 5 m before junctions and crossings left out",
        ),
    )
