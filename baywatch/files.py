"""Up-front checks of the files a command is given, each mistake one ``error:`` line.

Checked before any work starts, so an hour-long run does not end in a traceback because
its output folder cannot be made, and a photo given as a GeoJSON layer is named as such
rather than failing deep inside a reader with a ``UnicodeDecodeError``.
"""

from __future__ import annotations

import codecs
import os
import tempfile
from pathlib import Path

from baywatch.console import fail

# Enough of a file to tell text from a binary file (a JPEG or Parquet file fails in its
# first bytes) without reading a city-wide layer twice.
SNIFF_BYTES = 64 * 1024


def _writable_dir(folder: Path) -> str | None:
    """Why files cannot be made in ``folder`` (an existing folder), or None when they can.

    Tries to make (and removes) a file there: ``os.access`` says yes to root even in
    ``/proc`` or on a read-only mount.
    """
    try:
        fd, probe = tempfile.mkstemp(prefix=".baywatch-probe-", dir=folder)
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(fd)
    os.unlink(probe)
    return None


def check_output_file(path: Path, option: str) -> None:
    """Exit with one line unless ``path`` can be written: its folder exists and takes new
    files, and ``path`` is not a folder."""
    if path.is_dir():
        fail(f"{option} {path}: is a folder; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        fail(f"{option} {path}: cannot write: folder {parent} does not exist")
    why = _writable_dir(parent)
    if why is not None:
        fail(f"{option} {path}: cannot write in {parent} ({why})")


def check_output_folder(path: Path, option: str) -> None:
    """Exit with one line unless ``path`` is, or can be made as, a folder that takes files."""
    if path.exists() and not path.is_dir():
        fail(f"{option} {path}: names a file; give a folder for the outputs")
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        fail(f"{option} {path}: {existing} is a file, not a folder")
    why = _writable_dir(existing)
    if why is not None:
        fail(f"{option} {path}: cannot write in {existing} ({why})")


def check_input_file(path: Path, option: str, *, text: str | None = None) -> None:
    """Exit with one line unless ``path`` is a readable file; with ``text`` (what the file
    should be, e.g. "GeoJSON"), also unless its start is UTF-8 text."""
    if not path.exists():
        fail(f"{option} {path}: no such file")
    if not path.is_file():
        fail(f"{option} {path}: not a file")
    try:
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError as exc:
        fail(f"{option} {path}: cannot read ({exc.strerror or exc})")
    if text is None:
        return
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError as exc:
        fail(f"{option} {path}: not a {text} file (byte {exc.start} is not UTF-8 text)")
    if b"\x00" in head:
        fail(f"{option} {path}: not a {text} file (binary content)")
    if text == "GeoJSON":
        _check_geojson(path, option)


def _check_geojson(path: Path, option: str) -> None:
    """One line unless ``path`` parses as JSON whose ``type`` is a GeoJSON object (RFC 7946
    section 1.4); the line names the JSON error's line and column."""
    import json

    try:
        with path.open(encoding="utf-8") as fh:
            doc = json.load(fh)
    except json.JSONDecodeError as exc:
        fail(f"{option} {path}: not GeoJSON (line {exc.lineno}, column {exc.colno}: {exc.msg})")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{option} {path}: cannot read as GeoJSON ({exc})")
    kind = doc.get("type") if isinstance(doc, dict) else None
    if kind not in _GEOJSON_TYPES:
        fail(
            f'{option} {path}: not GeoJSON (its top-level "type" is {kind!r},'
            " not FeatureCollection, Feature or a geometry)"
        )


_GEOJSON_TYPES = {
    "FeatureCollection", "Feature", "Point", "MultiPoint", "LineString", "MultiLineString",
    "Polygon", "MultiPolygon", "GeometryCollection",
}  # fmt: skip
