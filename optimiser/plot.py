"""The map picture of proposals (matplotlib PNG, Lambert-93 metres, north up)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: the CLI and the job runner have no display

import matplotlib.pyplot as plt
import numpy as np

from optimiser.inputs import Demand, FloatArray, IntArray, Sites
from optimiser.proposals import Proposal


def proposal_map(
    path: Path,
    title: str,
    sites: Sites,
    bays_after: IntArray,
    demand: Demand,
    proposals: list[Proposal],
    streets_xy: list[FloatArray] | None = None,
    credits: str = "",
) -> Path:
    """Draw the proposals on a map (PNG at ``path``): streets, demand, bays before and after."""
    fig, ax = plt.subplots(figsize=(10, 10), dpi=110)
    for line in streets_xy or []:
        ax.plot(line[:, 0], line[:, 1], color="#d0d0d0", lw=0.6, zorder=1)
    size = 6 + 10 * demand.daily / max(float(demand.daily.max()), 1e-9)
    ax.scatter(
        demand.xy[:, 0],
        demand.xy[:, 1],
        s=size,
        c="#f4a261",
        alpha=0.8,
        lw=0,
        zorder=2,
        label=f"demand points ({len(demand)})"
        + (" [simulated weights]" if demand.simulated else ""),
    )
    idx = {sid: j for j, sid in enumerate(sites.ids)}
    kept = (sites.existing > 0) & (bays_after >= sites.existing)
    ax.scatter(
        sites.xy[kept][:, 0],
        sites.xy[kept][:, 1],
        s=14,
        c="#1d3557",
        marker="s",
        zorder=3,
        label=f"bays kept ({int(kept.sum())})",
    )
    for action, colour, marker in (
        ("add", "#2a9d8f", "^"),
        ("remove", "#e63946", "x"),
        ("enforce", "#f4a261", "o"),
    ):
        pts = np.array([sites.xy[idx[p.site_id]] for p in proposals if p.action == action])
        if len(pts):
            ax.scatter(
                pts[:, 0],
                pts[:, 1],
                s=60,
                c=colour,
                marker=marker,
                zorder=4,
                lw=2,
                label=f"{action} ({len(pts)})",
            )
    moves = [p for p in proposals if p.action == "move" and p.from_site_id]
    for p in moves:
        a, b = sites.xy[idx[str(p.from_site_id)]], sites.xy[idx[p.site_id]]
        ax.annotate(
            "",
            xy=b,
            xytext=a,
            zorder=5,
            arrowprops={"arrowstyle": "->", "color": "#7b2cbf", "lw": 1.8},
        )
    if moves:
        ax.plot([], [], color="#7b2cbf", lw=1.8, label=f"move ({len(moves)})")
    retime = [p for p in proposals if p.action == "retime" and p.site_id in idx]
    if retime:
        pts = np.array([sites.xy[idx[p.site_id]] for p in retime])
        # Colour by delivery-only hours a day (weekly mean): what each bay keeps.
        from optimiser.regimes import DAYS_PER_WEEK, hour_mask

        w = np.asarray(DAYS_PER_WEEK) / sum(DAYS_PER_WEEK)
        hours = [float(hour_mask(p.hours or "24/7").sum(axis=1) @ w) for p in retime]
        sc = ax.scatter(
            pts[:, 0],
            pts[:, 1],
            s=60,
            c=hours,
            cmap="viridis",
            vmin=0,
            vmax=24,
            edgecolors="black",
            lw=0.4,
            zorder=4,
            label=f"new regime ({len(retime)}): colour = delivery-only hours a day",
        )
        fig.colorbar(sc, ax=ax, shrink=0.6, label="delivery-only hours a day")
    # Frame the sites and the demand, not the whole street extract.
    xy = np.vstack([sites.xy, demand.xy])
    pad = 80.0
    ax.set_xlim(xy[:, 0].min() - pad, xy[:, 0].max() + pad)
    ax.set_ylim(xy[:, 1].min() - pad, xy[:, 1].max() + pad)
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.set_xlabel("Lambert-93 x (m)")
    ax.set_ylabel("Lambert-93 y (m)")
    ax.legend(loc="upper left", fontsize=8)
    if credits:
        ax.text(
            0.99, 0.01, credits, transform=ax.transAxes, ha="right", fontsize=7, color="#555555"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path
