"""Ground truth for one camera's footage: what really parked where, and when.

A truth file is JSON (``baywatch evaluate --truth-schema`` prints its schema)::

    {
      "camera_id": "meva-g328",            # optional: checked against the site
      "duration_s": 180.0,                  # footage length, seconds
      "bays": ["bay-1", "bay-2"],           # the site's bay ids this truth covers
      "lane_zones": ["aisle"],              # the site's lane zone ids it covers
      "sessions": [
        {"bay": "bay-1", "start_s": 12.0, "end_s": 64.5, "kind": "park"},
        {"lane": "aisle", "start_s": 30.0, "end_s": 55.0, "kind": "double_park"}
      ]
    }

Times are seconds from the first frame of the footage. A vehicle already parked
when the footage starts has ``start_s`` 0; one still there at the end has
``end_s`` equal to ``duration_s``. Zones listed but never occupied are free all
along; zones of the site not listed are not evaluated. Every problem is reported
as one line naming the file and the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from occupancy.config.documents import read_document, validate_document

_ID = r"^[A-Za-z0-9_.:-]+$"
# Longest footage a truth file may describe: a week. Evaluation holds a per-second array per
# zone, so a typo (5e9 s) must be refused here, not found as a 37 GiB allocation.
MAX_DURATION_S = 7 * 86_400.0


class TruthError(ValueError):
    """A truth file is missing, unreadable or invalid; the message is one line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TruthSession(_Strict):
    """One vehicle at rest in one zone."""

    bay: str | None = Field(None, pattern=_ID, description="bay id (for kind park)")
    lane: str | None = Field(None, pattern=_ID, description="lane zone id (for kind double_park)")
    start_s: float = Field(
        ge=0,
        le=MAX_DURATION_S,
        allow_inf_nan=False,
        description="when the vehicle came to rest, s from footage start",
    )
    end_s: float = Field(
        le=MAX_DURATION_S,
        allow_inf_nan=False,
        description="when it started to leave, s from footage start",
    )
    kind: Literal["park", "double_park"]
    note: str | None = Field(None, description="free text, e.g. which vehicle")

    @model_validator(mode="after")
    def _consistent(self) -> TruthSession:
        if (self.bay is None) == (self.lane is None):
            raise ValueError("give exactly one of 'bay' or 'lane'")
        if self.kind == "park" and self.bay is None:
            raise ValueError("kind: 'park' sessions are in a bay, not a lane")
        if self.kind == "double_park" and self.lane is None:
            raise ValueError("kind: 'double_park' sessions are in a lane zone, not a bay")
        if self.end_s <= self.start_s:
            raise ValueError(f"end_s: {self.end_s} is not after start_s {self.start_s}")
        return self

    @property
    def zone(self) -> str:
        """The bay, or else the lane zone, the session is in."""
        return self.bay if self.bay is not None else str(self.lane)


class Truth(_Strict):
    """What happened in front of one camera during one piece of footage."""

    camera_id: str | None = Field(None, description="the site's camera_id, checked if given")
    duration_s: float = Field(
        gt=0, le=MAX_DURATION_S, allow_inf_nan=False, description="footage length in seconds"
    )
    bays: list[str] = Field(default_factory=list, description="bay ids evaluated")
    lane_zones: list[str] = Field(default_factory=list, description="lane zone ids evaluated")
    sessions: list[TruthSession] = Field(default_factory=list)
    source: str | None = Field(None, description="how this truth was obtained")

    @model_validator(mode="after")
    def _cross_checks(self) -> Truth:
        if not self.bays and not self.lane_zones:
            raise ValueError("bays: list at least one bay or lane zone to evaluate")
        for i, s in enumerate(self.sessions):
            known = self.bays if s.bay is not None else self.lane_zones
            field = "bay" if s.bay is not None else "lane"
            if s.zone not in known:
                group = "bays" if s.bay is not None else "lane_zones"
                raise ValueError(f"sessions.{i}.{field}: {s.zone!r} is not listed in {group}")
            if s.end_s > self.duration_s + 1e-6:
                raise ValueError(
                    f"sessions.{i}.end_s: {s.end_s} is after the footage ends ({self.duration_s} s)"
                )
        return self

    def zone_ids(self) -> list[str]:
        """Every zone the truth covers: bays, then lane zones."""
        return [*self.bays, *self.lane_zones]


def parse_truth(data: Any, path: Path) -> Truth:
    """Validate an already parsed truth document; ``TruthError`` naming ``path`` and the field."""
    return validate_document(Truth, data, path, TruthError, top="a JSON object")


def load_truth(path: str | Path) -> Truth:
    """Read and validate a truth file; ``TruthError`` with one line naming the file, line or field."""
    p = Path(path)
    text = read_document(p, "truth file", TruthError)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TruthError(f"{p}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    return parse_truth(data, p)


def write_truth(truth: Truth, path: str | Path) -> None:
    """Write a truth file (indented JSON, unset fields left out)."""
    Path(path).write_text(truth.model_dump_json(indent=2, exclude_none=True) + "\n")


def truth_json_schema() -> dict[str, Any]:
    """The JSON Schema of truth files."""
    return Truth.model_json_schema()
