"""Live state of every bay, held in memory for fast "free bays near me" answers.

State comes from the events table: the latest ``park_start``/``park_end`` of a curb
zone says occupied/free since its time; a camera's latest ``comms_lost`` (not yet
followed by ``comms_restored``) makes the bays it watches unknown. A bay never seen
by a camera is unknown. The index is rebuilt from the database at start and then
follows new events by publication time (events written by any process: the CLI, a
batch job, or the ingest endpoint, which also applies them at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from api.geo import BBox
from occupancy.domain.curb_zone import CurbZoneRecord, records_from_rows
from occupancy.domain.geo import MetricProjection
from occupancy.domain.records import EventType
from occupancy.domain.states import COMMS_EVENTS, PARK_EVENTS, BayState, bay_state
from occupancy.storage.store import Store, now_ms

__all__ = ["Bay", "BayState", "Broadcaster", "LiveFollower", "LiveIndex", "StateChange"]

log = logging.getLogger(__name__)

# A transaction that commits after a poll may carry a publication time stamped
# before that poll; each poll re-reads from this long before the previous one
# (re-applying is idempotent), which covers any transaction shorter than this.
_OVERLAP_MS = 10_000


# Each bay's latest park event is kept as a small code in an array (0: none yet), so that
# the free-bay search is one vectorised mask; its state always comes from ``bay_state``.
_PARK_BY_CODE: tuple[EventType | None, ...] = (None, EventType.PARK_END, EventType.PARK_START)
_CODE_OF_PARK = {e: c for c, e in enumerate(_PARK_BY_CODE)}
# Event types by their stored value; a type this service does not know carries no state.
_EVENT_TYPES = {str(e): e for e in EventType}
# Which codes are free while the bay's camera is online: bay_state's answer, tabulated.
_FREE_BY_CODE = np.array(
    [bay_state(e, EventType.COMMS_RESTORED) is BayState.FREE for e in _PARK_BY_CODE], dtype=bool
)


# Uniform grid over projected coordinates: a 300 m query reads about 9 cells instead of
# every bay; past _MAX_CELLS cells a vectorised scan of all bays is cheaper.
_CELL_M = 250.0
_MAX_CELLS = 64


def _build_grid(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> dict[tuple[int, int], npt.NDArray[np.intp]]:
    if len(x) == 0:
        return {}
    cx = np.floor(x / _CELL_M).astype(np.int64)
    cy = np.floor(y / _CELL_M).astype(np.int64)
    order = np.lexsort((cy, cx))
    keys = np.column_stack([cx[order], cy[order]])
    starts = np.flatnonzero(np.r_[True, (keys[1:] != keys[:-1]).any(axis=1)])
    ends = np.r_[starts[1:], len(order)]
    return {
        (int(keys[a, 0]), int(keys[a, 1])): order[a:b].astype(np.intp)
        for a, b in zip(starts, ends, strict=True)
    }


# The API's read model of a bay is the stored record itself.
Bay = CurbZoneRecord

# Where a live state comes from: a camera's event or the simulator's.
StateSource = Literal["observed", "simulated"]


@dataclass(frozen=True, slots=True)
class StateChange:
    """A bay's state (``BayState``) since ``since_ms`` (ms since the epoch: the event that
    set it; None for a bay never observed) and where it comes from: ``state_source``
    ``"observed"`` (a camera's event) or ``"simulated"`` (the simulator's).
    """

    curb_zone_id: str
    state: BayState
    since_ms: int | None
    state_source: StateSource


def bays_from_frame(df: pd.DataFrame) -> list[Bay]:
    """Bays from ``Store.zones_frame()`` (one row per curb zone), in the frame's order."""
    return records_from_rows(df.to_dict("records"))


class LiveIndex:
    """Bays, their live state and a vectorised nearest-bay search."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._counts: dict[str, dict[str, int]] | None = None  # cached; None when state changed
        self.bays: list[Bay] = []
        self.index: dict[str, int] = {}
        self.lon: npt.NDArray[np.float64] = np.zeros(0)
        self.lat: npt.NDArray[np.float64] = np.zeros(0)
        self._x: npt.NDArray[np.float64] = np.zeros(0)
        self._y: npt.NDArray[np.float64] = np.zeros(0)
        self._proj: MetricProjection | None = None  # chosen at the first load
        self._grid: dict[tuple[int, int], npt.NDArray[np.intp]] = {}
        self._park_code = np.zeros(0, dtype=np.int8)
        self._park_ms = np.full(0, -1, dtype=np.int64)
        # True where the latest park event of the bay came from simulated data.
        self._park_sim = np.zeros(0, dtype=bool)
        self._device_of: list[str | None] = []
        # True where the bay's camera has lost comms: kept as an array so that the
        # free-bay search is one vectorised mask.
        self._offline = np.zeros(0, dtype=bool)
        # device id -> (time, type) of its latest comms event
        self._comms: dict[str, tuple[int, EventType]] = {}
        # device id -> end (ms) of its footage, for cameras whose every run has ended
        # (recorded clips): what they saw is not live any more.
        self._ended: dict[str, int] = {}
        self._listeners: list[Callable[[list[StateChange]], None]] = []
        self.last_updated_ms = 0
        self.zones_signature: tuple[int, int] = (0, 0)

    # -- building --------------------------------------------------------------------

    def set_bays(self, bays: list[Bay]) -> None:
        """Update bays: known ids keep their index (and state), new ids are appended.

        Growth only, never reordered: an index a request obtained stays valid for the
        same bay while zones are reloaded under it. (Zones are never deleted from the
        store; one removed by hand stays served until the next start.)
        """
        with self._lock:
            self._counts = None
            merged = list(self.bays)
            index = dict(self.index)
            for b in bays:
                j = index.get(b.curb_zone_id)
                if j is None:
                    index[b.curb_zone_id] = len(merged)
                    merged.append(b)
                else:
                    merged[j] = b
            n, grown = len(merged), len(merged) - len(self.bays)
            self.bays = merged
            self.index = index
            self.lon = np.array([b.lon for b in merged], dtype=np.float64)
            self.lat = np.array([b.lat for b in merged], dtype=np.float64)
            if self._proj is None and n:  # fixed at first load: the grid stays valid
                self._proj = MetricProjection.for_points(self.lon, self.lat)
            if self._proj is not None:
                self._x, self._y = self._proj.to_xy(self.lon, self.lat)
            self._grid = _build_grid(self._x, self._y)
            self._park_code = np.concatenate([self._park_code, np.zeros(grown, dtype=np.int8)])
            self._park_ms = np.concatenate([self._park_ms, np.full(grown, -1, dtype=np.int64)])
            self._park_sim = np.concatenate([self._park_sim, np.zeros(grown, dtype=bool)])
            self._device_of = [b.device_id for b in merged]
            self._refresh_offline()

    def _refresh_offline(self) -> None:
        self._offline = np.array(
            [
                d is not None
                and (
                    d in self._ended
                    or (d in self._comms and self._comms[d][1] is EventType.COMMS_LOST)
                )
                for d in self._device_of
            ],
            dtype=bool,
        )

    def set_ended(self, ended: Mapping[str, int]) -> list[StateChange]:
        """Set the cameras whose runs have all ended (device id -> footage end ms): the
        bays they observed read ``unknown`` since then, not their last recorded state."""
        with self._lock:
            if dict(ended) == self._ended:
                return []
            before = self.states()
            self._counts = None
            self._ended = dict(ended)
            self._refresh_offline()
            out = [a for a, b in zip(self.states(), before, strict=True) if a != b]
        for fn in list(self._listeners):
            if out:
                fn(out)
        return out

    def add_listener(self, fn: Callable[[list[StateChange]], None]) -> None:
        """Call ``fn(changes)`` after each ``apply`` that changed some bay's state (in the
        applying thread, outside the lock).
        """
        self._listeners.append(fn)

    # -- state -----------------------------------------------------------------------

    def _effective(self, i: int) -> StateChange:
        b = self.bays[i]
        dev = self._device_of[i]
        comms = self._comms.get(dev) if dev is not None else None
        park = _PARK_BY_CODE[int(self._park_code[i])]
        ended = self._ended.get(dev) if dev is not None else None
        if ended is not None and not self._park_sim[i]:
            # Recorded footage only and its runs have ended: no live observation.
            return StateChange(b.curb_zone_id, BayState.UNKNOWN, ended, "observed")
        state = bay_state(park, None if comms is None else comms[1])
        if comms is not None and comms[1] is EventType.COMMS_LOST:
            since: int | None = comms[0]  # unknown since the camera dropped
        else:
            since = int(self._park_ms[i]) if park is not None else None
        source: StateSource = "simulated" if self._park_sim[i] else "observed"
        return StateChange(b.curb_zone_id, state, since, source)

    def apply(self, rows: Iterable[Mapping[str, Any]]) -> list[StateChange]:
        """Apply event rows (any order, repeats allowed); return and announce changes."""
        changes: dict[str, StateChange] = {}
        with self._lock:
            self._counts = None
            for r in rows:
                et, t = _EVENT_TYPES.get(r["event_type"]), int(r["event_time"])
                self.last_updated_ms = max(
                    self.last_updated_ms, int(r.get("event_publication_time") or t)
                )
                if et in PARK_EVENTS:
                    if r.get("lane_zone_id"):
                        continue  # double parking beside the bay: the lane's, not the bay's
                    i = self.index.get(r.get("curb_zone_id") or "")
                    if i is None or t < self._park_ms[i]:
                        continue
                    before = self._effective(i)
                    self._park_code[i] = _CODE_OF_PARK[et]
                    self._park_ms[i] = t
                    self._park_sim[i] = r.get("data_source_type") == "simulated"
                    after = self._effective(i)
                    if after != before:
                        changes[after.curb_zone_id] = after
                elif et in COMMS_EVENTS:
                    dev = r["data_source_device_id"]
                    prev = self._comms.get(dev)
                    if prev is not None and t < prev[0]:
                        continue
                    idx = [i for i, d in enumerate(self._device_of) if d == dev]
                    before_all = [self._effective(i) for i in idx]
                    self._comms[dev] = (t, et)
                    self._offline[idx] = et is EventType.COMMS_LOST
                    for i, before in zip(idx, before_all, strict=True):
                        after = self._effective(i)
                        if after != before:
                            changes[after.curb_zone_id] = after
        out = list(changes.values())
        if out:
            for fn in list(self._listeners):
                fn(out)
        return out

    def state(self, curb_zone_id: str) -> StateChange | None:
        """The state of a bay by ``curb_zone_id``; None for an unknown id."""
        with self._lock:
            i = self.index.get(curb_zone_id)
            return None if i is None else self._effective(i)

    def simulated(self, curb_zone_id: str) -> bool:
        """Whether the bay's current free/occupied state comes from simulated data."""
        with self._lock:
            i = self.index.get(curb_zone_id)
            return i is not None and bool(self._park_sim[i])

    def state_of(self, i: int) -> StateChange:
        """The state of the bay at index ``i`` of ``bays``."""
        with self._lock:
            return self._effective(i)

    def states(self) -> list[StateChange]:
        """The state of every bay, in the order of ``bays``."""
        with self._lock:
            return [self._effective(i) for i in range(len(self.bays))]

    def device_online(self, device_id: str) -> bool:
        """False while the camera's latest comms event is ``comms_lost``; True otherwise (also
        for a camera never heard of).
        """
        with self._lock:
            c = self._comms.get(device_id)
            return c is None or c[1] is not EventType.COMMS_LOST

    def counts(self) -> dict[str, dict[str, int]]:
        """How many bays are in each state, by where the state comes from:
        ``{'observed': {'free': n, 'occupied': n, 'unknown': n}, 'simulated': {...}}``
        (a simulated free bay is not an observed one, so they are never summed).

        Kept until the state changes: ``/health`` and every new stream's ``hello`` ask for
        it, and counting a city's 9,000 bays each time would hold the event loop.
        """
        with self._lock:
            if self._counts is None:
                out = {src: {s.value: 0 for s in BayState} for src in ("observed", "simulated")}
                for s in self.states():
                    out[s.state_source][s.state.value] += 1
                self._counts = out
            return {src: dict(n) for src, n in self._counts.items()}

    # -- queries ---------------------------------------------------------------------

    def in_bbox(self, bbox: BBox) -> list[int]:
        """Indices into ``bays`` of the bays whose point (``lon``, ``lat``) lies in the box
        (WGS84 degrees, edges included), in index order.
        """
        with self._lock:
            return [int(i) for i in np.flatnonzero(bbox.mask(self.lon, self.lat))]

    def _candidates(self, px: float, py: float, radius_m: float) -> npt.NDArray[np.intp] | None:
        """Bays in the grid cells the circle touches; None when a full scan is cheaper."""
        cs = _CELL_M
        x0, x1 = math.floor((px - radius_m) / cs), math.floor((px + radius_m) / cs)
        y0, y1 = math.floor((py - radius_m) / cs), math.floor((py + radius_m) / cs)
        if (x1 - x0 + 1) * (y1 - y0 + 1) > _MAX_CELLS:
            return None
        parts = [
            cell
            for cx in range(x0, x1 + 1)
            for cy in range(y0, y1 + 1)
            if (cell := self._grid.get((cx, cy))) is not None
        ]
        if not parts:
            return np.zeros(0, dtype=np.intp)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _distances(
        self, lat: float, lon: float, radius_m: float
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
        """Indices of bays within ``radius_m`` and their squared distances (any order)."""
        assert self._proj is not None  # callers hold the lock and checked there are bays
        px, py = (float(v[0]) for v in self._proj.to_xy(np.array([lon]), np.array([lat])))
        if not (math.isfinite(px) and math.isfinite(py)):
            # Outside the domain of the bays' local projection (e.g. a pole): no bay is
            # within any radius the API accepts.
            return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.float64)
        cand = self._candidates(px, py, radius_m)
        if cand is None:
            d2 = (self._x - px) ** 2 + (self._y - py) ** 2
            hit = np.flatnonzero(d2 <= radius_m * radius_m)
            return hit, d2[hit]
        d2 = (self._x[cand] - px) ** 2 + (self._y[cand] - py) ** 2
        keep = d2 <= radius_m * radius_m
        return cand[keep], d2[keep]

    def near(
        self, lat: float, lon: float, radius_m: float, limit: int | None = None
    ) -> list[tuple[int, float]]:
        """Bays within ``radius_m`` of a point, nearest first: (index, distance in m)."""
        with self._lock:
            if not self.bays:
                return []
            idx, d2 = self._distances(lat, lon, radius_m)
            order = np.lexsort((idx, d2))  # by distance, then index: deterministic
            if limit is not None:
                order = order[:limit]
            return [(int(idx[k]), math.sqrt(float(d2[k]))) for k in order]

    def free_near(
        self, lat: float, lon: float, radius_m: float, limit: int
    ) -> list[tuple[Bay, float, StateChange]]:
        """Free bays within ``radius_m``, nearest first, at most ``limit``.

        Returns the bays themselves, not indices: the bay list may be replaced (zones
        reloaded) as soon as the lock is released.
        """
        with self._lock:
            if not self.bays:
                return []
            idx, d2 = self._distances(lat, lon, radius_m)
            free = _FREE_BY_CODE[self._park_code[idx]] & ~self._offline[idx]
            idx, d2 = idx[free], d2[free]
            order = np.lexsort((idx, d2))[:limit]
            return [
                (
                    self.bays[idx[k]],
                    math.sqrt(float(d2[k])),
                    StateChange(
                        self.bays[idx[k]].curb_zone_id,
                        BayState.FREE,
                        int(self._park_ms[idx[k]]),
                        "simulated" if self._park_sim[idx[k]] else "observed",
                    ),
                )
                for k in order
            ]


def ended_devices(runs: pd.DataFrame) -> dict[str, int]:
    """Cameras none of whose runs is still going (every run has a footage end and is not
    ``running``): device id -> the latest footage end. Devices without runs (an edge
    analyser pushing events, the simulator) are not in it: they may be live."""
    out: dict[str, int] = {}
    if runs.empty:
        return out
    for dev, g in runs.groupby("device_id", sort=False):
        ends = g["footage_end_ms"]
        if ends.isna().any() or (g["status"].astype(str) == "running").any():
            continue
        out[str(dev)] = int(ends.max())
    return out


class LiveFollower:
    """Keeps a ``LiveIndex`` in step with the database from a background thread."""

    def __init__(self, store: Store, live: LiveIndex, interval_s: float) -> None:
        self.store, self.live, self.interval_s = store, live, interval_s
        self._since_ms = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def load_all(self) -> None:
        """Load every bay and the latest state events from the database (at start); polls
        then read events published from ``_OVERLAP_MS`` before this call on.
        """
        started = now_ms()
        self.reload_zones(force=True)
        self.live.apply(self.store.latest_state_events())
        self.live.set_ended(ended_devices(self.store.runs_frame()))
        self._since_ms = started - _OVERLAP_MS

    def reload_zones(self, *, force: bool = False) -> bool:
        """Reload bays when ``Store.zones_signature`` changed (or ``force``); returns whether
        it reloaded. Unforced, it then re-reads the latest events so that new bays get
        their state (``load_all`` reads them itself).
        """
        sig = self.store.zones_signature()
        if not force and sig == self.live.zones_signature:
            return False
        self.live.set_bays(bays_from_frame(self.store.zones_frame()))
        self.live.zones_signature = sig
        # Bays just added need their state: re-read the latest events once.
        if not force:
            self.live.apply(self.store.latest_state_events())
        return True

    def poll(self) -> int:
        """Apply events published since shortly before the previous poll."""
        started = now_ms()
        self.reload_zones()
        rows = self.store.events_published_since(self._since_ms)
        if rows:
            self.live.apply(rows)
        self.live.set_ended(ended_devices(self.store.runs_frame()))
        self._since_ms = started - _OVERLAP_MS
        return len(rows)

    def start(self) -> None:
        """Start polling every ``interval_s`` seconds in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="live-follower", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll()
            except Exception:  # a transient DB error must not stop live updates
                log.exception("live state refresh failed")

    def stop(self) -> None:
        """Stop polling and wait (up to 5 s) for the thread to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


# What a stream's queue holds when it is time for a keep-alive comment, not a change.
HEARTBEAT: list[StateChange] = []


class Broadcaster:
    """Fans state changes and keep-alive beats out to push-stream clients (one asyncio
    queue each).

    One ticker task serves every stream's heartbeat: every ``TICK_S`` it puts
    ``HEARTBEAT`` in the queues whose beat is due, so a stream is nothing but a wait on
    its queue (no timer, task or disconnect poll of its own). With 500 streams, per-stream
    timers cost the loop more than the streams' writes (issue 14's ``/health`` benchmark).
    Beats are therefore up to ``TICK_S`` late.
    """

    TICK_S = 0.05

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queues: dict[asyncio.Queue[list[StateChange]], tuple[float, float]] = {}
        self._ticker: asyncio.Task[None] | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver on ``loop`` (the server's event loop), from any thread."""
        self._loop = loop

    def subscribe(self, heartbeat_s: float = 15.0) -> asyncio.Queue[list[StateChange]]:
        """A new client's queue of change batches (1,000 batches at most), with
        ``HEARTBEAT`` every ``heartbeat_s`` seconds. Called on the event loop."""
        q: asyncio.Queue[list[StateChange]] = asyncio.Queue(maxsize=1000)
        loop = asyncio.get_running_loop()
        self._queues[q] = (heartbeat_s, loop.time() + heartbeat_s)
        if self._ticker is None or self._ticker.done():
            self._ticker = loop.create_task(self._tick())
        return q

    def unsubscribe(self, q: asyncio.Queue[list[StateChange]]) -> None:
        """Forget a client's queue (it disconnected)."""
        self._queues.pop(q, None)

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queues:
            await asyncio.sleep(self.TICK_S)
            now = loop.time()
            for q, (every, due) in list(self._queues.items()):
                if due <= now and q in self._queues:
                    self._queues[q] = (every, now + every)
                    with contextlib.suppress(asyncio.QueueFull):
                        q.put_nowait(HEARTBEAT)

    def publish(self, changes: list[StateChange]) -> None:
        """Send a batch of changes to every subscribed queue, from any thread; a full queue (a
        client too slow) misses the batch. Does nothing before ``bind``.
        """
        if self._loop is None or self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._deliver, changes)

    def _deliver(self, changes: list[StateChange]) -> None:
        for q in list(self._queues):
            # A client too slow to keep up loses updates rather than memory.
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(changes)
