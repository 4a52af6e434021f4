"""The real detector on the real footage in ../shared: what the scenes really show."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from occupancy.config.site import Site, load_site
from occupancy.domain.records import SessionKind
from occupancy.observe.machine import OccupancyMachine
from occupancy.observe.pipeline import prepare
from occupancy.runtime.analysis import AnalysisResult, analyse, resolve_source
from occupancy.storage.store import Store
from tests.conftest import SAMPLES, needs_footage
from vision.detector import Detector
from vision.sources import FrameSource, open_source
from vision.types import Detections, Frame, SourceGap

pytestmark = needs_footage


class Recorder:
    """Keeps the ground footprints of people and tracked vehicles, for assertions."""

    def __init__(self, site: Site) -> None:
        self.proj, self.zones = prepare(site)
        self.persons: list[tuple[int, np.ndarray]] = []
        self.vehicles: list[tuple[int, int, np.ndarray]] = []

    def write(
        self, frame: Frame, vehicles: Detections, persons: Detections, m: OccupancyMachine
    ) -> None:
        for p in self.proj.pixels_to_ground(persons.bottom_center):
            self.persons.append((frame.t_ms, p))
        if vehicles.tracker_id is not None:
            pts = self.proj.pixels_to_ground(vehicles.bottom_center)
            for tid, p in zip(vehicles.tracker_id, pts, strict=True):
                self.vehicles.append((frame.t_ms, int(tid), p))

    def close(self) -> None:
        pass

    def zone(self, local_id: str):  # type: ignore[no-untyped-def]
        return next(z for z in self.zones if z.local_id == local_id)


def run(
    name: str, detector_factory: Callable[..., Detector], db: Path, **kw: object
) -> tuple[Site, AnalysisResult, Recorder, Store]:
    path = SAMPLES / f"{name}.yaml"
    site = load_site(path)
    store = Store(f"sqlite:///{db}")
    rec = Recorder(site)
    det = detector_factory(tuple(site.detector.classes))
    result = analyse(
        resolve_source(None, site, path), site, store, detector=det, observer=rec, **kw
    )  # type: ignore[arg-type]
    return site, result, rec, store


def test_a1c9_suv_bay_occupied_and_asphalt_bay_free(detector_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    site, result, rec, store = run("meva-a1c9", detector_factory, tmp_path / "a.db")
    suv, asphalt = rec.zone("suv-bay"), rec.zone("asphalt-bay")
    by_zone = {s.curb_zone_id: s for s in result.sessions}
    assert set(by_zone) == {suv.key}, "only the SUV's bay is occupied"
    sess = by_zone[suv.key]
    assert site.source.start_time is not None
    t0 = round(site.source.start_time.timestamp() * 1000)
    # Occupied through the clip: from the first analysed frame to the last (4.5 s at 2 fps).
    assert sess.start_ms == t0 and sess.end_ms == t0 + 4500
    assert sess.start_censored and sess.end_censored
    # A person really walked into the empty bay, and it stayed free.
    assert any(asphalt.contains((float(p[0]), float(p[1]))) for _, p in rec.persons)
    stored = store.sessions_frame()
    assert len(stored) == 1 and stored.session_id.iloc[0] == sess.session_id
    events = store.events_frame()
    assert list(events.event_type) == ["park_start"]  # still there when the clip ends
    assert events.data_source_type.iloc[0] == "camera"


def test_c4f6_parked_row_occupied_moving_road_vehicles_make_no_session(
    detector_factory, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    _, result, rec, _ = run("meva-c4f6", detector_factory, tmp_path / "c.db")
    bays = [z for z in rec.zones if z.kind is SessionKind.PARK]
    parks = [s for s in result.sessions if s.kind is SessionKind.PARK]
    assert sorted(s.curb_zone_id for s in parks) == sorted(z.key for z in bays)
    assert all(s.dwell_s == 4.5 for s in parks)
    # The vehicle that drives along the access road (it enters at 1.7 s) makes no session;
    # only the one stopped in the lane from the start does.
    doubles = [s for s in result.sessions if s.kind is SessionKind.DOUBLE_PARK]
    assert len(doubles) == 1 and doubles[0].start_censored
    lane = rec.zone("access-road")
    first_seen: dict[int, int] = {}
    for t, tid, _ in rec.vehicles:
        first_seen.setdefault(tid, t)
    t0 = min(first_seen.values())
    arrivals = {
        tid
        for t, tid, p in rec.vehicles
        if first_seen[tid] > t0 + 1000 and lane.contains((float(p[0]), float(p[1])))
    }
    assert arrivals, "a vehicle drove into the lane zone during the clip"
    assert not arrivals & set(doubles[0].track_ids)
    assert doubles[0].blocked_lane_types and str(doubles[0].blocked_lane_types[0]) == "travel_lane"


def test_overhead_aisle_drive_throughs_make_no_session(detector_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, result, rec, _ = run("intel-aisle", detector_factory, tmp_path / "i.db")
    assert result.sessions == ()
    assert len({tid for _, tid, _ in rec.vehicles}) >= 3, "cars were seen and tracked"
    assert result.frames_analysed == 61  # 30.2 s at 2 analysed frames per second


def test_reanalysis_is_idempotent(detector_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "r.db"
    _, first, _, store = run("meva-c4f6", detector_factory, db)
    before_s, before_e = store.sessions_frame(), store.events_frame()
    _, second, _, store = run("meva-c4f6", detector_factory, db)
    after_s, after_e = store.sessions_frame(), store.events_frame()
    assert first.run_id == second.run_id
    assert len(after_s) == len(before_s) == 6
    assert sorted(after_s.session_id) == sorted(before_s.session_id)
    assert sorted(after_e.event_id) == sorted(before_e.event_id)
    run_row = store.get_run(first.run_id)
    assert run_row is not None and run_row.status == "complete" and run_row.attempt == 2


class _Interrupting(FrameSource):
    def __init__(self, inner: FrameSource, after: int) -> None:
        self.inner, self.after, self.info = inner, after, inner.info
        self.start_ms = getattr(inner, "start_ms", None)

    def __iter__(self) -> Iterator[Frame | SourceGap]:
        for i, f in enumerate(self.inner):
            if i == self.after:
                raise KeyboardInterrupt
            yield f


def test_interrupted_run_is_consistent_and_rerun_completes(
    detector_factory, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = SAMPLES / "meva-c4f6.yaml"
    site = load_site(path)
    det = detector_factory(tuple(site.detector.classes))
    store = Store(f"sqlite:///{tmp_path / 'k.db'}")
    start = round(site.source.start_time.timestamp() * 1000)  # type: ignore[union-attr]
    inner = open_source(
        resolve_source(None, site, path), analysis_fps=2, start_ms=start, folder_fps=30
    )
    with pytest.raises(KeyboardInterrupt):
        analyse("", site, store, detector=det, source=_Interrupting(inner, 8))
    runs = store.sessions_frame()
    assert len(runs) == 0  # sessions close at the end; only their starts were stored
    starts = store.events_frame()
    assert set(starts.event_type) == {"park_start"} and len(starts) == 6
    _, done, _, store = run("meva-c4f6", detector_factory, tmp_path / "k.db")
    assert len(store.sessions_frame()) == 6
    assert len(store.events_frame()) == 6  # the same park_start events, not doubled
    assert store.get_run(done.run_id).status == "complete"  # type: ignore[union-attr]


def test_review_video_is_written_only_when_asked(
    detector_factory, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    import cv2

    from baywatch.analyse_cmd import run_analysis

    monkeypatch.chdir(tmp_path)
    site_path = SAMPLES / "meva-a1c9.yaml"
    det = detector_factory()
    run_analysis(
        None,
        site_path,
        db=f"sqlite:///{tmp_path / 'v.db'}",
        fps=2,
        annotate=None,
        start=None,
        model=None,
        folder_fps=None,
        quiet=True,
        detector=det,
    )
    media = {".mp4", ".avi", ".mkv", ".jpg", ".jpeg", ".png", ".bmp"}
    assert not [p for p in tmp_path.rglob("*") if p.suffix.lower() in media]
    out = tmp_path / "review.mp4"
    run_analysis(
        None,
        site_path,
        db=f"sqlite:///{tmp_path / 'v.db'}",
        fps=2,
        annotate=out,
        start=None,
        model=None,
        folder_fps=None,
        quiet=True,
        detector=det,
    )
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 10
    cap.release()
