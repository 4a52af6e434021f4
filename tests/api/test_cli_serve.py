"""``baywatch serve``: starts the service on the database given; bad settings exit 2."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from baywatch.cli import app as cli_app
from occupancy.storage.store import Store
from tests.api.conftest import zone_rows
from tests.api.server import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_serve_runs_the_service(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 's.db'}"
    Store(db).upsert_zones(zone_rows())
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "baywatch.cli", "serve", "--port", str(port), "--db", db],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        health = None
        deadline = time.monotonic() + 30
        while health is None and time.monotonic() < deadline:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).json()
            except httpx.HTTPError:
                time.sleep(0.1)
        assert health is not None and health["bays"] == 5
        spec = httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()
        assert "/curbs/zones" in spec["paths"] and "/availability/free" in spec["paths"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_setting_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(cli_app, ["serve", "--config", str(tmp_path / "missing.env")])
    assert r.exit_code == 2
    assert r.stderr.strip() == f"error: settings file {tmp_path / 'missing.env'} does not exist"
    env = tmp_path / "bad.env"
    env.write_text("BAYWATCH_API_TIME_ZONE=Mars/Olympus\n")
    r = runner.invoke(cli_app, ["serve", "--config", str(env)])
    assert r.exit_code == 2
    assert (
        r.stderr.strip()
        == "error: invalid setting BAYWATCH_API_TIME_ZONE=Mars/Olympus: unknown IANA time zone 'Mars/Olympus'"
    )
    r = runner.invoke(cli_app, ["serve", "--db", "nosuchdialect://x"])
    assert r.exit_code == 2 and r.stderr.startswith(
        "error: invalid database URL 'nosuchdialect://x'"
    )


def test_serve_on_a_busy_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "baywatch",
                "serve",
                "--port",
                str(port),
                "--db",
                f"sqlite:///{tmp_path / 'b.db'}",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert r.returncode == 2
    lines = (r.stdout + r.stderr).strip().splitlines()
    assert lines == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use "
        "(another server runs there: choose --port)"
    ]
    assert not (tmp_path / "b.db").exists()  # nothing was opened or created


def test_serve_on_a_new_database_says_so(tmp_path: Path) -> None:
    """A server may start on an empty database, but a mistyped --db must not pass unseen."""
    from occupancy.storage.store import missing_sqlite_file

    new = tmp_path / "typo.db"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "baywatch.cli", "serve", "--port", str(port), "--db",
         f"sqlite:///{new}"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=10)
    assert stderr.splitlines()[0] == (
        f"note: no database at {new}: a new, empty one is created"
        " (check --db or BAYWATCH_DB if you meant another)"
    ), stderr
    assert new.exists() and missing_sqlite_file(f"sqlite:///{new}") is None  # now it exists
    assert missing_sqlite_file("postgresql+psycopg://u@h/db") is None
