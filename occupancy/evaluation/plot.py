"""A picture of an evaluation: per zone, the true sessions above the found ones, on one
time axis, with misses and false sessions in red."""

from __future__ import annotations

from pathlib import Path

from occupancy.evaluation.evaluate import Report, Span


def picture_suffixes() -> tuple[str, ...]:
    """The file extensions (``.png`` first, lower case with the dot) matplotlib can save a
    figure as, e.g. ``.png``, ``.svg``, ``.pdf``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    kinds = sorted(FigureCanvasAgg.get_supported_filetypes())
    return (".png", *(f".{k}" for k in kinds if k != "png"))


def timeline_png(report: Report, path: str | Path, title: str) -> Path:
    """Draw the evaluation timeline (one row per zone: true and found sessions, misses and
    false detections marked) as a PNG at ``path``; returns it.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    zones = list(report.zone_accuracy)
    fig, ax = plt.subplots(figsize=(11, 0.75 * len(zones) + 1.4), dpi=110)
    missed = set(map(id, report.unmatched_truth))
    false = set(map(id, report.unmatched_found))
    truth = [m.truth for m in report.matches] + list(report.unmatched_truth)
    found = [m.found for m in report.matches] + list(report.unmatched_found)

    def bars(spans: list[Span], row: float, bad: set[int], ok: str) -> None:
        for s in spans:
            y = len(zones) - 1 - zones.index(s.zone) + row
            colour = "#d62728" if id(s) in bad else ok
            ax.broken_barh(
                [(s.start_s, s.end_s - s.start_s)], (y, 0.38), facecolors=colour, alpha=0.9
            )

    bars(truth, 0.45, missed, "#2ca02c")
    bars(found, 0.02, false, "#1f77b4")
    ax.set_yticks([len(zones) - 1 - i + 0.42 for i in range(len(zones))])
    ax.set_yticklabels([f"{z}\n{100 * report.zone_accuracy[z]:.1f} %" for z in zones], fontsize=8)
    ax.set_xlim(0, report.duration_s)
    ax.set_ylim(-0.1, len(zones))
    ax.set_xlabel("seconds from the start of the footage")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(
        f"{title}\ntrue (green, upper) and found (blue, lower) sessions; red: missed or false. "
        f"F1 {report.f1:.2f}, IoU ≥ {report.iou_min:g}",
        fontsize=9,
        loc="left",
    )
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out
