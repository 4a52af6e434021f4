"""The ``baywatch`` command: one typer app, one sub-command per job."""

from __future__ import annotations

import typer

from optimiser import cli as optimiser_cli

app = typer.Typer(
    name="baywatch",
    help="Observe delivery bays from cameras, compute CDS statistics, propose better bays.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


app.add_typer(optimiser_cli.app, name="optimise")


@app.callback()
def _main() -> None:
    """baywatch: delivery-bay observation and optimisation."""


if __name__ == "__main__":
    app()
