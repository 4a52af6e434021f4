"""The ``baywatch`` command: one typer app, one sub-command per job, loaded on demand.

``baywatch --help`` lists every command from the table below without importing any of
them, so it starts in a fraction of a second; a command's module (and the heavy libraries
it needs: torch, ortools, pandas, …) is imported only when that command runs or shows its
own help. Before any command runs, the process settings (``BAYWATCH_*``) are validated
once: a bad one ends the command with one line naming the variable (exit 2).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import typer

# typer vendors its own click; its groups, commands and contexts are these types.
from typer import _click as click
from typer.core import TyperGroup


@dataclass(frozen=True)
class LazyCommand:
    """Where a sub-command lives: ``module:attribute``, a function or a ``typer.Typer``."""

    target: str
    help: str

    def load(self, name: str) -> click.Command:
        """Import the command's module and return it as a click command named ``name``."""
        module_name, attr = self.target.split(":")
        obj: Any = getattr(importlib.import_module(module_name), attr)
        if isinstance(obj, typer.Typer):
            group = typer.main.get_group(obj)
            group.name = name
            return group
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(name)(obj)
        command = typer.main.get_command(single)
        command.name = name
        return command


# The order is the order of ``baywatch --help``: observation, statistics, service, planning.
COMMANDS: dict[str, LazyCommand] = {
    "analyse": LazyCommand(
        "baywatch.analyse_cmd:analyse_command",
        "Analyse footage of one camera into occupancy sessions and CDS events.",
    ),
    "demo": LazyCommand(
        "baywatch.demo_cmd:demo_command",
        "Analyse every sample scene into the database and print the sessions found.",
    ),
    "evaluate": LazyCommand(
        "baywatch.evaluate_cmd:evaluate_command",
        "Accuracy of the sessions baywatch finds, against a truth file.",
    ),
    "watch": LazyCommand(
        "baywatch.watch_cmd:watch_command",
        "Follow every camera in SITES_DIR live, several per process, sharing one model.",
    ),
    "site-schema": LazyCommand(
        "baywatch.cli:site_schema", "Print the JSON schema of site description files."
    ),
    "import-bays": LazyCommand(
        "baywatch.stats_cmd:import_bays_command",
        "Import a city's delivery-bay inventory; bad records are listed and skipped.",
    ),
    "simulate": LazyCommand(
        "baywatch.stats_cmd:simulate_command",
        "Write simulated sessions (data_source_type=simulated) for every bay in the database.",
    ),
    "stats": LazyCommand(
        "baywatch.stats_cmd:stats_command",
        "Occupancy statistics per bay, area or H3 cell (CDS Metrics definitions).",
    ),
    "report": LazyCommand(
        "baywatch.stats_cmd:report_command",
        "Write a self-contained HTML report with pictures (profiles, heatmap, maps).",
    ),
    "serve": LazyCommand(
        "baywatch.serve_cmd:serve",
        "Run the HTTP service (map, availability, CDS, ingestion, jobs); docs at /docs.",
    ),
    "demo-inventory": LazyCommand(
        "baywatch.serve_cmd:demo_inventory",
        "Load a real bay inventory with simulated statistics and live state, for the map.",
    ),
    "basemap": LazyCommand(
        "baywatch.basemap_cmd:app",
        "Build the offline basemap (streets, water, area borders) from an OSM extract.",
    ),
    "db": LazyCommand("baywatch.db_cmd:db_app", "Database schema: create or upgrade it (Alembic)."),
    "optimise": LazyCommand(
        "baywatch.optimise_cmd:app",
        "Propose where delivery bays should be and when they serve deliveries.",
    ),
    "keys": LazyCommand(
        "baywatch.serve_cmd:keys_app",
        "Manage API keys (stored hashed; a key is shown once).",
    ),
}


class LazyGroup(TyperGroup):
    """A typer group whose sub-commands are imported when used, not at start-up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, the lazy ones included."""
        return [*super().list_commands(ctx), *COMMANDS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command ``cmd_name``, its module imported only now."""
        if cmd_name in COMMANDS:
            return COMMANDS[cmd_name].load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands from the table's one-line help (imports nothing)."""
        # The listing uses the table's one-line help: no command module is imported.
        with formatter.section("Commands"):
            formatter.write_dl([(name, cmd.help) for name, cmd in COMMANDS.items()])

    def invoke(self, ctx: click.Context) -> Any:
        """Check the ``BAYWATCH_*`` settings (one line on error), then run the command."""
        check_settings()
        return super().invoke(ctx)


def check_settings() -> None:
    """Validate ``BAYWATCH_*`` once; a bad value ends the command with one line (exit 2).

    A ``BAYWATCH_*`` variable baywatch does not read (a misspelt name), in the environment
    or in ``./.env``, is a one-line warning on stderr naming the closest setting; the
    command goes on.
    """
    import os
    from pathlib import Path

    from pydantic import ValidationError
    from pydantic_settings.exceptions import SettingsError

    from occupancy.config.settings import (
        describe_error,
        get_settings,
        unknown_in_env_file,
        unknown_variables,
    )

    lines = unknown_variables(os.environ)
    if Path(".env").is_file():  # read by Settings too (env_file=".env")
        lines += unknown_in_env_file(Path(".env"))
    for line in lines:
        typer.echo(f"warning: {line}", err=True)
    try:
        get_settings()
    except (ValidationError, SettingsError) as exc:
        from baywatch.console import fail

        fail(describe_error(exc))


app = typer.Typer(
    name="baywatch",
    cls=LazyGroup,
    help="Observe delivery bays from cameras, compute CDS statistics, propose better bays.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


@app.callback()
def main() -> None:
    """Observe delivery bays from cameras, compute CDS statistics, propose better bays."""


def site_schema() -> None:
    """Print the JSON schema of site description files."""
    import json

    from occupancy.config.site import site_json_schema

    typer.echo(json.dumps(site_json_schema(), indent=2))


if __name__ == "__main__":
    app()
