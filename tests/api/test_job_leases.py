"""Job leases over time (issue 14): a long job keeps its lease; a dead server's lapses once.

Each `JobQueue` below has its own `Store` (its own connections), as separate server
processes would; SQLite, then PostgreSQL where configured.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from api.jobs import JobQueue, Progress
from occupancy.storage.store import Store
from tests.api.test_jobs import SITE

LEASE_S = 1.0


def test_a_job_longer_than_its_lease_keeps_it(store_url: str) -> None:
    runs = []

    def long_job(
        source: str, site: Mapping[str, Any], store: Store, progress: Progress
    ) -> Mapping[str, Any]:
        runs.append(source)
        time.sleep(3.5 * LEASE_S)  # three and a half leases: only renewals keep it
        return {"ok": True}

    worker = JobQueue(Store(store_url), {"footage": long_job}, lease_s=LEASE_S)
    rival = JobQueue(Store(store_url), {"footage": long_job}, lease_s=LEASE_S)
    job = worker.submit("https://example.org/long.mp4", SITE)
    finished: list[Any] = []
    t = threading.Thread(target=lambda: finished.append(worker.run_one()))
    t.start()
    while worker.get(job.job_id).status == "queued":  # type: ignore[union-attr]
        time.sleep(0.01)  # the worker claims it first; from then on it must keep it
    stolen = []
    while t.is_alive():  # the other server keeps trying to take work all along
        taken = rival.claim()
        if taken is not None:
            stolen.append(taken.job_id)
        time.sleep(0.05)
    t.join()
    assert stolen == []
    assert runs == ["https://example.org/long.mp4"]
    assert finished[0].job_id == job.job_id and finished[0].status == "done"


def test_a_dead_servers_job_is_taken_over_exactly_once(store_url: str) -> None:
    dead = JobQueue(Store(store_url), {}, lease_s=LEASE_S)
    job = dead.submit("https://example.org/orphan.mp4", SITE)
    assert dead.claim().job_id == job.job_id  # type: ignore[union-attr]  # then it dies
    survivors = [JobQueue(Store(store_url), {}, lease_s=10.0) for _ in range(4)]
    start = threading.Barrier(len(survivors))
    taken: list[tuple[int, str]] = []

    def poll(i: int) -> None:
        start.wait()
        end = time.monotonic() + 3 * LEASE_S
        while time.monotonic() < end:
            j = survivors[i].claim()
            if j is not None:
                taken.append((i, j.job_id))
            time.sleep(0.01)

    threads = [threading.Thread(target=poll, args=(i,)) for i in range(len(survivors))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(taken) == 1 and taken[0][1] == job.job_id  # once, by one of the four
    holder = survivors[taken[0][0]]
    assert holder.get(job.job_id).status == "running"  # type: ignore[union-attr]
