"""Who may call what: bearer API keys with scopes, and a rate limit on public endpoints.

No key or an unknown/revoked key on a protected endpoint: 401 (with
``WWW-Authenticate: Bearer``). A valid key without the needed scope: 403. Public
endpoints need no key; anonymous callers are rate limited per client IP, callers
with a valid key are not.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.keys import Principal, Scope
from api.state import ApiState, get_state, state_of

bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer bw_...`")


class RateLimiter:
    """Token bucket per client: ``rate`` requests/s sustained, ``burst`` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, client: str) -> float:
        """0 if the request may pass, else seconds until it would."""
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
    wait = state.limiter.check(client)
    if wait > 0:
        raise HTTPException(
            status_code=429,
            detail=f"rate limit of {state.settings.api_rate_limit_per_s:g} requests/s exceeded",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
