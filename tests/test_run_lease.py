"""Two processes analysing the same footage into one SQLite file cannot destroy each
other's work: the run's lease refuses a second attempt while the first runs, and an
attempt taken over after its lease lapsed neither writes nor deletes any more."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path
from typing import Any

import pytest

from occupancy.domain.records import OccupancySession, SessionKind, VehicleType
from occupancy.domain.states import RunStatus
from occupancy.storage.store import RunBusyError, Store

RUN = "run-of-one-clip"
CTX = mp.get_context("spawn")  # a fresh interpreter, like a second operator's process


def session(sid: str) -> OccupancySession:
    return OccupancySession(
        session_id=sid,
        kind=SessionKind.PARK,
        data_source_device_id="cam",
        start_ms=1_000,
        end_ms=9_000,
        vehicle_type=VehicleType.CAR,
        run_id=RUN,
    )


def begin(store: Store) -> int:
    return store.begin_run(
        RUN, device_id="cam", source="clip.mp4", live=False, footage_start_ms=0, settings={}
    )


def first_attempt(url: str, lease_s: float, started: Any, go: Any, report: Any) -> None:
    store = Store(url)
    store.lease_s = lease_s
    attempt = begin(store)
    store.write_batch([], [session("a")], attempt=attempt, run_progress=(RUN, 5_000, 10))
    started.set()
    go.wait(30)
    try:
        store.write_batch([], [session("a2")], attempt=attempt, run_progress=(RUN, 9_000, 20))
        report.put("wrote")
    except RunBusyError as exc:
        report.put(f"refused: {exc}")
    store.finish_run(
        RUN, attempt, status=RunStatus.COMPLETE, footage_end_ms=9_000, frames_analysed=20
    )
    report.put("finished")


def start_first(url: str, lease_s: float) -> tuple[Any, Any, Any, Any]:
    started, go, report = CTX.Event(), CTX.Event(), CTX.Queue()
    proc = CTX.Process(target=first_attempt, args=(url, lease_s, started, go, report))
    proc.start()
    assert started.wait(60), "the first process did not start its run"
    return proc, go, report, started


def sessions_of(url: str) -> list[str]:
    return sorted(Store(url).sessions_frame().session_id)


def test_a_second_attempt_is_refused_while_the_first_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    proc, go, report, _ = start_first(url, lease_s=60)
    with pytest.raises(RunBusyError, match=r"clip.mp4\) is being analysed by another process"):
        begin(Store(url))
    go.set()
    proc.join(60)
    assert [report.get(timeout=5), report.get(timeout=5)] == ["wrote", "finished"]
    # The first attempt's work is all there; nobody deleted it.
    assert sessions_of(url) == ["a", "a2"]
    run = Store(url).get_run(RUN)
    assert run is not None and (run.attempt, run.status) == (1, "complete")
    # Once it has finished, running again is allowed and replaces it.
    store = Store(url)
    attempt = begin(store)
    assert attempt == 2
    store.write_batch([], [session("b")], attempt=attempt, run_progress=(RUN, 9_000, 20))
    store.finish_run(
        RUN, attempt, status=RunStatus.COMPLETE, footage_end_ms=9_000, frames_analysed=20
    )
    assert sessions_of(url) == ["b"]


def test_an_attempt_taken_over_after_its_lease_lapsed_deletes_nothing_newer(
    tmp_path: Path,
) -> None:
    import time

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    proc, go, report, _ = start_first(url, lease_s=0.5)
    time.sleep(1.0)  # the first process stalls past its lease (as if it had died)
    store = Store(url)
    attempt = begin(store)
    assert attempt == 2
    store.write_batch([], [session("b")], attempt=attempt, run_progress=(RUN, 9_000, 20))
    go.set()  # the stalled first attempt wakes up and tries to write, then to complete
    proc.join(60)
    first = [report.get(timeout=5), report.get(timeout=5)]
    assert first[0].startswith("refused: ") and "taken over" in first[0]
    assert first[1] == "finished"
    # Its completion deleted nothing of attempt 2 and did not close attempt 2's run.
    assert sessions_of(url) == ["a", "b"]
    run = store.get_run(RUN)
    assert run is not None and (run.attempt, run.status) == (2, "running")
    store.finish_run(
        RUN, attempt, status=RunStatus.COMPLETE, footage_end_ms=9_000, frames_analysed=20
    )
    assert sessions_of(url) == ["b"]
