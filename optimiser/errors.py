"""The one error type the optimiser raises for bad user input."""

from __future__ import annotations


class OptimiserInputError(ValueError):
    """A request the optimiser cannot run: the message names the file, field and value.

    The CLI prints it as one ``error: ...`` line and exits 2; nothing else should
    be raised for user mistakes.
    """
