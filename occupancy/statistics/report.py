"""A self-contained HTML report for planners: pictures first, tables second.

Pictures (PNG, embedded as base64): hourly occupancy profile of the busiest bays,
hour x weekday heatmap, a map of bays coloured by occupancy, and a map of
double-parking hot spots. Statistics from simulated sessions carry a red
"SIMULATED DATA" banner on the page and on every picture.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from jinja2 import Environment, select_autoescape
from matplotlib.figure import Figure
from pyproj import Transformer

from occupancy.domain.geo import WGS84, metric_crs
from occupancy.statistics import hourly as stats

_HEADERS = {
    "name": "bay",
    "street_name": "street",
    "area_name": "area",
    "occupancy_10h": "occupancy % (10-11h)",
    "p_free_10h": "P(bay free) 10-11h",
    "double_park_sessions": "double-park stops",
    "double_park_minutes": "double-parked minutes",
    "occupancy_14_18h": "occupancy % (14-18h)",
}
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


@dataclass
class Report:
    """An occupancy report: title, period and data provenance (observed, simulated or
    both), headline figures, PNG figures and tables by name, and data credits.
    """

    title: str
    period: str
    provenance: str
    summary: dict[str, str]
    figures: dict[str, bytes] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    credits: list[str] = field(default_factory=list)

    @property
    def simulated(self) -> bool:
        """Whether any of the data is simulated (the report then says so on every page)."""
        return "simulated" in self.provenance


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _mark(fig: Figure, simulated: bool) -> None:
    if simulated:
        fig.text(
            0.005,
            0.995,
            "SIMULATED DATA",
            ha="left",
            va="top",
            color="#c0392b",
            fontsize=12,
            fontweight="bold",
            alpha=0.9,
        )


def _profile_figure(
    profile: pd.DataFrame, totals: pd.DataFrame, zones: pd.DataFrame, simulated: bool
) -> bytes:
    top = totals.sort_values("occupancy_percent", ascending=False).head(12)["curb_zone_id"]
    names = dict(zip(zones["curb_zone_id"], zones["name"].fillna(""), strict=True))
    fig, axes = plt.subplots(
        3, 4, figsize=(14, 8.5), sharex=True, sharey=True, layout="constrained"
    )
    p = profile.assign(weekend=profile["weekday"] >= 5)
    city = p.groupby(["weekend", "hour"])["occupancy_percent"].mean()
    for ax in axes.ravel()[len(top) :]:
        ax.set_visible(False)
    for ax, zid in zip(axes.ravel(), top, strict=False):
        b = p[p["curb_zone_id"] == zid]
        g = b.groupby(["weekend", "hour"])["occupancy_percent"].mean()
        lines = (
            (g, False, "Mon-Fri", {"color": "#1f77b4", "marker": "o", "ms": 2}),
            (g, True, "Sat-Sun", {"color": "#ff7f0e", "marker": "o", "ms": 2}),
            (city, False, "all bays, Mon-Fri", {"color": "grey", "lw": 0.8, "ls": "--"}),
        )
        for series, weekend, label, style in lines:
            by_hour = series.loc[weekend] if weekend in series.index.get_level_values(0) else None
            hours = np.full(24, np.nan) if by_hour is None else by_hour.reindex(range(24))
            ax.plot(range(24), np.asarray(hours, float), label=label, **style)
        ax.set_title(str(names.get(zid, zid))[:32], fontsize=9)
        ax.set_xticks([0, 6, 12, 18, 23])
        ax.tick_params(labelbottom=True)
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("occupancy %")
    for ax in axes[-1, :]:
        ax.set_xlabel("hour of day")
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.suptitle("Hourly occupancy profile of the 12 busiest bays (mean over the period)")
    _mark(fig, simulated)
    return _png(fig)


def _heatmap_figure(profile: pd.DataFrame, simulated: bool) -> bytes:
    m = (
        profile.groupby(["weekday", "hour"])["occupancy_percent"]
        .mean()
        .unstack("hour")
        .reindex(index=range(7), columns=range(24))
    )
    fig, ax = plt.subplots(figsize=(12, 3.8))
    im = ax.imshow(m.to_numpy(), aspect="auto", cmap="YlOrRd", vmin=0)
    ax.set_yticks(range(7), WEEKDAYS)
    ax.set_xticks(range(24))
    ax.set_xlabel("hour of day (local time)")
    vals = m.to_numpy()
    for i in range(7):
        for j in range(24):
            if np.isfinite(vals[i, j]):
                ax.text(
                    j,
                    i,
                    f"{vals[i, j]:.0f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="black" if vals[i, j] < np.nanmax(vals) * 0.6 else "white",
                )
    fig.colorbar(im, ax=ax, label="mean occupancy %")
    ax.set_title("Mean bay occupancy by weekday and hour (all bays)")
    _mark(fig, simulated)
    return _png(fig)


def _map_figures(
    totals: pd.DataFrame, zones: pd.DataFrame, areas: gpd.GeoDataFrame | None, simulated: bool
) -> tuple[bytes, bytes]:
    t = zones[["curb_zone_id", "lon", "lat"]].merge(totals, on="curb_zone_id")
    crs = metric_crs(t["lon"].to_numpy(), t["lat"].to_numpy())
    x, y = Transformer.from_crs(WGS84, crs, always_xy=True).transform(
        t["lon"].to_numpy(float), t["lat"].to_numpy(float)
    )
    area_m = areas.to_crs(crs) if areas is not None else None
    out = []
    for kind in ("occupancy", "double"):
        fig, ax = plt.subplots(figsize=(10, 6.4), layout="constrained")
        if area_m is not None:
            area_m.boundary.plot(ax=ax, color="#888", lw=0.6)
        if kind == "occupancy":
            observed = t["occupancy_percent"].dropna().to_numpy(float)  # unobserved bays: NaN
            order = np.argsort(t["occupancy_percent"].to_numpy())
            sc = ax.scatter(
                x[order],
                y[order],
                c=t["occupancy_percent"].to_numpy()[order],
                s=5,
                cmap="viridis_r",
                vmin=0,
                vmax=max(1.0, float(np.percentile(observed, 98))) if len(observed) else 1.0,
            )
            fig.colorbar(sc, ax=ax, shrink=0.8, label="occupancy % over the period")
            ax.set_title("Delivery bays coloured by occupancy")
        else:
            dp = t["double_park_minutes"].to_numpy(float)
            ax.scatter(x, y, s=1.5, color="#bbb", label="bay")
            hot = dp >= np.nanpercentile(dp, 95) if len(dp) else np.zeros(0, bool)
            hot &= dp > 0
            size = 10 + 190 * dp[hot] / max(1.0, float(np.nanmax(dp)))
            ax.scatter(
                x[hot],
                y[hot],
                s=size,
                color="#d62728",
                alpha=0.55,
                edgecolors="#7f0000",
                lw=0.5,
                label="double-parking hot spot (top 5 % of bays by minutes)",
            )
            ax.legend(loc="lower left", fontsize=8)
            ax.set_title("Double-parking hot spots (circle area ~ double-parked minutes)")
        ax.set_aspect("equal")
        ax.margins(0.08)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"projected in {crs.name}")
        ax.set_ylabel("")
        _mark(fig, simulated)
        out.append(_png(fig))
    return out[0], out[1]


NO_OBSERVED_HOURS = "no observed hours"
NO_SESSIONS = "no parking sessions"


def _observed_mean(occupancy_percent: pd.Series) -> str:
    """Mean occupancy of the bays with observed hours; an unobserved bay is not 0 %."""
    observed = occupancy_percent.to_numpy(float)
    observed = observed[np.isfinite(observed)]
    return f"{observed.mean():.1f} %" if len(observed) else NO_OBSERVED_HOURS


def _wmean(values: pd.Series, weights: np.ndarray) -> float:
    return float(np.nansum(values.to_numpy(float) * weights) / max(1.0, float(weights.sum())))


def build_report(
    sessions: pd.DataFrame,
    zones: pd.DataFrame,
    *,
    start_ms: int,
    end_ms: int,
    tz: str = stats.DEFAULT_TZ,
    offline: pd.DataFrame | None = None,
    areas: gpd.GeoDataFrame | None = None,
    lane_zones: pd.DataFrame | None = None,
    title: str = "Delivery bay occupancy",
) -> Report:
    """Compute the report of ``sessions`` on ``zones`` over ``[start_ms, end_ms)`` (ms since
    the epoch), in local time zone ``tz``: period totals, weekly profiles, double
    parking by lane, and figures. Hours a camera was ``offline`` count as unobserved,
    not as free.
    """
    prov = stats.provenance(sessions)
    simulated = "simulated" in prov
    totals = stats.period_totals(
        sessions, zones, start_ms=start_ms, end_ms=end_ms, tz=tz, offline=offline
    )
    profile = stats.weekly_profile(
        sessions, zones, tz=tz, start_ms=start_ms, end_ms=end_ms, offline=offline
    )
    t0 = pd.Timestamp(start_ms, unit="ms", tz="UTC").tz_convert(tz)
    t1 = pd.Timestamp(end_ms, unit="ms", tz="UTC").tz_convert(tz)
    n_park = int(totals["total_sessions"].sum())
    n_dp = int(totals["double_park_sessions"].sum())
    w = totals["total_sessions"].to_numpy(float)
    summary = {
        "bays": f"{len(zones):,}",
        "parking sessions": f"{n_park:,}",
        "double-parking sessions": f"{n_dp:,} ({n_dp / max(1, n_park + n_dp):.0%} of stops)",
        "mean occupancy": _observed_mean(totals["occupancy_percent"]),
        # Shares of no session are unknown, not 0 (the brief: an unobserved hour is not 0 %).
        "mean dwell": f"{_wmean(totals['average_dwell_time'], w):.1f} min"
        if n_park
        else NO_SESSIONS,
        "misuse (vehicle not allowed)": f"{_wmean(totals['misuse_share'], w):.0%}"
        if n_park
        else NO_SESSIONS,
        "overstay": f"{_wmean(totals['overstay_share'], w):.0%}" if n_park else NO_SESSIONS,
    }
    rep = Report(
        title=title,
        period=f"{t0:%Y-%m-%d %H:%M} to {t1:%Y-%m-%d %H:%M} ({tz})",
        provenance=prov,
        summary=summary,
    )
    rep.figures["Hourly occupancy profile per bay"] = _profile_figure(
        profile, totals, zones, simulated
    )
    rep.figures["Hour x weekday heatmap"] = _heatmap_figure(profile, simulated)
    occ_map, dp_map = _map_figures(totals, zones, areas, simulated)
    rep.figures["Map: bays by occupancy"] = occ_map
    rep.figures["Map: double-parking hot spots"] = dp_map

    info = zones[["curb_zone_id", "name", "street_name", "area_name"]]
    slot = profile[(profile["weekday"] < 5) & (profile["hour"] == 10)]
    sat = (
        slot.groupby("curb_zone_id", observed=True)
        .agg(occupancy_10h=("occupancy_percent", "mean"), p_free_10h=("p_free", "mean"))
        .reset_index()
        .merge(info, on="curb_zone_id")
        .sort_values("occupancy_10h", ascending=False)
        .head(15)
    )
    rep.tables["Most saturated bays, weekdays 10:00-11:00"] = sat[
        ["name", "area_name", "occupancy_10h", "p_free_10h"]
    ].rename(columns=_HEADERS)
    streets = (
        totals.merge(info, on="curb_zone_id")
        .groupby(["street_name", "area_name"], dropna=False)
        .agg(
            bays=("curb_zone_id", "size"),
            double_park_sessions=("double_park_sessions", "sum"),
            double_park_minutes=("double_park_minutes", "sum"),
        )
        .reset_index()
        .sort_values("double_park_minutes", ascending=False)
        .head(15)
    )
    rep.tables["Streets with the most double parking"] = streets.rename(columns=_HEADERS)
    aft = profile[(profile["weekday"] < 5) & profile["hour"].between(14, 17)]
    empty = (
        aft.groupby("curb_zone_id", observed=True)["occupancy_percent"]
        .mean()
        .rename("occupancy_14_18h")
        .reset_index()
    )
    empty = empty[empty["occupancy_14_18h"] < 2.0].merge(info, on="curb_zone_id")
    rep.summary["bays nearly empty on weekday afternoons (<2 % 14:00-18:00)"] = f"{len(empty):,}"
    rep.tables["Bays standing empty on weekday afternoons (14:00-18:00)"] = empty.sort_values(
        "occupancy_14_18h"
    ).head(15)[["name", "street_name", "area_name", "occupancy_14_18h"]]
    lanes = stats.double_parking_by_lane(sessions, start_ms=start_ms, end_ms=end_ms)
    lanes = lanes[lanes["lane_zone_id"].notna()]
    if len(lanes):
        if lane_zones is not None and "name" in lane_zones:
            names = dict(zip(lane_zones["lane_zone_id"], lane_zones["name"], strict=True))
            lanes = lanes.assign(
                lane_zone_id=lanes["lane_zone_id"].map(names).fillna(lanes["lane_zone_id"])
            )
        rep.tables["Double parking per lane zone"] = (
            lanes.merge(info, on="curb_zone_id", how="left")[
                ["lane_zone_id", "name", "sessions", "minutes"]
            ]
            .rename(
                columns={
                    "lane_zone_id": "lane zone",
                    "name": "beside bay",
                    "minutes": "double-parked minutes",
                }
            )
            .head(15)
        )
    sources = {str(s).split(":")[0] for s in zones.get("source", pd.Series(dtype=str)).unique()}
    if "paris" in sources:
        rep.credits.append("Bay inventory: Ville de Paris open data (ODbL).")
    if "osm" in sources:
        rep.credits.append("Bay inventory: © OpenStreetMap contributors (ODbL).")
    return rep


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ r.title }}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;color:#222}
h1{margin-bottom:0}.period{color:#555;margin-top:.2em}
.sim{background:#c0392b;color:#fff;padding:.6em 1em;font-weight:bold;border-radius:4px}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
td,th{border-bottom:1px solid #ddd;padding:.25em .7em;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}
.kpi{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:.5em}
.kpi div{background:#f5f7fa;padding:.6em;border-radius:4px}
.kpi b{display:block;font-size:1.3em}
footer{color:#777;font-size:.85em;margin-top:2em}
</style></head><body>
<h1>{{ r.title }}</h1>
<p class="period">{{ r.period }} &middot; data source: <b>{{ r.provenance }}</b></p>
{% if r.simulated %}<p class="sim">SIMULATED DATA: these statistics come from
simulated sessions (data_source_type = simulated), not from observation.</p>{% endif %}
<div class="kpi">{% for k, v in r.summary.items() %}<div>{{ k }}<b>{{ v }}</b></div>{% endfor %}
</div>
{% for name, png in figures %}<h2>{{ name }}</h2><img alt="{{ name }}"
src="data:image/png;base64,{{ png }}">{% endfor %}
{% for name, t in tables %}<h2>{{ name }}</h2>{{ t }}{% endfor %}
<footer>Occupancy = occupied time / (hours x spaces); CDS Metrics 1.0 definitions, see
occupancy/STATS.md. {% for c in r.credits %}{{ c }} {% endfor %}</footer>
</body></html>
"""


def _table_html(t: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in t.columns)
    rows = []
    for rec in t.itertuples(index=False):
        cells = []
        for v in rec:
            if isinstance(v, float | np.floating):
                cells.append(f'<td class="n">{v:,.2f}</td>' if np.isfinite(v) else "<td></td>")
            elif isinstance(v, int | np.integer):
                cells.append(f'<td class="n">{v:,}</td>')
            else:
                cells.append(f"<td>{html.escape('' if v is None else str(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def write_report(rep: Report, path: str | Path, *, figures_dir: str | Path | None = None) -> Path:
    """Write the report as one self-contained HTML page (figures inlined), and each figure as
    a PNG into ``figures_dir`` when given; returns the page's path.
    """
    env = Environment(autoescape=select_autoescape(default=True))
    tpl = env.from_string(_TEMPLATE)
    from markupsafe import Markup

    page = tpl.render(
        r=rep,
        figures=[(k, base64.b64encode(v).decode()) for k, v in rep.figures.items()],
        tables=[(k, Markup(_table_html(v))) for k, v in rep.tables.items()],
    )
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(page, encoding="utf-8")
    if figures_dir is not None:
        d = Path(figures_dir)
        d.mkdir(parents=True, exist_ok=True)
        for i, (name, png) in enumerate(rep.figures.items(), 1):
            slug = "".join(ch if ch.isalnum() else "_" for ch in name.lower()).strip("_")
            (d / f"{i}_{slug}.png").write_bytes(png)
    return p
