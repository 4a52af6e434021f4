"""Helpers for hand-made session sets (times written in Europe/Paris local time)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "geodata"


def ms(local: str, tz: str = "Europe/Paris", *, fold: int = 0) -> int:
    """UTC ms of a local wall time; ``fold=1`` picks the second of a repeated hour."""
    ts = pd.Timestamp(local).tz_localize(tz, ambiguous=not bool(fold))
    return int(ts.value // 1_000_000)


def session(
    zone: str,
    start: int,
    end: int,
    *,
    kind: str = "park",
    vehicle: str = "van",
    max_stay: float | None = None,
    sid: str | None = None,
) -> dict[str, object]:
    return {
        "session_id": sid or f"{zone}-{start}-{kind}",
        "kind": kind,
        "data_source_device_id": "cam1",
        "data_source_type": "camera",
        "curb_zone_id": zone,
        "lane_zone_id": None,
        "start_ms": start,
        "end_ms": end,
        "dwell_s": (end - start) / 1000,
        "vehicle_type": vehicle,
        "max_stay_min": max_stay,
    }


def frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


@pytest.fixture
def shared_geodata() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared geodata not found at {SHARED}")
    return SHARED
