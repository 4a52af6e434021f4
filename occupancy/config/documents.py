"""Reading and validating the project's own documents (site files, truth files) with
one-line errors that name the file and the field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

_SUBFIELD = re.compile(r"^([a-z_]+(?:\.\d+)?(?:\.[a-z_]+)*): (.*)$")


def validation_message(path: Path, exc: ValidationError) -> str:
    """``FILE: field.path: what is wrong`` for the first error, counting the others."""
    errors = exc.errors()
    err = errors[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    elif err["type"] == "missing":
        msg = "required field missing"
    sub = _SUBFIELD.match(msg)
    if sub:
        # A model check names the sub-field it is about: fold it into the location.
        head = "" if loc == "(top level)" else f"{loc}."
        loc, msg = f"{head}{sub.group(1)}", sub.group(2)
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{path}: {loc}: {msg}{more}"


def read_document(path: Path, what: str, error: type[Exception]) -> str:
    """The file's text, or ``error`` with one line saying why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read {what} ({exc})") from None


def validate_document(
    model: type[M], data: Any, path: Path, error: type[Exception], top: str = "a mapping"
) -> M:
    """``data`` parsed as ``model``, or ``error`` with one line naming the field."""
    if not isinstance(data, dict):
        raise error(f"{path}: expected {top} at the top level")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(validation_message(path, exc)) from None
