"""Demo data for the service: a real bay inventory with simulated statistics.

``seed_inventory_demo`` imports a bay inventory (e.g. the Paris one in
``../shared/geodata/``), simulates ``days`` days of delivery stops up to ``now`` with
``occupancy.evaluation.simulate`` (rows marked ``data_source_type="simulated"``), and gives
each bay a simulated live state (its latest simulated stop as a ``park_start`` or
``park_end`` event, also marked simulated). Seeding again replaces the earlier
simulation of those bays (one simulation, never two stacked). The map shows those bays'
statistics as simulated. Observed sessions from footage are written by the analyser, not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from occupancy.domain.records import stable_id
from occupancy.storage.store import Store, now_ms


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What ``seed_inventory_demo`` stored: bays imported and rejected, simulated sessions,
    and live events (the latest park event of each bay).
    """

    bays: int
    rejected: int
    sessions: int
    live_events: int


def seed_inventory_demo(
    store: Store,
    inventory: Path,
    *,
    fmt: str = "auto",
    days: int = 28,
    seed: int = 1,
    now: int | None = None,
    tz: str = "Europe/Paris",
    streets: Path | None = None,
) -> DemoSummary:
    """Import an inventory file and give its bays ``days`` of simulated sessions ending at
    ``now`` (ms since the epoch; default the current time) in time zone ``tz``, plus a
    live state from the latest simulated stop. Every simulated row is marked
    ``data_source_type = simulated``. ``streets`` (OSM PBF or GeoJSON lines) draws the
    footprints of point-only bays along their kerb (``load_bays``). Raises
    ``InventoryError`` for an unreadable file.
    """
    from occupancy.evaluation.simulate import simulate_sessions
    from occupancy.inventory.bays import load_bays

    now = now_ms() if now is None else now
    res = load_bays(inventory, fmt, streets=streets)
    store.upsert_zones(res.zones)
    ids = {z.curb_zone_id for z in res.zones}
    zones = store.zones_frame()
    zones = zones[zones["curb_zone_id"].isin(ids)]
    local_now = datetime.fromtimestamp(now / 1000, ZoneInfo(tz))
    start = (local_now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    sims = simulate_sessions(zones, start=start, days=days + 1, seed=seed, tz=tz)
    sims = sims[sims["start_ms"] <= now].copy()
    ongoing = sims["end_ms"] > now
    sims.loc[ongoing, "end_ms"] = now  # still parked: the stop so far, marked censored
    sims.loc[ongoing, "end_censored"] = True
    sims["dwell_s"] = (sims["end_ms"] - sims["start_ms"]) / 1000.0
    events = _latest_events(sims[sims["kind"] == "park"], now)
    # A second demo replaces the first one's simulation of these bays (its window has
    # slid): the database holds one simulation, never two stacked.
    written = store.replace_simulated(ids, sims, events)
    return DemoSummary(len(res.zones), len(res.rejected), written, len(events))


def _latest_events(sims: pd.DataFrame, now: int) -> list[dict[str, object]]:
    """One simulated park event per bay: its latest stop's start (if ongoing) or end."""
    last = sims.sort_values("start_ms").groupby("curb_zone_id", sort=False).tail(1)
    out: list[dict[str, object]] = []
    for r in last.itertuples(index=False):
        kind = "park_start" if r.end_censored else "park_end"
        t = int(r.start_ms if r.end_censored else r.end_ms)
        out.append(
            {
                "event_id": stable_id("demo-event", r.session_id, kind),
                "event_type": kind,
                "event_time": t,
                "event_publication_time": now,
                "data_source_device_id": str(r.data_source_device_id),
                "data_source_type": "simulated",
                "curb_zone_id": str(r.curb_zone_id),
                "lane_zone_id": None,
                "event_session_id": str(r.session_id),
                "lon": None if pd.isna(r.lon) else float(r.lon),
                "lat": None if pd.isna(r.lat) else float(r.lat),
                "vehicle_type": str(r.vehicle_type),
                "vehicle_length": None
                if pd.isna(getattr(r, "vehicle_length", None))
                else int(r.vehicle_length),
                "vehicle_blocked_lane_types": [],
                "run_id": None,
                "attempt": None,
            }
        )
    return out
