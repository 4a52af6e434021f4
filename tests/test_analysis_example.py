"""The end-to-end example in ``occupancy.runtime.analysis``'s docstring runs and is right."""

from __future__ import annotations

import doctest

import pytest

import occupancy.runtime.analysis
from tests.conftest import MODEL, ROOT, needs_footage


@needs_footage
def test_module_docstring_example(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the example's paths are relative to the repository
    monkeypatch.setenv("BAYWATCH_MODEL", str(MODEL))
    from occupancy.config.settings import get_settings

    get_settings.cache_clear()  # read BAYWATCH_MODEL afresh
    result = doctest.testmod(occupancy.runtime.analysis, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10
    assert result.failed == 0
    get_settings.cache_clear()
