"""Decode ahead: a source's frames produced in a thread, handed over through a bounded queue.

Decoding (PyAV/FFmpeg, OpenCV) and inference (OpenVINO, torch) release the GIL, so a
decode thread keeps one core busy with the next frames while the detector runs on the
current one. The queue is bounded so a slow consumer holds at most ``depth`` decoded
frames (a 720p BGR frame is 2.8 MB). Order, content and the source's end-of-footage
state (``truncated``) are exactly those of iterating the source directly.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_DEPTH = 8  # enough to ride over a whole-GOP decode burst; 22 MB of 720p frames
_END = object()


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def prefetched(
    items: Iterable[T], depth: int = DEFAULT_DEPTH, *, name: str = "decode-ahead"
) -> Generator[T, None, None]:
    """Iterate ``items`` in a background thread, at most ``depth`` items ahead.

    An exception raised by ``items`` is re-raised here, in the consumer, at the point
    the items before it have been consumed. Closing this generator early (break, an
    exception in the consumer, KeyboardInterrupt) stops the thread and closes ``items``.
    """
    if depth <= 0:
        yield from items
        return
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(obj: object) -> bool:
        while not stop.is_set():
            try:
                q.put(obj, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        it = iter(items)
        try:
            for obj in it:
                if not put(obj):
                    break
            else:
                put(_END)
        except BaseException as exc:  # handed to the consumer, which decides
            put(_Failed(exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            obj = q.get()
            if obj is _END:
                break
            if isinstance(obj, _Failed):
                raise obj.exc
            yield obj  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()
