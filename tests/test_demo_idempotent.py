"""``baywatch demo`` run twice leaves one simulation, still marked simulated.

Before: the second run added the sessions of its slid 14-day window on top of the first
run's (new random ids), so every bay's simulated stops were counted about twice. On the
real Paris 3e bays (Ville de Paris open data, ../shared/geodata; skipped where absent).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from occupancy.runtime.demo import seed_inventory_demo
from occupancy.storage.store import Store
from tests.conftest import SHARED

PARIS = SHARED / "geodata" / "paris_delivery_bays.csv"
pytestmark = pytest.mark.skipif(not PARIS.is_file(), reason="../shared/geodata absent")
T0 = int(pd.Timestamp("2026-11-20 15:30", tz="Europe/Paris").value // 1_000_000)
DAY = 86_400_000


@pytest.fixture(scope="module")
def paris_3e(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 3e arrondissement's rows of the Paris inventory (248 bays), header kept."""
    lines = PARIS.read_text(encoding="utf-8-sig").splitlines()
    col = lines[0].split(";").index("Arrondissement")
    rows = [ln for ln in lines[1:] if ln.split(";")[col] == "3"]
    path = tmp_path_factory.mktemp("inv") / "paris_3e.csv"
    path.write_text("\n".join([lines[0], *rows]) + "\n", encoding="utf-8")
    return path


def _simulated(store: Store) -> tuple[pd.DataFrame, pd.DataFrame]:
    s = store.sessions_frame()
    e = store.events_frame()
    sim = s[s["data_source_type"] == "simulated"].sort_values("session_id").reset_index(drop=True)
    ev = e[e["data_source_type"] == "simulated"].sort_values("event_id").reset_index(drop=True)
    return sim, ev


def test_a_second_demo_replaces_the_first_simulation(
    paris_3e: Path, tmp_path: Path, store_url: str
) -> None:
    twice = Store(store_url)  # SQLite, then PostgreSQL where configured
    first = seed_inventory_demo(twice, paris_3e, fmt="paris", days=3, now=T0)
    assert first.bays == 248 and first.sessions > 248
    # An observed stop at one of the bays must survive a re-seed.
    bay = str(twice.zones_frame()["curb_zone_id"].iloc[0])
    cam = {
        "session_id": "cam-stop-1",
        "kind": "park",
        "data_source_device_id": "meva-g340",
        "data_source_type": "camera",
        "curb_zone_id": bay,
        "start_ms": T0 - 3_600_000,
        "end_ms": T0 - 3_000_000,
        "dwell_s": 600.0,
        "vehicle_type": "van",
        "overstay": False,
        "start_censored": False,
        "end_censored": False,
    }
    twice.write_sessions_frame(pd.DataFrame([cam]))
    later = T0 + DAY + 5 * 3_600_000  # the next day: the window has slid
    second = seed_inventory_demo(twice, paris_3e, fmt="paris", days=3, now=later)

    once = Store(f"sqlite:///{tmp_path / 'once.db'}")
    alone = seed_inventory_demo(once, paris_3e, fmt="paris", days=3, now=later)
    assert second == alone
    got_s, got_e = _simulated(twice)
    want_s, want_e = _simulated(once)
    assert len(got_s) == alone.sessions and len(got_e) == alone.live_events == 248
    # (dtype aside: the camera row has no vehicle_length, so that column reads as float)
    pd.testing.assert_frame_equal(got_s, want_s, check_dtype=False)
    pd.testing.assert_frame_equal(got_e, want_e, check_dtype=False)
    assert (got_s["data_source_device_id"] == "simulator").all()
    assert twice.sessions_frame().set_index("session_id").loc["cam-stop-1", "data_source_type"] == (
        "camera"
    )
    twice.close()
    once.close()
