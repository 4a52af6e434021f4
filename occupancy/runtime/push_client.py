"""Push client an edge analyser uses to send its events and sessions to the server.

Every batch is first written to the spool directory (atomically: temp file, then
rename), then a background thread posts spooled batches in order to
``POST {url}/ingest/batch`` and deletes each once the server acknowledged it. While
the server is unreachable or failing (connection error, timeout, 5xx, 429) the thread
retries with exponential backoff and full jitter (``tenacity``), waiting at least what
the server's ``Retry-After`` asks (seconds or an HTTP date, at most
``RETRY_AFTER_MAX_S``); batches stay on disk, so a crash of either side loses nothing,
and a restarted client resumes the spool it finds. A server refusing the key (401,
403), or a URL with no ingest endpoint (404, 405: a typo), stops the sender with one
logged line (``stopped`` says why): retrying cannot
help until an operator fixes the key or URL, and the spool is kept for the next run. The server stores
by ``event_id``/``session_id``, so a batch re-sent after a lost acknowledgement is
not doubled. A batch the server rejects as invalid (other 4xx) is moved to
``rejected/`` with the server's answer, never retried forever, never deleted.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
from tenacity import RetryCallState, Retrying, retry_if_result, wait_random_exponential

from occupancy.domain.records import CurbEvent, OccupancySession
from occupancy.runtime.wire import event_json, session_json

log = logging.getLogger(__name__)

_RETRYABLE = {408, 425, 429, 500, 502, 503, 504}
_KEY_REFUSED = {401, 403}
# No ingest endpoint at that URL (a typo in --push): every batch would fail alike, so this is
# the setup's fault, not a batch's; stop as for a refused key, keeping the whole spool.
_NO_ENDPOINT = {404, 405}
# A server asking for more than this is probably misconfigured; the spool waits anyway.
RETRY_AFTER_MAX_S = 600.0


@dataclass(frozen=True, slots=True)
class _Outcome:
    kind: str  # done | rejected | retry | stop
    retry_after_s: float = 0.0


def retry_after_s(value: str | None, now: float | None = None) -> float:
    """Seconds a ``Retry-After`` header asks for (RFC 9110 §10.2.3); 0 if absent or bad."""
    if not value:
        return 0.0
    value = value.strip()
    if value.isdigit():
        return min(float(value), RETRY_AFTER_MAX_S)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    left = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, min(left, RETRY_AFTER_MAX_S))


class PushClient:
    """Reliable, ordered, at-least-once delivery; exactly-once storage thanks to ids."""

    def __init__(
        self,
        url: str,
        api_key: str | None,
        spool_dir: Path,
        *,
        timeout_s: float = 10.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.endpoint = url.rstrip("/") + "/ingest/batch"
        self.spool_dir = Path(spool_dir)
        self.rejected_dir = self.spool_dir / "rejected"
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(timeout=timeout_s, headers=headers)
        self.backoff_initial_s, self.backoff_max_s = backoff_initial_s, backoff_max_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self.sent_batches = 0
        self.stopped: str | None = None  # why the sender gave up (a refused key), if it did
        self._jitter = wait_random_exponential(multiplier=backoff_initial_s, max=backoff_max_s)
        self._thread = threading.Thread(target=self._run, name="push-client", daemon=True)
        self._thread.start()
        if self.pending():  # resume what an earlier process left behind
            self._wake.set()

    # -- public --------------------------------------------------------------------

    def send(self, events: Sequence[CurbEvent], sessions: Sequence[OccupancySession]) -> None:
        """Spool one batch for delivery; returns at once (does not wait for the server)."""
        if not events and not sessions:
            return
        body = {
            "events": [event_json(e) for e in events],
            "sessions": [session_json(s) for s in sessions],
        }
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
        tmp = self.spool_dir / f".{name}.tmp"
        tmp.write_text(json.dumps(body, separators=(",", ":")))
        os.replace(tmp, self.spool_dir / name)
        self._wake.set()

    def pending(self) -> list[Path]:
        """Spooled batches not yet accepted by the server, oldest first."""
        return sorted(self.spool_dir.glob("*.json"))

    def flush(self, timeout_s: float) -> bool:
        """Wait until every spooled batch is delivered; False if time ran out first."""
        deadline = time.monotonic() + timeout_s
        self._wake.set()
        with self._idle:
            while self.pending() and self.stopped is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.1))
        return not self.pending()

    def close(self, flush_timeout_s: float = 10.0) -> None:
        """Deliver what it can within ``flush_timeout_s``, then stop.

        Batches still undelivered stay spooled; a later client on the same spool
        directory sends them.
        """
        if (
            flush_timeout_s > 0
            and self.pending()
            and self.stopped is None
            and not self.flush(flush_timeout_s)
        ):
            log.warning(
                "%d batch(es) not yet delivered to %s; kept in %s for the next run",
                len(self.pending()),
                self.endpoint,
                self.spool_dir,
            )
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=self._http.timeout.read or 10.0)
        self._http.close()

    def __enter__(self) -> PushClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- sender thread ---------------------------------------------------------------

    def _wait(self, state: RetryCallState) -> float:
        """Full-jitter backoff, but never sooner than the server's Retry-After."""
        asked = state.outcome.result().retry_after_s if state.outcome else 0.0
        return max(float(self._jitter(state)), asked)

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)  # close() interrupts a wait

    def _deliver(self, path: Path) -> _Outcome:
        retrying = Retrying(
            retry=retry_if_result(lambda o: o.kind == "retry" and not self._stop.is_set()),
            wait=self._wait,
            sleep=self._sleep,
        )
        outcome: _Outcome = retrying(self._post, path)
        return outcome

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            for path in self.pending():
                if self._stop.is_set():
                    return
                if self._deliver(path).kind == "stop":
                    self._stop.set()
                    break
            with self._idle:
                self._idle.notify_all()
        with self._idle:
            self._idle.notify_all()

    def _post(self, path: Path) -> _Outcome:
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            return _Outcome("done")
        try:
            resp = self._http.post(
                self.endpoint, content=content, headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:
            log.info("push to %s failed (%s); will retry", self.endpoint, exc)
            return _Outcome("retry")
        if resp.status_code in _KEY_REFUSED:
            self.stopped = (
                f"{self.endpoint} refused the API key (HTTP {resp.status_code}); "
                f"pushing stopped, {len(self.pending())} batch(es) kept in {self.spool_dir}"
            )
            log.error("%s", self.stopped)
            return _Outcome("stop")
        if resp.status_code in _NO_ENDPOINT:
            self.stopped = (
                f"{self.endpoint} is not a baywatch ingest endpoint (HTTP {resp.status_code});"
                f" check --push; pushing stopped, {len(self.pending())} batch(es) kept in"
                f" {self.spool_dir}"
            )
            log.error("%s", self.stopped)
            return _Outcome("stop")
        if resp.status_code in _RETRYABLE:
            after = retry_after_s(resp.headers.get("retry-after"))
            log.info("push to %s answered %d; will retry", self.endpoint, resp.status_code)
            return _Outcome("retry", after)
        if resp.is_success:
            path.unlink(missing_ok=True)
            self.sent_batches += 1
            return _Outcome("done")
        self.rejected_dir.mkdir(exist_ok=True)
        os.replace(path, self.rejected_dir / path.name)
        (self.rejected_dir / (path.name + ".error.txt")).write_text(
            f"HTTP {resp.status_code}\n{resp.text}\n"
        )
        log.error(
            "server rejected batch %s (HTTP %d); kept in %s",
            path.name,
            resp.status_code,
            self.rejected_dir,
        )
        return _Outcome("rejected")
