"""The ``baywatch`` command: one typer app, one sub-command per job."""

from __future__ import annotations

import typer

from occupancy import stats_cli

app = typer.Typer(
    name="baywatch",
    help="Observe delivery bays from cameras, compute CDS statistics, propose better bays.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _main() -> None:
    """baywatch: delivery-bay observation and optimisation."""


stats_cli.register(app)  # import-bays, simulate, stats, report


if __name__ == "__main__":
    app()
