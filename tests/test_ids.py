"""Ids baywatch makes: deterministic ones (``stable_id``) and time-ordered ones (UUIDv7)."""

from __future__ import annotations

import time
import uuid

from occupancy.domain.records import stable_id, time_ordered_id


def test_time_ordered_ids_are_uuid7_in_creation_order() -> None:
    before_ms = time.time_ns() // 1_000_000
    ids = [time_ordered_id() for _ in range(5000)]  # thousands per millisecond: the counter
    after_ms = time.time_ns() // 1_000_000
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for text in (ids[0], ids[-1]):
        u = uuid.UUID(text)
        assert u.version == 7 and u.variant == uuid.RFC_4122
        assert before_ms <= u.int >> 80 <= after_ms + 2  # ms field (a burst may borrow ahead)


def test_stable_ids_depend_only_on_their_parts() -> None:
    assert stable_id("zone", 1) == stable_id("zone", "1")
    assert stable_id("zone", 1) != stable_id("zone", 2)
    assert uuid.UUID(stable_id("a")).version == 5
