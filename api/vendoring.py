"""The front-end libraries, copied out of ``node_modules`` so that a wheel carries them.

npm installs the map's libraries (``api/web/package.json``) under
``api/web/node_modules``, which holds hundreds of MB that no wheel should carry.
``python -m api.vendoring`` copies the few files the pages load (``FILES``) and the
libraries' licences into ``api/web/vendor/<name>/`` (git-ignored, packaged by
``pyproject.toml``); ``served_dir`` makes the app serve that copy when it exists, so
an installed package serves the map and ``/docs`` with no npm at all. A library in
``api.app.VENDOR`` without an entry here gets its top-level ``.js``/``.css`` files.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

WEB_DIR = Path(__file__).resolve().parent / "web"
PACKAGED = WEB_DIR / "vendor"

# What the pages load (paths relative to the library's folder in api.app.VENDOR).
FILES: dict[str, tuple[str, ...]] = {
    "maplibre": ("maplibre-gl.js", "maplibre-gl.css", "LICENSE.txt"),
    "chartjs": ("chart.umd.min.js", "chart.umd.js", "../LICENSE.md"),
    "swagger": ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"),
}


def served_dir(name: str, source: Path) -> Path:
    """The folder ``/vendor/<name>`` serves: the packaged copy if there is one."""
    packaged = PACKAGED / name
    return packaged if packaged.is_dir() else source


def vendor(sources: dict[str, Path], target: Path = PACKAGED) -> list[Path]:
    """Copy each library's files from ``sources`` into ``target/<name>``; the files written.

    Raises ``FileNotFoundError`` naming the library when npm has not installed it.
    """
    written: list[Path] = []
    for name, src in sources.items():
        if not src.is_dir():
            raise FileNotFoundError(f"{src} is missing: run `npm ci` in api/web first")
        names = FILES.get(name) or tuple(
            p.name for p in sorted(src.iterdir()) if p.suffix in (".js", ".css")
        )
        out = target / name
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        for rel in names:
            dest = out / Path(rel).name
            shutil.copyfile(src / rel, dest)
            written.append(dest)
    return written


# ``api.app.VENDOR`` as it was written here; used where the app's dependencies are not
# installed (the container build copies the files before installing anything).
NODE_MODULES = WEB_DIR / "node_modules"
DEFAULT_SOURCES = {
    "maplibre": NODE_MODULES / "maplibre-gl" / "dist",
    "chartjs": NODE_MODULES / "chart.js" / "dist",
    "swagger": NODE_MODULES / "swagger-ui-dist",
}


def main() -> None:
    """``python -m api.vendoring``: copy the libraries of ``api.app.VENDOR``."""
    try:
        from api.app import VENDOR
    except ImportError:  # FastAPI and friends not installed (yet)
        VENDOR = DEFAULT_SOURCES

    try:
        files = vendor(dict(VENDOR))
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    size = sum(f.stat().st_size for f in files)
    print(f"{len(files)} files ({size / 1e6:.1f} MB) in {PACKAGED}")


if __name__ == "__main__":
    main()
