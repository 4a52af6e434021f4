"""``baywatch db``: the database's schema (Alembic migrations, SQLite or PostgreSQL/PostGIS)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from baywatch.console import console, fail
from occupancy.config.settings import get_settings
from occupancy.domain.lazy import lazy_import

if TYPE_CHECKING:
    import occupancy.storage.store as store_mod
else:
    store_mod = lazy_import("occupancy.storage.store")


db_app = typer.Typer(help="Database schema: create or upgrade it (Alembic).", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade_command(
    db: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy URL; default BAYWATCH_DB or sqlite:///baywatch.db"),
    ] = None,
    revision: Annotated[str, typer.Option(help="target revision")] = "head",
) -> None:
    """Create the schema, or bring it to the latest revision; safe to run again."""
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    url = db or get_settings().db
    try:
        store = store_mod.Store(url)
        rev = store.migrate(revision)
        store.close()
    except store_mod.StoreError as exc:
        fail(str(exc))
    except (CommandError, SQLAlchemyError) as exc:
        fail(f"cannot migrate {url!r}: {str(exc).splitlines()[0]}")
    console.print(f"{store.engine.url.render_as_string()}: schema at revision {rev}")
