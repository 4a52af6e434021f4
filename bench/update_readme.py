"""Copy benchmark output files into the README, so no figure there is typed by hand.

    python bench/update_readme.py [--readme README.md] [--results bench/results]

Every block of the README between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``
is replaced by the content of ``bench/results/NAME.md`` (written by the benchmark that
measured it, with its command, machine and load). A block whose file is missing is
left as it is and named on stderr; exit status 1 if any was.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(
    r"(<!-- bench:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /bench:(?P=name) -->)", re.S
)


def update(readme: str, results: Path) -> tuple[str, list[str]]:
    missing: list[str] = []

    def fill(m: re.Match[str]) -> str:
        src = results / f"{m['name']}.md"
        if not src.is_file():
            missing.append(str(src))
            return m[0]
        return f"{m[1]}{src.read_text().strip()}\n{m[4]}"

    return BLOCK.sub(fill, readme), missing


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--readme", type=Path, default=ROOT / "README.md")
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()
    text, missing = update(args.readme.read_text(), args.results)
    args.readme.write_text(text)
    for m in missing:
        print(f"{m}: no such benchmark output; its README block is unchanged", file=sys.stderr)
    sys.exit(1 if missing else 0)


if __name__ == "__main__":
    main()
