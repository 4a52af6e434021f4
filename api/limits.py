"""Limits every request meets before the application reads a byte of its body.

``RequestGuard`` is a pure ASGI middleware (no request object, nothing buffered):

* A request that carries a body (``Content-Length`` > 0 or ``Transfer-Encoding``) must
  carry a valid API key: every endpoint that takes a body is a protected one, so an
  anonymous upload is refused with 401 before anything is read.
* A declared ``Content-Length`` over the limit is refused with 413 at once; a streamed
  (chunked) body is counted while it arrives and cut with 413 when it passes the limit.
  The limit is ``api_max_body_bytes``, except footage uploads (``PUT /jobs/uploads``),
  limited by ``api_max_upload_bytes``.
* A client that stops sending its body for ``api_body_timeout_s`` gets 408.

Headers that never finish are cut by the server itself (``api.server``), before any
ASGI application runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Iterable
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.cds import error_body
from api.state import ApiState

log = logging.getLogger(__name__)

UPLOAD_PATH = "/jobs/uploads"


class BodyRefused(StarletteHTTPException):
    """A body over its limit (413) or too slow (408); raised from ``receive``."""


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope["headers"]:
        if k == name:
            return str(v.decode("latin-1"))
    return None


async def _answer(
    send: Send, status: int, description: str, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    body = error_body(status, description)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """Body size, body time and key checks in front of the application (see module doc)."""

    def __init__(self, app: ASGIApp, state: ApiState) -> None:
        self.app, self.state = app, state

    def limit_for(self, scope: Scope) -> int:
        """The body limit, in bytes, of this request's route."""
        s = self.state.settings
        if scope["method"] == "PUT" and scope["path"].rstrip("/") == UPLOAD_PATH:
            return s.api_max_upload_bytes
        return s.api_max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse (401, 413, 400) or pass on with a counting, timed ``receive``."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        chunked = _header(scope, b"transfer-encoding") is not None
        length: int | None = None
        if declared is not None:
            if not (declared.isascii() and declared.strip().isdigit()):
                await _answer(send, 400, f"Content-Length {declared!r} is not a byte count")
                return
            length = int(declared)
        if not chunked and not length:
            await self.app(scope, receive, send)  # no body to guard
            return
        auth = _header(scope, b"authorization")
        scheme, _, token = (auth or "").partition(" ")
        if scheme.lower() != "bearer" or self.state.keys.verify(token.strip()) is None:
            why = (
                "unknown or revoked API key"
                if auth and scheme.lower() == "bearer"
                else "a request with a body needs an API key (Authorization: Bearer <key>)"
            )
            await _answer(send, 401, why, [(b"www-authenticate", b"Bearer")])
            return
        limit = self.limit_for(scope)
        if length is not None and length > limit:
            await _answer(
                send, 413, f"request body of {length} bytes exceeds the limit of {limit} bytes"
            )
            return
        await self._guarded(scope, receive, send, limit)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        timeout = self.state.settings.api_body_timeout_s
        received = 0
        body_done = False
        started = False

        async def guarded_receive() -> Message:
            nonlocal received, body_done
            if body_done:  # later receives wait for a disconnect: no timeout there
                return await receive()
            try:
                msg = await asyncio.wait_for(receive(), timeout)
            except TimeoutError:
                raise BodyRefused(408, f"no request body data for {timeout:g} s") from None
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > limit:
                    raise BodyRefused(413, f"request body exceeds the limit of {limit} bytes")
                body_done = not msg.get("more_body", False)
            return msg

        async def tracked_send(msg: Message) -> None:
            nonlocal started
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        try:
            await self.app(scope, guarded_receive, tracked_send)
        except BodyRefused as exc:
            if started:
                raise
            await _answer(send, exc.status_code, str(exc.detail))


class StreamRefused(Exception):
    """No slot for another event stream; ``status`` 429 (this client) or 503 (the service)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class StreamSlots:
    """Counts of open event streams: per API key, per anonymous address, in total.

    A keyed caller is counted against its key (``per_key``), an anonymous one against
    its address (``per_address``); everyone shares ``total``. ``acquire`` either takes
    a slot or raises ``StreamRefused`` naming the cap; ``release`` gives it back.
    Only the event loop calls these, so no lock is needed.
    """

    def __init__(self, total: int, per_key: int, per_address: int) -> None:
        self.total, self.per_key, self.per_address = total, per_key, per_address
        self.open = 0
        self._by_client: dict[str, int] = {}

    def acquire(self, key_id: str | None, address: str) -> str:
        """Take a slot; returns the client name to ``release``. Raises ``StreamRefused``."""
        client = f"key:{key_id}" if key_id is not None else f"addr:{address}"
        cap = self.per_key if key_id is not None else self.per_address
        if self._by_client.get(client, 0) >= cap:
            who = f"API key {key_id!r}" if key_id is not None else f"address {address}"
            raise StreamRefused(429, f"{who} already has {cap} open event streams (the cap)")
        if self.open >= self.total:
            raise StreamRefused(503, f"the service has {self.total} open event streams (the cap)")
        self.open += 1
        self._by_client[client] = self._by_client.get(client, 0) + 1
        return client

    def release(self, client: str) -> None:
        """Give back a slot ``acquire`` took."""
        self.open -= 1
        n = self._by_client.get(client, 1) - 1
        if n > 0:
            self._by_client[client] = n
        else:
            self._by_client.pop(client, None)


class _SlowClient(Exception):
    pass


class EventStreamResponse(StreamingResponse):
    """A ``text/event-stream`` answer whose every write must complete in ``write_timeout_s``.

    The server's write waits while the client's socket buffer is full; a client that
    stops reading would hold its connection, its slot and its queue for ever. Past the
    timeout the stream ends (the client may reconnect, within the caps).
    """

    def __init__(self, content: AsyncIterable[bytes], write_timeout_s: float, **kw: Any) -> None:
        super().__init__(content, media_type="text/event-stream", **kw)
        self.write_timeout_s = write_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream the events; end quietly when a write times out."""

        async def timed_send(msg: Message) -> None:
            # asyncio.timeout arms one timer; wait_for (Python 3.11) would start a task
            # per write, for every write of every stream.
            try:
                async with asyncio.timeout(self.write_timeout_s):
                    await send(msg)
            except TimeoutError:
                raise _SlowClient from None

        try:
            await super().__call__(scope, receive, timed_send)
        except _SlowClient:
            log.info("event stream closed: client read nothing for %g s", self.write_timeout_s)
        except BaseExceptionGroup as group:  # anyio's task group wraps what it raises
            rest = group.subgroup(lambda e: not isinstance(e, _SlowClient))
            if rest is not None:
                raise rest from None
        finally:
            # A write that raised leaves the generator suspended, not closed: close it now,
            # so that its ``finally`` gives back the stream's slot and queue.
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                await close()
