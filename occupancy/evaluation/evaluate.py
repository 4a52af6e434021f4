"""Accuracy of found sessions against ground truth (``occupancy.evaluation.truth``).

Metrics, all on times in seconds from the start of the footage:

* **Per-second occupancy accuracy** of each zone: at the middle of every whole
  second of footage (0.5 s, 1.5 s, ...), is the zone occupied in the truth and in
  what was found? Accuracy is the share of seconds where both agree.
* **Session precision, recall and F1**: a found session matches a true one in the
  same zone when their temporal IoU (intersection over union of the two time
  spans) is at least ``iou_min`` (default 0.5). Matching is one-to-one, by the
  Hungarian algorithm maximising the summed IoU in each zone, so one long found
  session cannot claim two true ones. With nothing found, precision is 1; with
  nothing true, recall is 1.
* **Start, end and dwell errors** of matched pairs: median and 90th percentile
  (linear interpolation) of the absolute differences, in seconds.
* **Double-parking recall**: the share of true double_park sessions matched.

A found session still in progress when the analysis ended (right-censored) ends
at the last analysed frame, up to one analysis period before the footage ends;
it is taken to last to the end of the footage, as a truth session of a vehicle
still there does.

A run that did not complete (interrupted, failed, still running) covered only the
footage up to its last analysed frame: :func:`coverage` says how much, and
:func:`clip_to` cuts the truth and the found sessions to that span, so seconds
nobody analysed are not counted as misses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import linear_sum_assignment
from sqlalchemy import select

from occupancy.config.site import Site
from occupancy.domain.states import RunStatus
from occupancy.evaluation.truth import Truth, TruthError
from occupancy.storage.schema import runs
from occupancy.storage.store import RunRecord, Store

DEFAULT_IOU = 0.5


@dataclass(frozen=True, slots=True)
class Span:
    """One session, true or found: a zone (site-local id), a kind and a time span."""

    zone: str
    kind: str  # park | double_park
    start_s: float
    end_s: float
    open_end: bool = False  # found still in progress when the footage ended

    @property
    def dwell_s(self) -> float:
        """Seconds from start to end."""
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class Match:
    """A true session and the found session matched to it, with their temporal IoU."""

    truth: Span
    found: Span
    iou: float


@dataclass(frozen=True)
class Errors:
    """The median and 90th percentile of absolute timing errors, in seconds (None: no match)."""

    median_s: float | None
    p90_s: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Errors:
        """``Errors`` of signed errors in seconds (their absolute values are used)."""
        if not values:
            return cls(None, None)
        a = np.abs(np.asarray(values, dtype=float))
        return cls(float(np.median(a)), float(np.percentile(a, 90)))


@dataclass(frozen=True)
class Report:
    """An evaluation of found sessions against truth: per-second occupancy accuracy per zone
    and its mean over bays; session precision, recall and F1 at temporal IoU >=
    ``iou_min``; start, end and dwell errors of matched sessions; and the matches and the
    unmatched sessions on either side.
    """

    iou_min: float
    duration_s: float
    zone_accuracy: dict[str, float]  # per-second occupancy accuracy, per zone
    bay_accuracy: float | None  # mean over bays
    n_true: int
    n_found: int
    n_matched: int
    precision: float
    recall: float
    f1: float
    start_error: Errors
    end_error: Errors
    dwell_error: Errors
    double_park_true: int
    double_park_matched: int
    matches: tuple[Match, ...]
    unmatched_truth: tuple[Span, ...]
    unmatched_found: tuple[Span, ...]

    @property
    def double_park_recall(self) -> float | None:
        """Recall of double-park sessions alone (None when the truth has none)."""
        if self.double_park_true == 0:
            return None
        return self.double_park_matched / self.double_park_true

    def as_dict(self) -> dict[str, object]:
        """The report as JSON-ready data (``baywatch evaluate --json``)."""

        def err(e: Errors) -> dict[str, float | None]:
            return {"median_s": e.median_s, "p90_s": e.p90_s}

        def span(s: Span) -> dict[str, object]:
            return {"zone": s.zone, "kind": s.kind, "start_s": s.start_s, "end_s": s.end_s}

        return {
            "iou_min": self.iou_min,
            "duration_s": self.duration_s,
            "occupancy_accuracy": {"per_zone": self.zone_accuracy, "bays_mean": self.bay_accuracy},
            "sessions": {
                "true": self.n_true,
                "found": self.n_found,
                "matched": self.n_matched,
                "precision": self.precision,
                "recall": self.recall,
                "f1": self.f1,
            },
            "start_error": err(self.start_error),
            "end_error": err(self.end_error),
            "dwell_error": err(self.dwell_error),
            "double_parking": {
                "true": self.double_park_true,
                "matched": self.double_park_matched,
                "recall": self.double_park_recall,
            },
            "matches": [
                {"truth": span(m.truth), "found": span(m.found), "iou": m.iou} for m in self.matches
            ],
            "missed": [span(s) for s in self.unmatched_truth],
            "false": [span(s) for s in self.unmatched_found],
        }


def temporal_iou(a: Span, b: Span) -> float:
    """Intersection over union of two time spans (seconds): overlap / (latest end - earliest
    start); 0 when they do not overlap.
    """
    inter = min(a.end_s, b.end_s) - max(a.start_s, b.start_s)
    if inter <= 0:
        return 0.0
    union = max(a.end_s, b.end_s) - min(a.start_s, b.start_s)
    return inter / union


def match_sessions(
    truth: Sequence[Span], found: Sequence[Span], iou_min: float = DEFAULT_IOU
) -> list[Match]:
    """One-to-one matches in the same zone with IoU ≥ ``iou_min``, maximising total IoU."""
    matches: list[Match] = []
    for zone in sorted({s.zone for s in truth} & {s.zone for s in found}):
        ts = [s for s in truth if s.zone == zone]
        fs = [s for s in found if s.zone == zone]
        iou = np.array([[temporal_iou(t, f) for f in fs] for t in ts])
        # Pairs below the threshold may not match: give them no weight and drop them after.
        weight = np.where(iou >= iou_min, iou, 0.0)
        rows, cols = linear_sum_assignment(weight, maximize=True)
        for r, c in zip(rows, cols, strict=True):
            if iou[r, c] >= iou_min:
                matches.append(Match(ts[r], fs[c], float(iou[r, c])))
    return matches


def occupied_seconds(spans: Sequence[Span], zone: str, duration_s: float) -> np.ndarray:
    """Whether ``zone`` is occupied at the middle of each whole second of footage."""
    t = np.arange(math.floor(duration_s + 1e-9)) + 0.5
    occ = np.zeros(len(t), bool)
    for s in spans:
        if s.zone == zone:
            occ |= (t >= s.start_s) & (t < s.end_s)
    return occ


def truth_spans(truth: Truth) -> list[Span]:
    """The truth file's sessions as ``Span``s (seconds since the footage's start)."""
    return [Span(s.zone, s.kind, s.start_s, s.end_s) for s in truth.sessions]


def evaluate(truth: Truth, found: Sequence[Span], iou_min: float = DEFAULT_IOU) -> Report:
    """Compare ``found`` (only zones the truth lists count) with ``truth``."""
    zones = truth.zone_ids()
    found = [
        Span(s.zone, s.kind, s.start_s, max(s.end_s, truth.duration_s)) if s.open_end else s
        for s in found
        if s.zone in zones
    ]
    true = truth_spans(truth)
    acc = {
        z: float(
            np.mean(
                occupied_seconds(true, z, truth.duration_s)
                == occupied_seconds(found, z, truth.duration_s)
            )
        )
        if truth.duration_s >= 1
        else 1.0
        for z in zones
    }
    bay_acc = [acc[b] for b in truth.bays]
    matches = match_sessions(true, found, iou_min)
    n = len(matches)
    precision = n / len(found) if found else 1.0
    recall = n / len(true) if true else 1.0
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    matched_t = {id(m.truth) for m in matches}
    matched_f = {id(m.found) for m in matches}
    return Report(
        iou_min=iou_min,
        duration_s=truth.duration_s,
        zone_accuracy=acc,
        bay_accuracy=float(np.mean(bay_acc)) if bay_acc else None,
        n_true=len(true),
        n_found=len(found),
        n_matched=n,
        precision=precision,
        recall=recall,
        f1=f1,
        start_error=Errors.of([m.found.start_s - m.truth.start_s for m in matches]),
        end_error=Errors.of([m.found.end_s - m.truth.end_s for m in matches]),
        dwell_error=Errors.of([m.found.dwell_s - m.truth.dwell_s for m in matches]),
        double_park_true=sum(s.kind == "double_park" for s in true),
        double_park_matched=sum(m.truth.kind == "double_park" for m in matches),
        matches=tuple(matches),
        unmatched_truth=tuple(s for s in true if id(s) not in matched_t),
        unmatched_found=tuple(s for s in found if id(s) not in matched_f),
    )


# -- found sessions, from an analysis or a database -------------------------------------


def check_against_site(truth: Truth, site: Site, truth_name: str) -> None:
    """The truth must speak of this camera's zones; raise TruthError naming the field."""
    if truth.camera_id is not None and truth.camera_id != site.camera_id:
        raise TruthError(
            f"{truth_name}: camera_id: {truth.camera_id!r} but the site's camera is {site.camera_id!r}"
        )
    bays = {b.id for b in site.bays}
    lanes = {z.id for z in site.lane_zones}
    for field, ids, known in (("bays", truth.bays, bays), ("lane_zones", truth.lane_zones, lanes)):
        for i, z in enumerate(ids):
            if z not in known:
                raise TruthError(
                    f"{truth_name}: {field}.{i}: {z!r} is not one of the site's {field} "
                    f"({', '.join(sorted(known)) or 'none'})"
                )


def _local_ids(site: Site) -> dict[str, str]:
    ids = {site.curb_zone_id(b): b.id for b in site.bays}
    ids.update({site.lane_zone_id(z): z.id for z in site.lane_zones})
    return ids


def spans_from_store(store: Store, site: Site, run_id: str | None) -> tuple[list[Span], str]:
    """Sessions one stored run found (the camera's latest when ``run_id`` is None)."""
    if run_id is None:
        q = (
            select(runs.c.run_id)
            .where(runs.c.device_id == site.camera_id)
            .order_by(runs.c.started_ms.desc())
            .limit(1)
        )
        with store.engine.connect() as conn:
            run_id = conn.execute(q).scalar()
        if run_id is None:
            raise TruthError(f"no analysis run of camera {site.camera_id!r} in this database")
    run = store.get_run(run_id)
    if run is None:
        raise TruthError(f"--run: no run {run_id!r} in this database")
    if run.footage_start_ms is None:
        raise TruthError(f"--run: run {run_id!r} is live footage, which has no truth timeline")
    frame = store.sessions_frame(run_id=run_id)
    local = _local_ids(site)
    spans = []
    for row in frame.itertuples():
        key = row.lane_zone_id if isinstance(row.lane_zone_id, str) else row.curb_zone_id
        if key in local:
            spans.append(
                Span(
                    local[key],
                    str(row.kind),
                    (int(row.start_ms) - run.footage_start_ms) / 1000,
                    (int(row.end_ms) - run.footage_start_ms) / 1000,
                    open_end=bool(row.end_censored),
                )
            )
    return spans, run_id


# A complete run ends at its last analysed frame, up to one analysis period (and any
# trailing frames the decoder drops) before the footage does: a truth longer than the run
# by more than this is for other footage (or a typo), not a rounding of the same.
DURATION_SLACK_S = 10.0
DURATION_SLACK_SHARE = 0.1


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much footage a stored run analysed: its ``status`` (``RunStatus`` value),
    ``covered_s`` (seconds from the first to the last analysed frame) and ``frames``
    (frames analysed)."""

    run_id: str
    status: str
    covered_s: float
    frames: int

    @property
    def complete(self) -> bool:
        """True when the run read its source to the end."""
        return self.status == RunStatus.COMPLETE


def coverage(run: RunRecord) -> Coverage:
    """The footage ``run`` covered (0 s when it stored no frame)."""
    end, start = run.footage_end_ms, run.footage_start_ms
    covered = 0.0 if end is None or start is None else max(0.0, (end - start) / 1000)
    return Coverage(run.run_id, str(run.status), covered, run.frames_analysed or 0)


def check_coverage(truth: Truth, cov: Coverage, truth_path: str) -> None:
    """``TruthError`` (one line naming the file and field) when the truth's ``duration_s`` is
    far longer than the footage a complete run covered, or when an incomplete run covered
    nothing to evaluate."""
    if cov.complete:
        slack = max(DURATION_SLACK_S, DURATION_SLACK_SHARE * cov.covered_s)
        if cov.covered_s > 0 and truth.duration_s > cov.covered_s + slack:
            raise TruthError(
                f"{truth_path}: duration_s: {truth.duration_s:g} s is longer than the footage "
                f"run {cov.run_id[:8]} analysed ({cov.covered_s:.1f} s): is it the truth of "
                "this footage?"
            )
    elif cov.covered_s <= 0:
        raise TruthError(
            f"run {cov.run_id[:8]} is {cov.status} and analysed no footage: nothing to "
            "evaluate; complete it by running the same analyse command again"
        )


def clip_to(truth: Truth, found: Sequence[Span], span_s: float) -> tuple[Truth, list[Span]]:
    """``truth`` and ``found`` cut to the first ``span_s`` seconds of footage: sessions that
    start later are dropped, longer ones end at ``span_s`` (a found one marked open-ended,
    as at the end of footage)."""
    if span_s >= truth.duration_s:
        return truth, list(found)
    sessions = [
        t.model_copy(update={"end_s": min(t.end_s, span_s)})
        for t in truth.sessions
        if t.start_s < span_s
    ]
    cut = truth.model_copy(update={"duration_s": span_s, "sessions": sessions})
    spans = [
        replace(f, end_s=min(f.end_s, span_s), open_end=f.open_end or f.end_s >= span_s)
        for f in found
        if f.start_s < span_s
    ]
    return cut, spans
