"""``python -m baywatch``: the same command line as the ``baywatch`` script."""

from baywatch.cli import app

app()
