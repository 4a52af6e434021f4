"""Per-bay weekly occupancy profiles, computed by ``occupancy.statistics.hourly`` and cached.

The availability API needs "probability that a bay is free at hour h on weekday d"
within a millisecond, so the profiles are computed in the background (at start and
every ``api_stats_refresh_s``) and looked up from memory. The statistics themselves
belong to ``occupancy.statistics.hourly``; this module only caches and indexes them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd

from occupancy.domain.states import COMMS_EVENTS
from occupancy.storage.store import Store

log = logging.getLogger(__name__)


DataKind = Literal["observed", "simulated"]


@dataclass(frozen=True, slots=True)
class ProfileSnapshot:
    """Weekly occupancy profiles at one time: per bay a 7 × 24 array of P(free) (Monday
    first, local hours; NaN: never observed), their source, and when computed (ms).

    ``observed`` holds the profiles from camera sessions only, ``simulated`` those from
    the simulator only: they are never mixed. ``p_free`` is what the availability API
    serves, each bay's observed profile where it has one, else its simulated one, and
    ``source`` says which ("camera" or "simulated").
    """

    # curb_zone_id -> 7 x 24 array of P(free), weekday 0 = Monday; NaN = no observation
    p_free: dict[str, npt.NDArray[np.float64]]
    # curb_zone_id -> "camera" | "simulated": where p_free comes from
    source: dict[str, str]
    computed_ms: int
    observed: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    simulated: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)

    def of(self, kind: DataKind) -> dict[str, npt.NDArray[np.float64]]:
        """The profiles of one kind of data: ``observed`` or ``simulated``."""
        return self.observed if kind == "observed" else self.simulated


def weekday_hour(ms: int, tz: ZoneInfo) -> tuple[int, int]:
    """(weekday, hour) of ``ms`` in ``tz``: Monday = 0, hours 0-23 local."""
    t = datetime.fromtimestamp(ms / 1000, tz)
    return t.weekday(), t.hour


# Profiles describe the recent weeks: older habits matter less, and a bounded window
# bounds the memory and time of each refresh.
PROFILE_WINDOW_MS = 8 * 7 * 86_400_000


def _profiles(
    sessions: pd.DataFrame,
    zones: pd.DataFrame,
    tz: str,
    offline: pd.DataFrame | None,
) -> dict[str, npt.NDArray[np.float64]]:
    from occupancy.statistics import hourly as stats

    out: dict[str, npt.NDArray[np.float64]] = {}
    if sessions.empty or zones.empty:
        return out
    prof = stats.weekly_profile(sessions, zones, tz=tz, offline=offline)
    prof = prof[prof["n_hours_observed"] > 0]
    for zid, g in prof.groupby("curb_zone_id", sort=False, observed=True):
        arr = np.full((7, 24), np.nan)
        arr[g["weekday"].to_numpy(int), g["hour"].to_numpy(int)] = g["p_free"].to_numpy(float)
        out[str(zid)] = arr
    return out


def compute_snapshot(store: Store, tz: str, computed_ms: int) -> ProfileSnapshot:
    """Weekly profiles of every bay from the sessions of the last ``PROFILE_WINDOW_MS``
    before ``computed_ms``, local time ``tz``, observed and simulated apart.

    Observed: camera sessions, over the bays a camera watches (``device_id``) or that
    have camera sessions; hours outside every run's footage or between ``comms_lost``
    and ``comms_restored`` are unobserved (NaN), and a bay no camera watches has no
    observed profile at all (not 0 %). Simulated: the simulator's sessions, over the
    bays it simulated, within its sessions' time span.
    """
    from occupancy.statistics import (
        hourly as stats,
    )  # the stats module is heavy; load it only when needed

    sessions = store.sessions_frame(start_ms=computed_ms - PROFILE_WINDOW_MS)
    zones = store.zones_frame()
    observed: dict[str, npt.NDArray[np.float64]] = {}
    simulated: dict[str, npt.NDArray[np.float64]] = {}
    if not sessions.empty and not zones.empty:
        is_sim = (sessions["data_source_type"] == "simulated").to_numpy()
        cam, sim = sessions[~is_sim], sessions[is_sim]
        zid = zones["curb_zone_id"].astype(str)
        if not cam.empty:
            comms = store.events_frame(event_types=[str(e) for e in COMMS_EVENTS])
            offline = stats.unwatched_intervals(
                comms,
                store.runs_frame(),
                computed_ms - PROFILE_WINDOW_MS,
                computed_ms,
                now_ms=computed_ms,
                tz=tz,
            )
            watched = zid.isin(set(cam["curb_zone_id"].dropna().astype(str)))
            if "device_id" in zones:
                watched |= zones["device_id"].notna()
            observed = _profiles(cam, zones[watched.to_numpy()], tz, offline)
        if not sim.empty:
            simulated_zones = zid.isin(set(sim["curb_zone_id"].dropna().astype(str)))
            simulated = _profiles(sim, zones[simulated_zones.to_numpy()], tz, None)
    p_free = {**simulated, **observed}
    source = {z: "simulated" for z in simulated} | {z: "camera" for z in observed}
    return ProfileSnapshot(p_free, source, computed_ms, observed, simulated)


class Profiles:
    """The current snapshot, swapped atomically by a background refresh."""

    def __init__(self, store: Store, tz: str) -> None:
        self.store, self.tz_name, self.tz = store, tz, ZoneInfo(tz)
        self.snapshot = ProfileSnapshot({}, {}, 0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self, now_ms: int) -> None:
        """Recompute the snapshot as of ``now_ms``."""
        self.snapshot = compute_snapshot(self.store, self.tz_name, now_ms)

    def p_free_at(self, curb_zone_id: str, when_ms: int) -> float | None:
        """P(free) of a bay at the local weekday and hour of ``when_ms``; None if unobserved."""
        d, h = weekday_hour(when_ms, self.tz)
        return self.p_free_slot(curb_zone_id, d, h)

    def p_free_slot(self, curb_zone_id: str, weekday: int, hour: int) -> float | None:
        """P(free) of a bay at a weekday (0 = Monday) and local hour; None if unobserved."""
        arr = self.snapshot.p_free.get(curb_zone_id)
        if arr is None:
            return None
        v = arr[weekday, hour]
        return None if np.isnan(v) else round(float(v), 4)

    def occupancy(
        self,
        curb_zone_id: str,
        hour: int | None,
        weekday: int | None,
        kind: DataKind = "observed",
    ) -> float | None:
        """Mean share of time occupied (1 - P(free)) at that hour/weekday in the ``kind``
        profiles (observed by default), None where that data has no hour (never 0)."""
        arr = self.snapshot.of(kind).get(curb_zone_id)
        if arr is None:
            return None
        sel = arr
        if weekday is not None:
            sel = sel[weekday : weekday + 1]
        if hour is not None:
            sel = sel[:, hour : hour + 1]
        if np.isnan(sel).all():
            return None
        return round(1.0 - float(np.nanmean(sel)), 4)

    def start(self, interval_s: float, clock: Callable[[], int]) -> None:
        """Refresh every ``interval_s`` seconds in a thread; a failed refresh keeps the last snapshot."""

        def run() -> None:
            while True:
                try:
                    self.refresh(clock())
                except Exception:  # keep serving the last good profiles
                    log.exception("profile refresh failed")
                if self._stop.wait(interval_s):
                    return

        self._thread = threading.Thread(target=run, name="profiles", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop refreshing (waits up to 5 s)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
