"""The ``baywatch`` command: one typer app, one sub-command per job."""

from __future__ import annotations

import json

import typer

from baywatch import optimise_cmd as optimiser_cli
from baywatch import stats_cmd as stats_cli
from baywatch.analyse_cmd import analyse_command
from baywatch.db_cmd import db_app
from baywatch.demo_cmd import demo_command
from baywatch.evaluate_cmd import evaluate_command
from baywatch.watch_cmd import watch_command

app = typer.Typer(
    name="baywatch",
    help="Observe delivery bays from cameras, compute CDS statistics, propose better bays.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

app.command("analyse")(analyse_command)
app.command("demo")(demo_command)
app.command("evaluate")(evaluate_command)
app.add_typer(db_app, name="db")
app.command("watch")(watch_command)


@app.command("site-schema")
def site_schema() -> None:
    """Print the JSON schema of site description files."""
    from occupancy.config.site import site_json_schema

    typer.echo(json.dumps(site_json_schema(), indent=2))


stats_cli.register(app)  # import-bays, simulate, stats, report
app.add_typer(optimiser_cli.app, name="optimise")


from baywatch.serve_cmd import register as _register_api  # noqa: E402  (after app exists)

_register_api(app)

if __name__ == "__main__":
    app()
