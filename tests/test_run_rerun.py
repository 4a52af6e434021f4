"""Re-running a finished analysis and stopping it early shrinks nothing (a newcomer's
report: Ctrl-C 11 s into a re-run of a complete 120-s analysis left the run "interrupted"
at 34 s, so 4 of its 5 stored sessions lay outside the recorded coverage and statistics
counted those hours as unobserved).

Real data: a composed kerb scene (real footage, exact truth) analysed to the end into
SQLite, then analysed again and interrupted after a few frames, as Ctrl-C does (a
KeyboardInterrupt raised inside the analysis loop)."""

from __future__ import annotations

from pathlib import Path

import pytest

from occupancy.config.site import load_site
from occupancy.domain.states import RunStatus
from occupancy.evaluation.scenes import ComposedScene, compose_scene, kerb_spec
from occupancy.runtime.analysis import analyse
from occupancy.statistics.hourly import unobserved_intervals
from occupancy.storage.store import Store
from tests.conftest import MODEL, needs_footage
from vision.detector import Detector

pytestmark = needs_footage  # composes scenes from ../shared/footage

STOP_AFTER = 20  # analysed frames of the second attempt before its "Ctrl-C"
FPS = 5.0


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> ComposedScene:
    return compose_scene(kerb_spec("busy", 60.0), tmp_path_factory.mktemp("scene"), seed=0)


def stop_after(n: int):  # type: ignore[no-untyped-def]
    def progress(frames: int, _total: int | None) -> None:
        if frames >= n:
            raise KeyboardInterrupt

    return progress


def test_an_interrupted_rerun_keeps_the_complete_attempts_coverage(
    scene: ComposedScene, tmp_path: Path
) -> None:
    site = load_site(scene.site_path)
    store = Store(f"sqlite:///{tmp_path / 're.db'}")
    detector = Detector.for_site(site, str(MODEL))
    done = analyse(str(scene.video_path), site, store, detector=detector, analysis_fps=FPS)
    before = store.get_run(done.run_id)
    assert before is not None and before.status is RunStatus.COMPLETE
    assert before.footage_end_ms is not None and before.footage_start_ms is not None
    kept = store.sessions_frame()
    # A stop begins after the point where the second attempt will stop: before the fix it
    # then lay outside the recorded coverage.
    stop_ms = before.footage_start_ms + STOP_AFTER / FPS * 1000
    assert (kept["start_ms"] > stop_ms).any(), kept[["start_ms", "end_ms"]]

    with pytest.raises(KeyboardInterrupt):
        analyse(
            str(scene.video_path),
            site,
            store,
            detector=detector,
            analysis_fps=FPS,
            progress=stop_after(STOP_AFTER),
        )
    after = store.get_run(done.run_id)
    assert after is not None and after.attempt == before.attempt + 1
    # The complete attempt's record stands: status, coverage and frame count.
    assert after.status is RunStatus.COMPLETE
    assert after.footage_start_ms == before.footage_start_ms
    assert after.footage_end_ms == before.footage_end_ms
    assert after.frames_analysed == before.frames_analysed
    # The second attempt got no further than STOP_AFTER frames: it is the record, not
    # the interrupted attempt's progress, that covers the whole clip.
    assert (before.frames_analysed or 0) > STOP_AFTER
    # Every stored session still lies inside what the runs say the camera watched, so
    # no observed hour turns unobserved (statistics use exactly these intervals).
    now = store.sessions_frame()
    assert set(now["session_id"]) == set(kept["session_id"])
    gaps = unobserved_intervals(store.runs_frame(), before.footage_start_ms, before.footage_end_ms)
    assert gaps.empty, gaps
    # The ledger says what happened to the second attempt.
    with store.engine.connect() as conn:
        from sqlalchemy import select

        from occupancy.storage.schema import runs

        error = conn.execute(select(runs.c.error)).scalar_one()
    assert "interrupted" in error and f"attempt {before.attempt}" in error

    # Running the same command again to the end is still idempotent.
    again = analyse(str(scene.video_path), site, store, detector=detector, analysis_fps=FPS)
    last = store.get_run(again.run_id)
    assert last is not None and last.status is RunStatus.COMPLETE
    assert last.footage_end_ms == before.footage_end_ms
    assert set(store.sessions_frame()["session_id"]) == set(kept["session_id"])
    store.close()
