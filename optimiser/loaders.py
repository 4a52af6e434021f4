"""Read bays, demand points and candidate kerb segments from the files users give.

Kept minimal and private to the optimiser (the full inventory importer lives in
``occupancy``). Every problem is reported as one ``OptimiserInputError`` line naming
the file, field and value.
"""

from __future__ import annotations

import json
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


def sites_from_zones(zones: pd.DataFrame, rules: Rules, where: str = "zones") -> Sites:
    """Existing bays from a zones DataFrame (``curb_zone_id, lon, lat, length_cm, ...``).

    One zone holds ``max(1, length // min_bay_length)`` bays unless a ``num_spaces``
    column says otherwise; existing sites can be kept, shrunk or removed, not grown
    (new bays go on candidate kerb segments).
    """
    for col in ("curb_zone_id", "lon", "lat", "length_cm"):
        if col not in zones.columns:
            raise OptimiserInputError(f"{where}: missing column '{col}'")
    if zones.empty:
        raise OptimiserInputError(f"{where}: no bays")
    ids = _unique([str(v) for v in zones["curb_zone_id"]])
    lonlat = zones[["lon", "lat"]].to_numpy(dtype=float)
    _finite_lonlat(lonlat, where, ids)
    length_m = zones["length_cm"].to_numpy(dtype=float) / 100.0
    if not np.all(np.isfinite(length_m)) or np.any(length_m <= 0):
        bad = int(np.argmax(~np.isfinite(length_m) | (length_m <= 0)))
        raise OptimiserInputError(f"{where}: {ids[bad]} has length_cm {length_m[bad] * 100:g}")
    if "num_spaces" in zones.columns:
        spaces = zones["num_spaces"].fillna(1).to_numpy(dtype=np.int64).clip(min=1)
    else:
        spaces = np.maximum(1, np.floor(length_m / rules.min_bay_length_m)).astype(np.int64)
    area = [str(a) for a in zones["area_id"]] if "area_id" in zones.columns else ["" for _ in ids]
    return Sites(
        ids=tuple(ids),
        xy=to_l93(lonlat),
        lonlat=lonlat,
        existing=spaces,
        max_bays=spaces.copy(),
        bay_length_m=length_m / spaces,
        fixed=np.array([i in rules.fixed_bay_ids for i in ids], dtype=bool),
        area=tuple(area),
        label=tuple("existing bay" for _ in ids),
        lines=tuple(None for _ in ids),
    )


def zones_from_paris_csv(path: Path, arrondissement: int | None = None) -> pd.DataFrame:
    """The Paris open-data bay file as a zones DataFrame (optionally one arrondissement)."""
    _need(path)
    try:
        df = pd.read_csv(path, sep=";", encoding="utf-8-sig", low_memory=False)
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise OptimiserInputError(f"{path}: not a ';'-separated UTF-8 CSV ({exc})") from exc
    for col in ("geo_shape", "Longueur", "Arrondissement", "Nombre places réelles"):
        if col not in df.columns:
            raise OptimiserInputError(f"{path}: missing column '{col}'")
    if arrondissement is not None:
        df = df[df["Arrondissement"] == arrondissement]
        if df.empty:
            raise OptimiserInputError(f"{path}: no bays in arrondissement {arrondissement}")
    coords = []
    for i, shape in enumerate(df["geo_shape"]):
        try:
            coords.append(json.loads(shape)["coordinates"][:2])
        except (TypeError, ValueError, KeyError) as exc:
            raise OptimiserInputError(
                f"{path}: row {i + 1} geo_shape is not a GeoJSON point"
            ) from exc
    lonlat = np.asarray(coords, dtype=float)
    ident = df.get("Nouvel identifiant", pd.Series(range(len(df)), index=df.index))
    street = (
        df.get("Numéro voie", "").astype("string").fillna("").str.replace(r"\.0$", "", regex=True)
        + " "
        + df.get("Type voie", "").astype("string").fillna("")
        + " "
        + df.get("Nom voie", "").astype("string").fillna("")
    )
    return pd.DataFrame(
        {
            "curb_zone_id": [
                f"paris-{int(n)}"
                if pd.notna(n)
                else (f"paris-{o}" if pd.notna(o) else f"paris-row{i}")
                for i, (n, o) in enumerate(
                    zip(
                        pd.to_numeric(ident, errors="coerce"),
                        df.get("Ancien identifiant", pd.Series([None] * len(df), index=df.index)),
                        strict=True,
                    )
                )
            ],
            "lon": lonlat[:, 0],
            "lat": lonlat[:, 1],
            "length_cm": df["Longueur"].to_numpy(dtype=float) * 100.0,
            "num_spaces": df["Nombre places réelles"].to_numpy(dtype=np.int64),
            "max_stay_min": np.nan,
            "area_id": [f"75{int(a):03d}" for a in df["Arrondissement"]],
            "street": street.str.strip().to_numpy(),
            "street_name": (
                df.get("Type voie", "").astype("string").fillna("")
                + " "
                + df.get("Nom voie", "").astype("string").fillna("")
            )
            .str.strip()
            .to_numpy(),
        }
    )


def zones_from_cds_geojson(path: Path) -> pd.DataFrame:
    """Curb zones from a CDS ``curb_zones`` GeoJSON (FeatureCollection; length in cm)."""
    _need(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise OptimiserInputError(f"{path}: not valid JSON ({exc})") from exc
    feats = data.get("features") if isinstance(data, dict) else None
    if not isinstance(feats, list) or not feats:
        raise OptimiserInputError(f"{path}: expected a GeoJSON FeatureCollection of curb zones")
    rows = []
    for n, f in enumerate(feats):
        props = f.get("properties") or {}
        zid = props.get("curb_zone_id")
        if not zid:
            raise OptimiserInputError(f"{path}: feature {n} has no properties.curb_zone_id")
        try:
            geom = shapely.geometry.shape(f["geometry"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise OptimiserInputError(f"{path}: curb zone {zid} has no valid geometry") from exc
        length_cm = props.get("length")
        if length_cm is None:
            raise OptimiserInputError(f"{path}: curb zone {zid} has no properties.length (cm)")
        c = geom.centroid
        rows.append(
            {
                "curb_zone_id": str(zid),
                "lon": c.x,
                "lat": c.y,
                "length_cm": float(length_cm),
                "num_spaces": props.get("num_spaces"),
                "max_stay_min": np.nan,
                "area_id": str(props.get("area_id") or ""),
            }
        )
    df = pd.DataFrame(rows)
    if df["num_spaces"].isna().all():
        df = df.drop(columns="num_spaces")
    return df


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


def with_candidates(
    existing: Sites,
    ids: list[str],
    lines_lonlat: list[list[tuple[float, float]]],
    usable_m: list[float],
    rules: Rules,
    area: list[str] | None = None,
) -> Sites:
    """Existing bays plus candidate kerb segments, one site each at the segment's midpoint.

    A segment holds ``usable // min_bay_length`` new bays (capped by the rules): the
    minimum-length rule is enforced here, so no proposal can put a bay on a shorter kerb.
    """
    if not ids:
        return existing
    mids = []
    for line in lines_lonlat:
        ls = shapely.LineString(to_l93(np.asarray(line, dtype=float)))
        mids.append(ls.interpolate(0.5, normalized=True).coords[0])
    mid_xy = np.asarray(mids, dtype=float)
    k = np.minimum(
        np.floor(np.asarray(usable_m) / rules.min_bay_length_m), rules.max_bays_per_candidate
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
        bay_length_m=np.concatenate([existing.bay_length_m, np.full(n, rules.min_bay_length_m)]),
        fixed=np.concatenate([existing.fixed, np.zeros(n, dtype=bool)]),
        area=existing.area + tuple(area or ["" for _ in ids]),
        label=existing.label + tuple("candidate kerb segment" for _ in ids),
        lines=(existing.lines or tuple(None for _ in existing.ids))
        + tuple(tuple((float(p[0]), float(p[1])) for p in ln) for ln in lines_lonlat),
    )
