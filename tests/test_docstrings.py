"""Every public function and class of the packages has a docstring (issue 10, item 7).

Read from the source with ``ast`` (nothing is imported). Public means: a module-level
function or class, or a method of a public class, whose name does not start with ``_``
(``__init__`` and other dunders are covered by their class's docstring), outside
Alembic revision files and ``typing.overload`` stubs. Nested functions are private.

Those still undocumented when this test was written are listed in
``tests/docstring_debt.txt``: a new public name without a docstring fails here. The
list is meant only to shrink: document a listed name, then delete its line
(``python -m tests.test_docstrings`` prints the names still undocumented).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("baywatch", "vision", "occupancy", "optimiser", "api")
DEBT = Path(__file__).with_name("docstring_debt.txt")


def _is_overload(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(
        (isinstance(d, ast.Name) and d.id == "overload")
        or (isinstance(d, ast.Attribute) and d.attr == "overload")
        for d in node.decorator_list
    )


def _public(body: list[ast.stmt], prefix: str) -> Iterator[tuple[str, bool]]:
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name.startswith("_"):
                continue
            if not isinstance(node, ast.ClassDef) and _is_overload(node):
                continue
            name = prefix + node.name
            yield name, ast.get_docstring(node) is not None
            if isinstance(node, ast.ClassDef):
                yield from _public(node.body, name + ".")


def undocumented() -> set[str]:
    """``path:qualified.name`` of every public function or class without a docstring."""
    out = set()
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if "/migrations/versions/" in rel or "node_modules" in rel:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
            out |= {
                f"{rel}:{name}" for name, documented in _public(tree.body, "") if not documented
            }
    return out


def test_public_functions_and_classes_have_docstrings() -> None:
    debt = {
        line.strip()
        for line in DEBT.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    missing = undocumented()
    new = sorted(missing - debt)
    assert not new, "public names without a docstring:\n" + "\n".join(new)


if __name__ == "__main__":
    print("\n".join(sorted(undocumented())))
