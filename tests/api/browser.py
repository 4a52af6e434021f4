"""Headless Debian Chromium for the browser tests (no Playwright browser download)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from api.app import VENDOR

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Screenshots kept as test artefacts (git-ignored).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]

needs_browser = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
    pytest.mark.skipif(
        not all(p.is_dir() for p in VENDOR.values()),
        reason="api/web/node_modules missing: run `make setup` (npm ci)",
    ),
]


@contextmanager
def chromium(width: int = 1400, height: int = 900) -> Iterator[tuple[Any, list[str], list[str]]]:
    """A page in a fresh browser, with the page errors and every URL it requested."""
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": width, "height": height}, accept_downloads=True)
        errors: list[str] = []
        requested: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requested.append(r.url))
        try:
            yield page, errors, requested
        finally:
            browser.close()
