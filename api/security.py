"""Who may call what: bearer API keys with scopes, and a rate limit on public endpoints.

No key or an unknown/revoked key on a protected endpoint: 401 (with
``WWW-Authenticate: Bearer``). A valid key without the needed scope: 403. Public
endpoints need no key; anonymous callers are rate limited per client IP, callers
with a valid key are not.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable

import anyio.to_thread
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from api.keys import Principal, Scope
from api.state import ApiState, get_state, state_of
from occupancy.storage.rate_limits import forget_full_buckets, take_token

log = logging.getLogger(__name__)

bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer bw_...`")


class RateLimiter:
    """Token bucket per client: ``rate`` requests/s sustained, ``burst`` at once.

    ``check`` counts in this process only. ``acquire`` counts across every process
    serving the database when the limiter has an ``engine`` (``create_app`` gives it one
    unless the database is private to this process, an in-memory SQLite): a request
    needs a token from this process's bucket *and* from the shared bucket in the
    database (``occupancy.storage.rate_limits``), which costs one upsert in a worker
    thread. A refusal costs nothing: this process's bucket is charged only for the
    requests the shared one let through (a shared refusal is refunded here), so it has
    seen a subset of what the shared bucket has and is never emptier; when it is empty,
    so is the shared one. A flood is therefore refused without touching the database.
    When the database cannot be written, this process's bucket alone decides (logged).
    """

    SWEEP_S = 60.0  # how often the database forgets buckets that have refilled

    def __init__(
        self, rate: float, burst: int, *, name: str = "public", engine: Engine | None = None
    ) -> None:
        self.rate, self.burst, self.name, self.engine = rate, burst, name, engine
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def check(self, client: str) -> float:
        """This process's bucket: 0 if the request may pass, else seconds until it would."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            if len(self._buckets) > 100_000:  # forget idle clients rather than grow
                self._buckets.clear()
            return (1.0 - tokens) / self.rate

    async def acquire(self, client: str) -> float:
        """0 if the request may pass (here and in the shared bucket), else seconds until it would."""
        wait = self.check(client)
        if wait > 0 or self.engine is None or self.rate <= 0:
            return wait
        try:
            wait = await anyio.to_thread.run_sync(self._take_shared, client)
        except SQLAlchemyError as exc:
            log.warning("shared rate limit unavailable, counting in this process: %s", exc)
            return 0.0
        if wait > 0:
            with self._lock:  # refund: the request did not pass
                tokens, last = self._buckets.get(client, (0.0, time.monotonic()))
                self._buckets[client] = (min(float(self.burst), tokens + 1.0), last)
        return wait

    def _take_shared(self, client: str) -> float:
        assert self.engine is not None
        now = time.time()
        if now >= self._next_sweep:
            self._next_sweep = now + self.SWEEP_S
            forget_full_buckets(self.engine, f"{self.name}:", self.rate, self.burst)
        return take_token(self.engine, f"{self.name}:{client}", self.rate, self.burst, now)


def _unauthorized(msg: str) -> HTTPException:
    return HTTPException(status_code=401, detail=msg, headers={"WWW-Authenticate": "Bearer"})


async def current_principal(
    request: Request,
    creds: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> Principal | None:
    """The caller's key, None if it sent none; 401 if it sent one that is not valid.

    Dependencies here are ``async`` so that the hot public endpoints never pay a
    thread-pool hop; a key is checked against the database at most every few
    seconds (``KeyStore.CACHE_S``), so this does not block the loop in practice.
    """
    if creds is None:
        if request.headers.get("authorization"):
            raise _unauthorized("the Authorization header must read 'Bearer <api key>'")
        return None
    principal = state_of(request).keys.verify(creds.credentials)
    if principal is None:
        raise _unauthorized("unknown or revoked API key")
    return principal


def require(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits a key with ``scope`` (401 without a key, 403 without the scope)."""

    async def dep(principal: Principal | None = Depends(current_principal)) -> Principal:
        if principal is None:
            raise _unauthorized(f"this endpoint needs an API key with scope {scope.value!r}")
        if not principal.allows(scope):
            raise HTTPException(
                status_code=403,
                detail=f"API key {principal.key_id!r} lacks scope {scope.value!r}",
            )
        return principal

    return dep


async def public(
    request: Request,
    principal: Principal | None = Depends(current_principal),
    state: ApiState = Depends(get_state),
) -> None:
    """Dependency of public endpoints: rate limit anonymous callers."""
    if principal is not None:
        return
    client = request.client.host if request.client else "unknown"
    wait = await state.limiter.acquire(client)
    if wait > 0:
        raise HTTPException(
            status_code=429,
            detail=f"rate limit of {state.settings.api_rate_limit_per_s:g} requests/s exceeded",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
