"""uvicorn, configured for an open network: header timeout, no implicit proxy trust.

uvicorn cuts an idle keep-alive connection, but a client that sends its request
headers one byte at a time ("slowloris") resets that timer with every byte and holds
its connection for ever. ``HeaderTimeoutProtocol`` gives every request
``api_header_timeout_s`` from its first byte (or from the connection's opening) to
the end of its headers, then closes the connection. Request bodies are timed by
``api.limits.RequestGuard``, event-stream writes by ``api.limits.EventStreamResponse``.

uvicorn believes ``X-Forwarded-For`` from 127.0.0.1 by default, so any local process
(or a proxy forwarding whatever it is sent) could choose its address and escape the
per-address limits: ``serve`` turns that off; ``api.app`` trusts only
``api_trusted_proxies``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from occupancy.config.settings import Settings


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on each request's headers."""

    header_timeout_s: float = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.logger.info(
                "closing a connection whose request headers took over %gs", self.header_timeout_s
            )
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """A new connection: its first request's headers are timed from now."""
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        """A request begins: its headers are timed from now."""
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        """Headers in time: the deadline is lifted."""
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        """Between requests the keep-alive timeout applies, not this one."""
        self._disarm()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        """No deadline outlives its connection."""
        self._disarm()
        super().connection_lost(exc)


def protocol_for(settings: Settings) -> type[HeaderTimeoutProtocol]:
    """The protocol class with ``api_header_timeout_s`` (uvicorn takes a class)."""
    return type(
        "HeaderTimeoutProtocol",
        (HeaderTimeoutProtocol,),
        {"header_timeout_s": settings.api_header_timeout_s},
    )


def server_config(
    app: FastAPI, settings: Settings, host: str, port: int, **kw: Any
) -> uvicorn.Config:
    """The uvicorn configuration ``baywatch serve`` (and the limits benchmark) runs."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol_for(settings),
        proxy_headers=False,
        server_header=False,
        timeout_keep_alive=5,
        **kw,
    )
