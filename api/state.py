"""Everything one running service shares between requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request

from occupancy.config.settings import Settings
from occupancy.storage.store import Store

if TYPE_CHECKING:
    from api.curbs_model import Area
    from api.jobs import JobQueue
    from api.keys import KeyStore
    from api.limits import StreamSlots
    from api.live import Broadcaster, LiveFollower, LiveIndex
    from api.profiles import Profiles
    from api.security import RateLimiter


@dataclass
class ApiState:
    """Everything the service holds: settings, store, API keys, the live index with its
    follower and broadcaster, the rate limiter, profiles and the job queue."""

    settings: Settings
    store: Store
    keys: KeyStore
    live: LiveIndex
    follower: LiveFollower
    broadcaster: Broadcaster
    limiter: RateLimiter
    profiles: Profiles
    jobs: JobQueue
    streams: StreamSlots
    stream_opens: RateLimiter
    _areas: tuple[tuple[int, int], dict[str, Area]] | None = field(default=None, repr=False)

    def areas(self) -> dict[str, Area]:
        """Curb areas of the current bays, rebuilt only when the zones change."""
        from api.curbs_model import build_areas

        sig = self.live.zones_signature
        if self._areas is None or self._areas[0] != sig:
            self._areas = (sig, build_areas(self.live.bays))
        return self._areas[1]

    def envelope_args(self) -> dict[str, Any]:
        """The CDS envelope's ``time_zone`` and ``last_updated`` (latest event or zone change, ms)."""
        return {
            "time_zone": self.settings.api_time_zone,
            "last_updated": max(self.live.last_updated_ms, self.live.zones_signature[1]),
        }


def state_of(request: Request) -> ApiState:
    """The ``ApiState`` of the app serving ``request``."""
    state: ApiState = request.app.state.api
    return state


async def get_state(request: Request) -> ApiState:
    """Dependency; ``async`` because a plain def would cost a thread-pool hop per request."""
    return state_of(request)
