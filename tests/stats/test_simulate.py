"""The session simulator: marked as simulated, reproducible, plausible."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from occupancy.evaluation.simulate import simulate_sessions, uuid_strings
from occupancy.statistics.hourly import hourly_aggregates
from occupancy.storage.schema import sessions
from occupancy.storage.store import Store
from tests.stats.conftest import ms

ZONES = pd.DataFrame(
    {
        "curb_zone_id": [f"bay{i}" for i in range(40)],
        "num_spaces": [1] * 30 + [2] * 10,
        "max_stay_min": 30.0,
        "lon": 2.35,
        "lat": 48.86,
    }
)


def test_simulated_sessions_are_marked_and_reproducible() -> None:
    a = simulate_sessions(ZONES, start=datetime(2025, 3, 24), days=14, seed=7)
    b = simulate_sessions(ZONES, start=datetime(2025, 3, 24), days=14, seed=7)
    pd.testing.assert_frame_equal(a, b)
    assert set(a.columns) == {c.name for c in sessions.columns}
    assert set(a["data_source_type"]) == {"simulated"}
    assert set(a["data_source_device_id"]) == {"simulator"}
    assert a["session_id"].is_unique
    assert (
        a["session_id"]
        .str.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
        .all()
    )
    assert (a["end_ms"] > a["start_ms"]).all()
    # about 5 stops per bay-day on average over whole weeks
    assert 0.85 * 5 * 40 * 14 < len(a) < 1.15 * 5 * 40 * 14
    local = pd.to_datetime(a["start_ms"], unit="ms", utc=True).dt.tz_convert("Europe/Paris")
    assert local.min() >= pd.Timestamp("2025-03-24", tz="Europe/Paris")
    assert local.max() < pd.Timestamp("2025-04-07", tz="Europe/Paris")
    # weekday mornings are busier than Sunday mornings
    morning = local.dt.hour.between(8, 11)
    assert (morning & (local.dt.day_of_week == 1)).sum() > 4 * (
        morning & (local.dt.day_of_week == 6)
    ).sum()
    assert set(a["kind"]) == {"park", "double_park"}


def test_one_space_bays_never_hold_two_parked_vehicles() -> None:
    s = simulate_sessions(ZONES, start=datetime(2025, 3, 24), days=14, seed=1, stops_per_bay_day=12)
    h = hourly_aggregates(s, ZONES, start_ms=ms("2025-03-24 00:00"), end_ms=ms("2025-04-07 00:00"))
    one = h["curb_zone_id"].isin([f"bay{i}" for i in range(30)])
    assert h.loc[one, "occupancy_percent"].max() <= 100.0
    assert h["double_park_sessions"].sum() == (s["kind"] == "double_park").sum()


def test_uuid_strings_vectorised() -> None:
    ids = uuid_strings(np.random.default_rng(0), 3)
    assert len(set(ids)) == 3 and all(len(i) == 36 for i in ids)


def test_store_writes_simulated_frame(tmp_path: object) -> None:
    store = Store(f"sqlite:///{tmp_path}/s.db")
    s = simulate_sessions(ZONES.iloc[:3], start=datetime(2025, 6, 2), days=2, seed=2)
    assert store.write_sessions_frame(s) == len(s)
    assert store.write_sessions_frame(s) == len(s)  # idempotent upsert
    back = store.sessions_frame()
    assert len(back) == len(s)
    assert set(back["data_source_type"]) == {"simulated"}
    assert store.delete_sessions(data_source_type="simulated") == len(s)
    assert store.sessions_frame().empty
