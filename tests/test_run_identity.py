"""A run is named by its footage's content: a copied or touched file is the same run,
re-analysed (its rows replaced), never stored a second time; with no start time known,
the clock used is said in the run record."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sqlalchemy import select

from occupancy.config.site import load_site
from occupancy.runtime.analysis import analyse
from occupancy.storage.schema import runs
from occupancy.storage.store import Store
from tests.conftest import needs_footage
from tests.scale.composed import compose, site_yaml

pytestmark = needs_footage


def test_a_copied_and_touched_file_is_not_stored_twice(tmp_path: Path, detector_factory) -> None:  # type: ignore[no-untyped-def]
    video = compose(tmp_path / "stops.mp4")
    text = "\n".join(ln for ln in site_yaml(video).splitlines() if "start_time" not in ln)
    site_path = tmp_path / "site.yaml"
    site_path.write_text(text + "\n")
    site = load_site(site_path)
    assert site.source.start_time is None
    det = detector_factory(tuple(site.detector.classes))
    store = Store(f"sqlite:///{tmp_path / 'runs.db'}")

    first = analyse(str(video), site, store, detector=det)
    copy = tmp_path / "copy-of-stops.mp4"
    shutil.copy(video, copy)
    later = video.stat().st_mtime + 3600
    os.utime(copy, (later, later))  # copied and touched: another modification time
    second = analyse(str(copy), site, store, detector=det)

    assert first.clock == second.clock == "file_mtime"
    assert len(first.sessions) == len(second.sessions) >= 2
    assert first.run_id == second.run_id
    with store.engine.connect() as conn:
        rows = conn.execute(select(runs.c.run_id, runs.c.attempt, runs.c.settings)).all()
    assert len(rows) == 1 and rows[0].attempt == 2
    assert rows[0].settings["clock"] == "file_mtime"
    # The sessions of the second analysis replaced the first's: stored once, not twice.
    assert len(store.sessions_frame()) == len(second.sessions)
    shift = [b.start_ms - a.start_ms for a, b in zip(first.sessions, second.sessions, strict=True)]
    assert all(abs(d - 3_600_000) < 2_000 for d in shift)  # timed by the (touched) file
