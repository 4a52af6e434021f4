"""bench/compare_accuracy.py puts two bench_accuracy.py --json runs side by side."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("compare", ROOT / "bench/compare_accuracy.py")
assert _spec is not None and _spec.loader is not None
compare = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare)


def report(found: int, matched: int, f1: float, occ: float, start: float | None) -> dict[str, Any]:
    return {
        "sessions": {"true": 1, "found": found, "matched": matched, "f1": f1},
        "occupancy_accuracy": {"bays_mean": occ},
        "start_error": {"median_s": start},
    }


def test_rows_show_before_and_after_and_changed_only_keeps_the_differences() -> None:
    before = {"a": report(0, 0, 0.0, 0.5, None), "b": report(1, 1, 1.0, 1.0, 0.0)}
    after = {"a": report(1, 1, 1.0, 0.9, 1.0), "b": report(1, 1, 1.0, 1.0, 0.0), "c": before["a"]}
    text = compare.table(before, after, changed_only=False)
    assert "| a | 0 / 0 of 1 → 1 / 1 of 1 | 0.0 % → 100.0 % | 50.0 % → 90.0 % | — → 1.00 |" in text
    assert "| b | 1 / 1 of 1 | 100.0 % | 100.0 % | 0.00 |" in text
    assert "| c |" not in text  # only in one run
    changed = compare.table(before, after, changed_only=True)
    assert "| a |" in changed and "| b |" not in changed
