"""Whose address a request has: the app decides, whatever server runs it.

``baywatch serve`` starts uvicorn with its proxy headers off, but the app can also be
started as ``uvicorn --factory api.app:app_from_env``, and uvicorn's default there is
to believe ``X-Forwarded-For`` from 127.0.0.1 (``--forwarded-allow-ips``): it rewrites
``scope["client"]`` to the header's address *before* the app runs. Any local process,
or a proxy that forwards what it is sent, could then choose its address and escape the
per-address rate limits and stream caps.

``UnvouchedForwarding`` is the app's outermost layer. A request that carries
``X-Forwarded-For`` and whose client address is one of that header's entries was
rewritten by the server from a header the app cannot vouch for (the real peer is gone
from the scope). Such a request gets the address ``UNVOUCHED`` instead: all of them
share one client's limits, so rotating the header buys nothing. The operator is told
once, in the log, how to fix the deployment. Behind a real proxy, the app's own
``ProxyHeadersMiddleware`` (``api_trusted_proxies``, inside this layer) reads the header
from the proxy's connection, which the server left untouched.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

# Not an IP address, so no trusted-proxy list can ever match it.
UNVOUCHED = "unvouched-forwarded-for"


def _forwarded_hosts(value: str) -> set[str]:
    """Host parts of an ``X-Forwarded-For`` value (``a, b:port, [v6]:port``)."""
    hosts = set()
    for item in value.split(","):
        item = item.strip()
        if item.startswith("["):
            item = item[1 : item.find("]")] if "]" in item else item
        elif item.count(":") == 1:
            item = item.rsplit(":", 1)[0]
        hosts.add(item)
    return hosts


class UnvouchedForwarding:
    """ASGI middleware: a client address the server took from ``X-Forwarded-For`` becomes
    ``UNVOUCHED`` (see module doc). Other requests pass unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.warned = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Replace a server-rewritten client address, then call the app."""
        client = scope.get("client")
        if scope["type"] in ("http", "websocket") and client:
            forwarded = [v for k, v in scope["headers"] if k == b"x-forwarded-for"]
            if forwarded and client[0] in _forwarded_hosts(b",".join(forwarded).decode("latin-1")):
                scope["client"] = (UNVOUCHED, 0)
                if not self.warned:
                    self.warned = True
                    log.warning(
                        "the server took a client address from X-Forwarded-For, which baywatch "
                        "cannot check: such requests share one client's limits. Run uvicorn "
                        "with --no-proxy-headers (`baywatch serve` does) and list the proxies "
                        "in BAYWATCH_API_TRUSTED_PROXIES"
                    )
        await self.app(scope, receive, send)
