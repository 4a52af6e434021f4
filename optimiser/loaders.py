"""Read bays, demand points and candidate kerb segments from the files users give.

Bay inventories are parsed by ``occupancy.inventory`` (one parser per format, shared
with ``baywatch db import``); this module turns its ``curb_zones`` rows into model
sites. Every problem is reported as one ``OptimiserInputError`` line naming
the file, field and value.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from optimiser.distances import to_l93, to_wgs84
from optimiser.errors import OptimiserInputError
from optimiser.inputs import Demand, Rules, Sites


def _need(path: Path) -> None:
    if not path.is_file():
        raise OptimiserInputError(f"{path}: file not found")


def _finite_lonlat(lonlat: np.ndarray, where: str, ids: list[str]) -> None:
    ok = (
        np.isfinite(lonlat).all(axis=1)
        & (np.abs(lonlat[:, 0]) <= 180)
        & (np.abs(lonlat[:, 1]) <= 90)
    )
    if not ok.all():
        bad = int(np.argmin(ok))
        raise OptimiserInputError(f"{where}: {ids[bad]} has invalid lon/lat {lonlat[bad].tolist()}")


def _unique(ids: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i in ids:
        n = seen.get(i, 0)
        seen[i] = n + 1
        out.append(i if n == 0 else f"{i}#{n}")
    return out


def zones_from_inventory(path: Path, fmt: str = "auto", area: str | None = None) -> pd.DataFrame:
    """A bay inventory file (Paris CSV, CDS GeoJSON, CEREMA CSV, OSM) as ``curb_zones`` rows.

    Parsed by ``occupancy.inventory`` (one parser per format, as ``baywatch db import``
    uses); ``area`` keeps the bays whose ``area_id`` or ``area_name`` matches it. Raises
    ``OptimiserInputError`` naming the file when it cannot be read or holds no bay."""
    from occupancy.inventory.bays import InventoryError, load_bays

    try:
        res = load_bays(path, fmt)
    except InventoryError as exc:
        raise OptimiserInputError(str(exc)) from None
    if not res.zones:
        first = f" (first rejected: {res.rejected[0]})" if res.rejected else ""
        raise OptimiserInputError(f"{path}: no bays{first}")
    zones = pd.DataFrame([z.row() for z in res.zones])
    if area is not None:
        zones = select_area(zones, area, where=str(path))
    return zones


def select_area(zones: pd.DataFrame, area: str, where: str = "zones") -> pd.DataFrame:
    """The rows whose ``area_id`` or ``area_name`` equals ``area`` (case-insensitive)."""
    key = area.strip().lower()
    ids = zones.get("area_id", pd.Series(dtype=object)).astype("string").str.lower()
    names = zones.get("area_name", pd.Series(dtype=object)).astype("string").str.lower()
    keep = (ids == key).fillna(False) | (names == key).fillna(False)
    if not keep.any():
        known = sorted({str(v) for v in zones.get("area_id", pd.Series()).dropna()})[:8]
        raise OptimiserInputError(
            f"{where}: no bays in area {area!r} (area ids include: {', '.join(known) or 'none'})"
        )
    return zones[keep.to_numpy()].reset_index(drop=True)


def sites_from_zones(zones: pd.DataFrame, rules: Rules, where: str = "zones") -> Sites:
    """Existing bays from ``curb_zones`` rows (``curb_zone_id, lon, lat, length_cm``, and
    ``num_spaces, delivery_hours, attributes, area_id, name`` when present).

    One zone holds ``num_spaces`` bays (else ``max(1, length // min_bay_length)``);
    existing sites can be kept, shrunk or removed, not grown (new bays go on candidate
    kerb segments). A permanent bay (``optimiser.regimes.regime_of_zone``) is fixed
    unless ``rules.allow_permanent_changes``; so is every id in ``rules.fixed_bay_ids``.
    """
    from optimiser.regimes import PERMANENT, regime_of_zone

    for col in ("curb_zone_id", "lon", "lat", "length_cm"):
        if col not in zones.columns:
            raise OptimiserInputError(f"{where}: missing column '{col}'")
    if zones.empty:
        raise OptimiserInputError(f"{where}: no bays")
    ids = _unique([str(v) for v in zones["curb_zone_id"]])
    lonlat = zones[["lon", "lat"]].to_numpy(dtype=float)
    _finite_lonlat(lonlat, where, ids)
    length_m = pd.to_numeric(zones["length_cm"], errors="coerce").to_numpy(dtype=float) / 100.0
    if not np.all(np.isfinite(length_m)) or np.any(length_m <= 0):
        bad = int(np.argmax(~np.isfinite(length_m) | (length_m <= 0)))
        raise OptimiserInputError(f"{where}: {ids[bad]} has length_cm {length_m[bad] * 100:g}")
    by_length = np.maximum(1, np.floor(length_m / rules.min_bay_length_m))
    if "num_spaces" in zones.columns:
        given = pd.to_numeric(zones["num_spaces"], errors="coerce").to_numpy(dtype=float)
        spaces = np.where(np.isfinite(given) & (given >= 1), given, by_length).astype(np.int64)
    else:
        spaces = by_length.astype(np.int64)
    area = [str(a) for a in zones["area_id"]] if "area_id" in zones.columns else ["" for _ in ids]
    hours = zones["delivery_hours"] if "delivery_hours" in zones.columns else [None] * len(ids)
    attrs = zones["attributes"] if "attributes" in zones.columns else [None] * len(ids)
    regime = tuple(regime_of_zone(h, a) for h, a in zip(hours, attrs, strict=True))
    permanent = np.array([r == PERMANENT for r in regime], dtype=bool)
    fixed = np.array([i in rules.fixed_bay_ids for i in ids], dtype=bool)
    if not rules.allow_permanent_changes:
        fixed |= permanent
    names = [str(v) for v in zones["name"]] if "name" in zones.columns else ["" for _ in ids]
    return Sites(
        ids=tuple(ids),
        xy=to_l93(lonlat),
        lonlat=lonlat,
        existing=spaces,
        max_bays=spaces.copy(),
        bay_length_m=length_m / spaces,
        fixed=fixed,
        area=tuple(area),
        label=tuple(f"{r} bay, {n}".rstrip(", ") for r, n in zip(regime, names, strict=True)),
        lines=tuple(None for _ in ids),
        regime=regime,
    )


def demand_from_file(path: Path, weight_field: str = "daily_deliveries") -> Demand:
    """Demand points from GeoJSON (Point features) or CSV (``lon, lat`` columns).

    ``weight_field`` gives deliveries a day per point; absent everywhere, each point
    weighs 1 and the demand is marked simulated.
    """
    _need(path)
    if path.suffix.lower() == ".csv":
        df = pd.read_csv(path)
        for col in ("lon", "lat"):
            if col not in df.columns:
                raise OptimiserInputError(f"{path}: missing column '{col}'")
        lonlat = df[["lon", "lat"]].to_numpy(dtype=float)
        weights = df[weight_field] if weight_field in df.columns else None
        ids = [str(v) for v in df["id"]] if "id" in df.columns else [str(i) for i in range(len(df))]
        labels = [str(v) for v in df.get("name", pd.Series([""] * len(df)))]
    else:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise OptimiserInputError(f"{path}: not valid JSON ({exc})") from exc
        feats = data.get("features", []) if isinstance(data, dict) else []
        pts, w, ids, labels = [], [], [], []
        for n, f in enumerate(feats):
            g = f.get("geometry") or {}
            if g.get("type") != "Point":
                raise OptimiserInputError(f"{path}: feature {n} is not a Point")
            pts.append(g["coordinates"][:2])
            props = f.get("properties") or {}
            w.append(props.get(weight_field))
            ids.append(str(props.get("id", n)))
            labels.append(str(props.get("name", "")))
        lonlat = np.asarray(pts, dtype=float).reshape(-1, 2)
        weights = None if all(v is None for v in w) else pd.Series(w, dtype=float)
    if len(lonlat) == 0:
        raise OptimiserInputError(f"{path}: no demand points")
    ids = _unique(ids)
    _finite_lonlat(lonlat, str(path), ids)
    if weights is None:
        daily = np.ones(len(lonlat))
        simulated = True
    else:
        daily = pd.to_numeric(weights, errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(daily)) or np.any(daily < 0):
            bad = int(np.argmax(~np.isfinite(daily) | (daily < 0)))
            raise OptimiserInputError(
                f"{path}: point {ids[bad]} has {weight_field}={weights.iloc[bad]!r}"
                " (need a number >= 0)"
            )
        simulated = False
    return Demand(tuple(ids), to_l93(lonlat), lonlat, daily, tuple(labels), simulated)


def candidates_from_geojson(
    path: Path, rules: Rules
) -> tuple[list[str], list[list[tuple[float, float]]], list[float]]:
    """Candidate kerb segments: LineString features with ``properties.usable_length_m``."""
    _need(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise OptimiserInputError(f"{path}: not valid JSON ({exc})") from exc
    ids, lines, usable = [], [], []
    for n, f in enumerate(data.get("features", []) if isinstance(data, dict) else []):
        g = f.get("geometry") or {}
        props = f.get("properties") or {}
        if g.get("type") != "LineString" or len(g.get("coordinates", [])) < 2:
            raise OptimiserInputError(f"{path}: feature {n} is not a LineString")
        u = props.get("usable_length_m")
        if not isinstance(u, int | float) or u < 0:
            raise OptimiserInputError(f"{path}: feature {n} has usable_length_m={u!r} (need >= 0)")
        ids.append(str(props.get("id", f"cand-{n}")))
        lines.append([(float(x), float(y)) for x, y, *_ in g["coordinates"]])
        usable.append(float(u))
    if not ids:
        raise OptimiserInputError(f"{path}: no candidate segments")
    return _unique(ids), lines, usable


def candidate_midpoints(lines_lonlat: Sequence[Sequence[tuple[float, float]]]) -> np.ndarray:
    """(n, 2) Lambert-93 midpoints (half way along) of WGS84 candidate lines: their sites."""
    mids = []
    for line in lines_lonlat:
        ls = shapely.LineString(to_l93(np.asarray(line, dtype=float)))
        mids.append(ls.interpolate(0.5, normalized=True).coords[0])
    return np.asarray(mids, dtype=float).reshape(-1, 2)


def with_candidates(
    existing: Sites,
    ids: list[str],
    lines_lonlat: list[list[tuple[float, float]]],
    usable_m: list[float],
    rules: Rules,
    area: list[str] | None = None,
    length_m: float | Sequence[float] | None = None,
) -> Sites:
    """Existing bays plus candidate kerb segments, one site each at the segment's midpoint.

    ``length_m``: kerb metres of one new bay on each segment (one value for all, or one
    per segment); None: ``optimiser.bay_length.for_rules`` with no vehicle seen (the
    planner's ``rules.new_bay_length_m``, else the documented default). A segment holds
    ``usable // length`` new bays (capped by the rules), so no proposal can put a bay on
    a shorter kerb, and each new bay counts that length in the kerb budget.
    """
    if not ids:
        return existing
    if length_m is None:
        from optimiser.bay_length import for_rules

        length_m = for_rules(None, rules).length_m
    lengths = np.broadcast_to(np.asarray(length_m, dtype=float), (len(ids),)).copy()
    if not np.all(np.isfinite(lengths)) or np.any(lengths <= 0):
        raise OptimiserInputError(f"candidates: new bay length must be > 0 m, got {lengths.min()}")
    mid_xy = candidate_midpoints(lines_lonlat)
    k = np.minimum(
        np.floor(np.asarray(usable_m) / lengths + 1e-9), rules.max_bays_per_candidate
    ).astype(np.int64)
    n = len(ids)
    taken = set(existing.ids)
    new_ids = [i if i not in taken else f"cand-{i}" for i in ids]
    return Sites(
        ids=existing.ids + tuple(new_ids),
        xy=np.vstack([existing.xy, mid_xy]),
        lonlat=np.vstack([existing.lonlat, to_wgs84(mid_xy)]),
        existing=np.concatenate([existing.existing, np.zeros(n, dtype=np.int64)]),
        max_bays=np.concatenate([existing.max_bays, k]),
        bay_length_m=np.concatenate([existing.bay_length_m, lengths]),
        fixed=np.concatenate([existing.fixed, np.zeros(n, dtype=bool)]),
        area=existing.area + tuple(area or ["" for _ in ids]),
        label=existing.label + tuple("candidate kerb segment" for _ in ids),
        lines=(existing.lines or tuple(None for _ in existing.ids))
        + tuple(tuple((float(p[0]), float(p[1])) for p in ln) for ln in lines_lonlat),
        regime=tuple(existing.regime_of(j) for j in range(len(existing))) + ("new",) * n,
        misuse=None if existing.misuse is None else np.concatenate([existing.misuse, np.zeros(n)]),
        evidence=(existing.evidence + ("estimated",) * n) if existing.evidence else (),
    )
