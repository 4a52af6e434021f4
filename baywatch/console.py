"""Shared terminal helpers: one-line errors, progress bars, session tables."""

from __future__ import annotations

import signal
import sys
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NoReturn
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

if TYPE_CHECKING:  # zones pull shapely and the calibration: only for annotations here
    from occupancy.domain.records import OccupancySession
    from occupancy.observe.zones import Zone

# Piped output (CI logs, files) gets a width that fits a sessions table on one line per row.
console = Console(width=None if sys.stdout.isatty() else 130)
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one line naming the problem and exit non-zero (no traceback)."""
    # The message is text, not markup: "[lat, lon]" in a message must print as written.
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def check_output_file(path: Path, option: str, suffixes: Collection[str], what: str) -> None:
    """Before any work starts: ``path`` (given with ``option``) must be a file name ending in
    one of ``suffixes`` (lower case, with the dot), in a folder that exists and can be
    written; otherwise :func:`fail` with one line saying which. An existing file is left
    as it is (opened for appending, not truncated); a probe file is removed again.
    """
    if path.is_dir():
        fail(
            f"{option} {path}: is a folder; give a file name, e.g. {path / ('out' + next(iter(suffixes)))}"
        )
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        found = f"'{path.suffix}'" if path.suffix else "no extension"
        fail(f"{option} {path}: {what} must end in {', '.join(suffixes)} ({found} given)")
    if not path.parent.is_dir():
        fail(f"{option} {path}: folder {path.parent} does not exist")
    existed = path.exists()
    try:
        with path.open("ab" if existed else "xb"):
            pass
    except OSError as exc:
        fail(f"{option} {path}: cannot write here ({exc.strerror or exc})")
    if not existed:
        path.unlink(missing_ok=True)


def check_push(push: str | None, push_key: str | None) -> None:
    """Before any work, one line unless ``--push`` is an http(s) URL with a host and a key
    is given (``--push-key`` or ``BAYWATCH_PUSH_KEY``): the push client would otherwise
    find out only when the server answers, after the analysis."""
    if push is None:
        return
    from urllib.parse import urlsplit

    u = urlsplit(push)
    if u.scheme not in ("http", "https") or not u.hostname:
        fail(f"--push {push}: not an http(s) URL of a baywatch server (e.g. https://host:8000)")
    if not (push_key or "").strip():
        fail("--push needs an API key with the ingest scope (--push-key or BAYWATCH_PUSH_KEY)")


def _term(_sig: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """``kill`` stops a run the same clean way Ctrl-C does."""
    previous = signal.signal(signal.SIGTERM, _term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def progress_bar(*, quiet: bool = False) -> Progress:
    """A rich progress bar on stderr with count, rate, elapsed time and ETA (silent if ``quiet``)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("[cyan]{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
        disable=quiet,
        transient=False,
    )


def local_time(ms: int, tz: str) -> str:
    """``ms`` (since the epoch) as local time in ``tz``: ``YYYY-MM-DD HH:MM:SS``."""
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .astimezone(ZoneInfo(tz))
        .strftime("%Y-%m-%d %H:%M:%S")
    )


def sessions_table(
    sessions: Sequence[OccupancySession], zones: Sequence[Zone], tz: str, title: str
) -> Table:
    """A rich table of sessions, by start time: zone name, kind, vehicle type (and length),
    local start and end in ``tz``, dwell, and flags (censored, overstay, blocked lanes).
    """
    names = {z.key: z.name for z in zones}
    table = Table(title=title, title_justify="left")
    for col in ("zone", "kind", "vehicle", "start", "end", "dwell", "flags"):
        table.add_column(col, justify="right" if col == "dwell" else "left")
    for s in sorted(sessions, key=lambda s: (s.start_ms, s.session_id)):
        zone = names.get(s.lane_zone_id or s.curb_zone_id or "", "?")
        flags = []
        censored = [w for w, c in (("start", s.start_censored), ("end", s.end_censored)) if c]
        if censored:
            flags.append("in view at " + "+".join(censored))
        if s.overstay:
            flags.append("overstay")
        if s.blocked_lane_types:
            flags.append("blocks " + ",".join(str(t) for t in s.blocked_lane_types))
        length = f" {s.vehicle_length / 100:.1f} m" if s.vehicle_length else ""
        table.add_row(
            zone,
            str(s.kind),
            f"{s.vehicle_type}{length}",
            local_time(s.start_ms, tz),
            local_time(s.end_ms, tz)[11:],
            f"{s.dwell_s:.1f} s",
            "; ".join(flags),
        )
    if not sessions:
        table.add_row("—", "no session", "", "", "", "", "")
    return table
