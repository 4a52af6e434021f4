"""Two runs of ``bench/bench_accuracy.py --json`` side by side, as a Markdown table.

    python bench/compare_accuracy.py BEFORE.json AFTER.json [--changed-only]

One row per scene present in both files: found / matched sessions, F1, per-second
occupancy accuracy of the bays and the median start error, before -> after.
``--changed-only`` keeps the rows where any of them differs. Figures are the files'
own, rounded as ``bench_accuracy.py`` prints them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


def _s(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def cells(r: dict[str, Any]) -> tuple[str, str, str, str]:
    s = r["sessions"]
    return (
        f"{s['found']} / {s['matched']} of {s['true']}",
        _pct(s["f1"]),
        _pct(r["occupancy_accuracy"]["bays_mean"]),
        _s(r["start_error"]["median_s"]),
    )


def table(before: dict[str, Any], after: dict[str, Any], changed_only: bool) -> str:
    lines = [
        "| scene | found / matched (before → after) | F1 | occupancy accuracy (bays) "
        "| start err median s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in after.items():
        if name not in before:
            continue
        a, b = cells(before[name]), cells(r)
        if changed_only and a == b:
            continue
        row = " | ".join(x if x == y else f"{x} → {y}" for x, y in zip(a, b, strict=True))
        lines.append(f"| {name} | {row} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--changed-only", action="store_true")
    args = ap.parse_args()
    before = json.loads(args.before.read_text())
    after = json.loads(args.after.read_text())
    print(table(before, after, args.changed_only))


if __name__ == "__main__":
    main()
