"""evaluate's metrics on hand-made session sets, with exact expected numbers."""

from __future__ import annotations

import pytest

from occupancy.evaluation.evaluate import Errors, Span, evaluate, match_sessions, temporal_iou
from occupancy.evaluation.truth import Truth, TruthSession


def park(zone: str, a: float, b: float) -> Span:
    return Span(zone, "park", a, b)


def truth(duration: float, *sessions: TruthSession, lanes: tuple[str, ...] = ()) -> Truth:
    return Truth(
        duration_s=duration,
        bays=["bay-1", "bay-2"],
        lane_zones=list(lanes),
        sessions=list(sessions),
    )


def tpark(zone: str, a: float, b: float) -> TruthSession:
    return TruthSession(bay=zone, start_s=a, end_s=b, kind="park")


def test_temporal_iou() -> None:
    assert temporal_iou(park("b", 0, 10), park("b", 5, 15)) == pytest.approx(1 / 3)
    assert temporal_iou(park("b", 0, 10), park("b", 10, 20)) == 0.0
    assert temporal_iou(park("b", 2, 4), park("b", 0, 10)) == pytest.approx(0.2)


def test_iou_threshold_decides_a_match() -> None:
    t = [park("bay-1", 0, 10)]
    f = [park("bay-1", 5, 15)]  # IoU 1/3
    assert match_sessions(t, f, iou_min=0.5) == []
    (m,) = match_sessions(t, f, iou_min=0.3)
    assert m.iou == pytest.approx(1 / 3)


def test_same_zone_only() -> None:
    assert match_sessions([park("bay-1", 0, 10)], [park("bay-2", 0, 10)]) == []


def test_one_long_found_session_cannot_claim_two_true_ones() -> None:
    t = [park("bay-1", 0, 10), park("bay-1", 12, 22)]
    f = [park("bay-1", 0, 22)]  # IoU 10/22 with each
    report = evaluate(truth(30, tpark("bay-1", 0, 10), tpark("bay-1", 12, 22)), f, iou_min=0.4)
    assert len(match_sessions(t, f, iou_min=0.4)) == 1
    assert (report.n_true, report.n_found, report.n_matched) == (2, 1, 1)
    assert report.precision == 1.0 and report.recall == 0.5
    assert report.f1 == pytest.approx(2 / 3)


def test_hungarian_matching_beats_greedy() -> None:
    # Greedy would pair T1 with F1 (IoU 0.82) and leave T2 with F2 (0.14): one match.
    t = [park("bay-1", 0, 10), park("bay-1", 4, 14)]
    f = [park("bay-1", 1, 11), park("bay-1", 0, 6)]
    pairs = {(m.truth.start_s, m.found.start_s) for m in match_sessions(t, f, iou_min=0.5)}
    assert pairs == {(0, 0), (4, 1)}  # T1-F2 (0.6) and T2-F1 (7/13)


def test_per_second_accuracy() -> None:
    tr = truth(10, tpark("bay-1", 2, 6))
    found = [park("bay-1", 2.4, 7.2), park("bay-2", 0, 3)]
    report = evaluate(tr, found)
    # bay-1: seconds sampled at 0.5 .. 9.5; they differ only at 6.5 s.
    # bay-2: free in truth, found occupied at 0.5, 1.5 and 2.5 s.
    assert report.zone_accuracy == {"bay-1": 0.9, "bay-2": 0.7}
    assert report.bay_accuracy == pytest.approx(0.8)
    assert (report.n_matched, report.n_found) == (1, 2)
    assert report.precision == 0.5 and report.recall == 1.0


def test_start_end_and_dwell_errors() -> None:
    tr = truth(100, tpark("bay-1", 10, 30), tpark("bay-1", 40, 60), tpark("bay-2", 10, 50))
    found = [park("bay-1", 10.4, 31), park("bay-1", 39, 60.5), park("bay-2", 12, 49)]
    r = evaluate(tr, found)
    assert r.n_matched == 3
    # Start errors 0.4, -1, 2: median 1, p90 by linear interpolation 1 + 0.8 * (2 - 1).
    assert r.start_error == Errors(pytest.approx(1.0), pytest.approx(1.8))  # type: ignore[arg-type]
    # End errors 1, 0.5, -1 -> |.| 0.5, 1, 1.
    assert r.end_error.median_s == pytest.approx(1.0) and r.end_error.p90_s == pytest.approx(1.0)
    # Dwell errors 0.6, 1.5, -3.
    assert r.dwell_error.median_s == pytest.approx(1.5)
    assert r.dwell_error.p90_s == pytest.approx(1.5 + 0.8 * 1.5)


def test_double_parking_recall() -> None:
    lane = TruthSession(lane="lane", start_s=5, end_s=25, kind="double_park")
    tr = truth(
        40,
        lane,
        TruthSession(lane="lane", start_s=30, end_s=38, kind="double_park"),
        lanes=("lane",),
    )
    found = [Span("lane", "double_park", 5.5, 25)]
    r = evaluate(tr, found)
    assert (r.double_park_true, r.double_park_matched) == (2, 1)
    assert r.double_park_recall == 0.5
    assert evaluate(truth(40, tpark("bay-1", 0, 5)), []).double_park_recall is None


def test_nothing_found_nothing_true() -> None:
    r = evaluate(truth(20), [])
    assert (r.precision, r.recall, r.f1) == (1.0, 1.0, 1.0)
    assert r.zone_accuracy == {"bay-1": 1.0, "bay-2": 1.0}
    missed = evaluate(truth(20, tpark("bay-1", 0, 20)), [])
    assert (missed.precision, missed.recall, missed.f1) == (1.0, 0.0, 0.0)
    assert missed.zone_accuracy["bay-1"] == 0.0


def test_found_zones_outside_the_truth_are_ignored() -> None:
    r = evaluate(truth(20), [park("bay-9", 0, 20)])
    assert r.n_found == 0 and r.precision == 1.0


def test_session_open_at_the_end_lasts_to_the_footage_end() -> None:
    tr = truth(5, tpark("bay-1", 0, 5))
    open_end = Span("bay-1", "park", 0, 4.5, open_end=True)
    r = evaluate(tr, [open_end])
    assert r.zone_accuracy["bay-1"] == 1.0 and r.end_error.median_s == 0.0
    closed = evaluate(tr, [park("bay-1", 0, 4.5)])
    assert closed.zone_accuracy["bay-1"] == 0.8 and closed.end_error.median_s == 0.5
