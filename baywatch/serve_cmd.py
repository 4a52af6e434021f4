"""``baywatch serve`` and ``baywatch keys create|list|revoke``."""

from __future__ import annotations

import errno
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from baywatch.console import fail
from baywatch.files import check_input_file
from occupancy.config.settings import (
    Settings,
    describe_error,
    get_settings,
    unknown_in_env_file,
)

if TYPE_CHECKING:  # the store pulls pandas/SQLAlchemy: import it only when a command runs
    from occupancy.storage.store import Store

keys_app = typer.Typer(
    help="Manage API keys (stored hashed; a key is shown once).", no_args_is_help=True
)
err = Console(stderr=True)


def _settings(db: str | None, env_file: Path | None) -> Settings:
    from pydantic import ValidationError
    from pydantic_settings.exceptions import SettingsError

    if env_file is not None and not env_file.is_file():
        fail(f"settings file {env_file} does not exist")
    if env_file is not None:  # readable .env text, or one line naming the file
        check_input_file(env_file, "--config", text=".env settings")
        for line in unknown_in_env_file(env_file):
            typer.echo(f"warning: {line}", err=True)
    try:
        base = Settings(_env_file=env_file) if env_file is not None else get_settings()
    except (ValidationError, SettingsError) as exc:
        fail(describe_error(exc))
    return base.model_copy(update={"db": db}) if db else base


def _store(settings: Settings, *, must_exist: bool = False) -> Store:
    from occupancy.storage.store import Store, StoreError

    try:
        return Store(settings.db, must_exist=must_exist)
    except StoreError as exc:
        fail(str(exc))


def serve(
    host: str = typer.Option("127.0.0.1", help="interface to listen on"),
    port: int = typer.Option(8000, min=1, max=65535),
    db: str | None = typer.Option(None, help="database URL (default: BAYWATCH_DB)"),
    env_file: Path | None = typer.Option(None, "--config", help="settings file (.env format)"),
    workers: int = typer.Option(1, min=1, help="uvicorn worker processes"),
) -> None:
    """Run the HTTP service (map, availability, CDS, ingestion, jobs); docs at /docs."""
    import uvicorn

    from api.app import create_app
    from api.server import server_config

    settings = _settings(db, env_file)
    if workers > 1:
        fail(
            "--workers > 1 is refused: stream caps are counted per process; run one process "
            "per host (jobs and rate limits are kept in the database, so several hosts are safe)"
        )
    sock = _listen(host, port)  # before the database and the app: a busy port is one line
    from occupancy.storage.store import missing_sqlite_file

    new_db = missing_sqlite_file(settings.db)
    if new_db is not None:  # a server may start on a new database; a typo should be visible
        typer.echo(
            f"note: no database at {new_db}: a new, empty one is created"
            " (check --db or BAYWATCH_DB if you meant another)",
            err=True,
        )
    store = _store(settings)
    app = create_app(settings, store=store)
    server = uvicorn.Server(server_config(app, settings, host, port, log_level="info"))
    server.run(sockets=[sock])


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` for uvicorn; exits with one line if it cannot be."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        fail(f"--host {host}: {exc.strerror}")
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: fast restarts
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        hint = (
            " (another server runs there: choose --port)" if exc.errno == errno.EADDRINUSE else ""
        )
        fail(f"cannot listen on {host}:{port}: {exc.strerror}{hint}")
    return sock


@keys_app.command("create")
def keys_create(
    name: str = typer.Argument(..., help="who the key is for"),
    scope: list[str] = typer.Option(..., "--scope", "-s", help="read, ingest, jobs or admin"),
    db: str | None = typer.Option(None),
) -> None:
    """Create a key and print it (the only time it is shown)."""
    from api.keys import KeyRequestError, KeyStore, check_key_request

    try:  # the request first: a mistyped scope must not leave a new database behind
        check_key_request(name, scope)
    except KeyRequestError as exc:
        fail(str(exc))
    store = _store(_settings(db, None))
    try:
        info, token = KeyStore(store).create(name, scope)
    except KeyRequestError as exc:
        fail(str(exc))
    err.print(f"created key {info.key_id} for {name!r} with scopes {', '.join(info.scopes)}")
    print(token)


@keys_app.command("list")
def keys_list(db: str | None = typer.Option(None)) -> None:
    """List keys (ids, names, scopes; never secrets)."""
    from api.keys import KeyStore

    store = _store(_settings(db, None), must_exist=True)
    t = Table("key_id", "name", "scopes", "created", "revoked")

    def fmt(ms: int | None) -> str:
        return (
            ""
            if ms is None
            else datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")
        )

    for k in KeyStore(store).list():
        t.add_row(k.key_id, k.name, ",".join(k.scopes), fmt(k.created_ms), fmt(k.revoked_ms))
    Console().print(t)


@keys_app.command("revoke")
def keys_revoke(key_id: str = typer.Argument(...), db: str | None = typer.Option(None)) -> None:
    """Revoke a key; a running server refuses it within seconds."""
    from api.keys import KeyRequestError, KeyStore

    store = _store(_settings(db, None), must_exist=True)
    try:
        KeyStore(store).revoke(key_id)
    except KeyRequestError as exc:
        fail(str(exc))
    err.print(f"revoked key {key_id}")


DEFAULT_INVENTORY = Path("../shared/geodata/paris_delivery_bays.csv")


def demo_inventory(
    inventory: Path = typer.Option(DEFAULT_INVENTORY, help="bay inventory file"),
    fmt: str = typer.Option("auto", "--format", help="auto, paris, cerema, cds or osm"),
    days: int = typer.Option(14, min=1, max=366, help="days of simulated stops up to now"),
    seed: int = typer.Option(1),
    db: str | None = typer.Option(None),
) -> None:
    """Load a real bay inventory with simulated statistics and live state, for the map."""
    from occupancy.inventory.bays import InventoryError
    from occupancy.runtime.demo import seed_inventory_demo

    if not inventory.exists():  # before the store: a typo makes no empty database
        fail(f"{inventory}: no such inventory file")
    store = _store(_settings(db, None))
    try:
        s = seed_inventory_demo(store, inventory, fmt=fmt, days=days, seed=seed)
    except InventoryError as exc:
        fail(str(exc))
    err.print(
        f"{s.bays:,} bays ({s.rejected} rejected), {s.sessions:,} simulated sessions, "
        f"{s.live_events:,} simulated live states in {store.url}"
    )
