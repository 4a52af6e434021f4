"""README figures come from benchmark output files (bench/update_readme.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("update_readme", ROOT / "bench/update_readme.py")
assert _spec is not None and _spec.loader is not None
update_readme = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(update_readme)


def test_blocks_are_replaced_by_their_output_file_and_missing_ones_named(tmp_path: Path) -> None:
    (tmp_path / "speed.md").write_text("| a | b |\n|---|---|\n| 1 | 2 |\n")
    readme = (
        "intro\n<!-- bench:speed -->\nold typed figure 63x\n<!-- /bench:speed -->\n"
        "middle\n<!-- bench:api -->\nkept\n<!-- /bench:api -->\nend\n"
    )
    text, missing = update_readme.update(readme, tmp_path)
    assert "63x" not in text and "| 1 | 2 |\n<!-- /bench:speed -->" in text
    assert "<!-- bench:api -->\nkept\n<!-- /bench:api -->" in text
    assert missing == [str(tmp_path / "api.md")]
    # Idempotent: running it again changes nothing.
    assert update_readme.update(text, tmp_path)[0] == text
