"""Modules imported on first use, so that command-line start-up stays fast.

``baywatch --help`` and a command's argument errors must answer in well under a second,
while the work itself needs pandas, torch, OpenCV or OR-Tools (seconds to import). A
command module binds such a module with ``lazy_import`` at the top (and imports it for
real under ``TYPE_CHECKING`` for the type checker and the import-layer contracts); the
import happens when an attribute is first read. Built on the standard library's
``importlib.util.LazyLoader``.

Example::

    from typing import TYPE_CHECKING
    if TYPE_CHECKING:
        import pandas as pd
    else:
        pd = lazy_import("pandas")
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_import(name: str) -> ModuleType:
    """The module ``name``, executed on first attribute access.

    Raises ``ModuleNotFoundError`` at once when the module does not exist.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
