"""ByteTrack as ultralytics 8.4 runs it (``ultralytics.trackers.byte_tracker.BYTETracker``),
for axis-aligned boxes, without PyTorch.

Why a port and not the library: ultralytics' tracker modules import ``ultralytics.utils``,
which imports PyTorch (1.7-2.2 s of CPU, measured with ``python -X importtime``), at every
start of ``analyse``, although the tracker itself is NumPy; the torch-free ByteTracks on
PyPI are other algorithms (Roboflow's ``trackers`` is a clean-room rewrite with other
thresholds and lifecycle, and costs 0.9 s of CPU to import with ``supervision``). This
module is ultralytics' algorithm line for line (Zhang et al., "ByteTrack", ECCV 2022;
ultralytics' two-stage association, unconfirmed tracks, score fusion, duplicate removal,
per-tracker ids), restricted to what baywatch uses: no oriented boxes, no global motion
compensation, no re-identification. ``tests/test_bytetrack.py`` checks that it gives the
same tracks as ultralytics' ``BYTETracker`` on detections of real footage.

Licence: ultralytics is AGPL-3.0, as is baywatch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count

import lap
import numpy as np
from numpy.typing import NDArray

TRACKED, LOST, REMOVED = 1, 2, 3  # ultralytics' TrackState (New = 0)
REMOVED_BUFFER = 1000  # removed tracks remembered (ultralytics' merge_track_pools)
DUPLICATE_IOU_DISTANCE = 0.15  # a tracked and a lost track this close are one (ultralytics)


@dataclass(frozen=True)
class ByteTrackSettings:
    """ultralytics' ``bytetrack.yaml`` fields: detection score thresholds of the two
    association stages and of a new track, the lost-track buffer in (analysed) frames,
    the first association's cost limit (1 - IoU x score) and whether scores are fused.
    """

    track_high_thresh: float = 0.25
    track_low_thresh: float = 0.1
    new_track_thresh: float = 0.25
    track_buffer: int = 30
    match_thresh: float = 0.8
    fuse_score: bool = True


class KalmanFilterXYAH:
    """ultralytics' (and DeepSORT's) constant-velocity Kalman filter on (centre x, centre y,
    aspect ratio w/h, height) and their velocities; noise proportional to the height.
    """

    def __init__(self) -> None:
        ndim = 4
        self._motion_mat = np.eye(2 * ndim, 2 * ndim)
        for i in range(ndim):
            self._motion_mat[i, ndim + i] = 1.0
        self._std_weight_position = 1.0 / 20
        self._std_weight_velocity = 1.0 / 160

    def initiate(self, measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean (8,) and covariance (8, 8) of a new track from one xyah measurement."""
        m = np.asarray(measurement, dtype=np.float64)
        mean = np.r_[m, np.zeros_like(m)]
        p, v = self._std_weight_position * m[3], self._std_weight_velocity * m[3]
        std = [2 * p, 2 * p, 1e-2, 2 * p, 10 * v, 10 * v, 1e-5, 10 * v]
        return mean, np.diag(np.square(std))

    def multi_predict(
        self, mean: np.ndarray, covariance: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """One step ahead for N tracks: mean (N, 8), covariance (N, 8, 8)."""
        h = mean[:, 3]
        p, v = self._std_weight_position * h, self._std_weight_velocity * h
        std_pos = [p, p, 1e-2 * np.ones_like(h), p]
        std_vel = [v, v, 1e-5 * np.ones_like(h), v]
        sqr = np.square(np.r_[std_pos, std_vel]).T
        motion_cov = np.zeros((sqr.shape[0], 8, 8))
        motion_cov[:, range(8), range(8)] = sqr
        mean = np.dot(mean, self._motion_mat.T)
        left = np.dot(self._motion_mat, covariance).transpose((1, 0, 2))
        covariance = np.dot(left, self._motion_mat.T) + motion_cov
        return mean, covariance

    def update(
        self,
        mean: np.ndarray,
        covariance: np.ndarray,
        measurement: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The track corrected by one xyah measurement."""
        p = self._std_weight_position * mean[3]
        projected_mean = mean[:4].copy()
        projected_cov = covariance[:4, :4] + np.diag(np.square([p, p, 1e-1, p]))
        gain = np.linalg.solve(projected_cov, covariance[:, :4].T).T
        new_mean = mean + np.dot(measurement - projected_mean, gain.T)
        new_cov = covariance - np.linalg.multi_dot((gain, projected_cov, gain.T))
        return new_mean, new_cov


def _xyah(tlwh: np.ndarray) -> np.ndarray:
    ret = np.asarray(tlwh).copy()
    ret[:2] += ret[2:] / 2
    ret[2] /= ret[3]
    return ret


class STrack:
    """One track (or a detection waiting to become one): box, score, class, detection index."""

    shared_kalman = KalmanFilterXYAH()

    def __init__(self, xywh: np.ndarray, score: float, cls: float, idx: int) -> None:
        self._tlwh = np.asarray(
            [xywh[0] - xywh[2] / 2, xywh[1] - xywh[3] / 2, xywh[2], xywh[3]], dtype=np.float32
        )
        self.kalman_filter: KalmanFilterXYAH | None = None
        self.mean: np.ndarray | None = None
        self.covariance: np.ndarray | None = None
        self.is_activated = False
        self.state = 0
        self.score = score
        self.cls = cls
        self.idx = idx
        self.track_id = 0
        self.frame_id = 0
        self.start_frame = 0
        self.tracklet_len = 0

    @staticmethod
    def multi_predict(stracks: list[STrack]) -> None:
        """Predict every track of ``stracks`` one frame ahead (lost ones without height speed)."""
        if not stracks:
            return
        mean = np.asarray([st.mean for st in stracks])
        cov = np.asarray([st.covariance for st in stracks])
        for i, st in enumerate(stracks):
            if st.state != TRACKED:
                mean[i][7] = 0
        mean, cov = STrack.shared_kalman.multi_predict(mean, cov)
        for st, m, c in zip(stracks, mean, cov, strict=True):
            st.mean, st.covariance = m, c

    def activate(self, kalman_filter: KalmanFilterXYAH, frame_id: int, track_id: int) -> None:
        """Start a new track from this detection (confirmed at once on the first frame only)."""
        self.kalman_filter = kalman_filter
        self.track_id = track_id
        self.mean, self.covariance = kalman_filter.initiate(_xyah(self._tlwh))
        self.tracklet_len = 0
        self.state = TRACKED
        if frame_id == 1:
            self.is_activated = True
        self.frame_id = self.start_frame = frame_id

    def re_activate(self, new: STrack, frame_id: int) -> None:
        """A lost track found again by detection ``new``."""
        assert self.kalman_filter is not None and self.mean is not None
        assert self.covariance is not None
        self.mean, self.covariance = self.kalman_filter.update(
            self.mean, self.covariance, _xyah(new.tlwh)
        )
        self.tracklet_len = 0
        self.state = TRACKED
        self.is_activated = True
        self.frame_id = frame_id
        self.score, self.cls, self.idx = new.score, new.cls, new.idx

    def update(self, new: STrack, frame_id: int) -> None:
        """A tracked track seen again in detection ``new``."""
        assert self.kalman_filter is not None and self.mean is not None
        assert self.covariance is not None
        self.frame_id = frame_id
        self.tracklet_len += 1
        self.mean, self.covariance = self.kalman_filter.update(
            self.mean, self.covariance, _xyah(new.tlwh)
        )
        self.state = TRACKED
        self.is_activated = True
        self.score, self.cls, self.idx = new.score, new.cls, new.idx

    @property
    def tlwh(self) -> np.ndarray:
        """Box (left, top, width, height): the Kalman state's, or the detection's if none."""
        if self.mean is None:
            return self._tlwh.copy()
        ret = self.mean[:4].copy()
        ret[2] *= ret[3]
        ret[:2] -= ret[2:] / 2
        return ret

    @property
    def xyxy(self) -> np.ndarray:
        """Box (x1, y1, x2, y2)."""
        ret = self.tlwh
        ret[2:] += ret[:2]
        return ret


def iou_distance(a: list[STrack], b: list[STrack]) -> NDArray[np.float32]:
    """1 - IoU between the tracks' boxes (ultralytics' ``bbox_ioa(..., iou=True)``)."""
    ious = np.zeros((len(a), len(b)), dtype=np.float32)
    if a and b:
        b1 = np.ascontiguousarray([t.xyxy for t in a], dtype=np.float32)
        b2 = np.ascontiguousarray([t.xyxy for t in b], dtype=np.float32)
        inter = (np.minimum(b1[:, None, 2], b2[:, 2]) - np.maximum(b1[:, None, 0], b2[:, 0])).clip(
            0
        ) * (np.minimum(b1[:, None, 3], b2[:, 3]) - np.maximum(b1[:, None, 1], b2[:, 1])).clip(0)
        area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
        area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
        ious = inter / (area2 + area1[:, None] - inter + 1e-7)
    return 1 - ious


def fuse_score(cost: NDArray[np.float32], detections: list[STrack]) -> NDArray[np.float32]:
    """The IoU similarity weighted by each detection's score, as a cost."""
    if cost.size == 0:
        return cost
    scores = np.array([d.score for d in detections])[None].repeat(cost.shape[0], axis=0)
    return np.asarray(1 - (1 - cost) * scores)


def linear_assignment(
    cost: NDArray[np.float32], thresh: float
) -> tuple[list[list[int]], list[int], list[int]]:
    """Matches (row, column) of least total cost, none above ``thresh`` (``lap.lapjv``), and
    the unmatched rows and columns."""
    if cost.size == 0:
        return [], list(range(cost.shape[0])), list(range(cost.shape[1]))
    _, x, y = lap.lapjv(cost, extend_cost=True, cost_limit=thresh)
    matches = [[ix, int(mx)] for ix, mx in enumerate(x) if mx >= 0]
    return matches, [int(i) for i in np.where(x < 0)[0]], [int(i) for i in np.where(y < 0)[0]]


def _joint(a: list[STrack], b: list[STrack]) -> list[STrack]:
    ids = {t.track_id for t in a}
    return a + [t for t in b if t.track_id not in ids]


def _sub(a: list[STrack], b: list[STrack]) -> list[STrack]:
    ids = {t.track_id for t in b}
    return [t for t in a if t.track_id not in ids]


def _remove_duplicates(a: list[STrack], b: list[STrack]) -> tuple[list[STrack], list[STrack]]:
    dist = iou_distance(a, b)
    dupa, dupb = set(), set()
    for p, q in zip(*np.where(dist < DUPLICATE_IOU_DISTANCE), strict=True):
        if a[p].frame_id - a[p].start_frame > b[q].frame_id - b[q].start_frame:
            dupb.add(q)
        else:
            dupa.add(p)
    return (
        [t for i, t in enumerate(a) if i not in dupa],
        [t for i, t in enumerate(b) if i not in dupb],
    )


class BYTETracker:
    """ultralytics' ``BYTETracker`` (see the module docstring). ``update`` takes one frame's
    boxes and returns the confirmed tracks, one row each: x1, y1, x2, y2, track id, score,
    class, index of the detection in the input (``(M, 8)`` ``float32``).
    """

    def __init__(self, settings: ByteTrackSettings) -> None:
        self.args = settings
        self.max_frames_lost = settings.track_buffer
        self.tracked_stracks: list[STrack] = []
        self.lost_stracks: list[STrack] = []
        self.removed_stracks: list[STrack] = []
        self.frame_id = 0
        self.kalman_filter = KalmanFilterXYAH()
        self._ids: Iterator[int] = count(1)

    def _dists(self, tracks: list[STrack], dets: list[STrack]) -> NDArray[np.float32]:
        d = iou_distance(tracks, dets)
        return fuse_score(d, dets) if self.args.fuse_score else d

    def update(
        self, xywh: NDArray[np.float32], conf: NDArray[np.float32], cls: NDArray[np.float32]
    ) -> NDArray[np.float32]:
        """One frame: boxes ``xywh`` (N, 4) centre x, centre y, width, height in pixels, their
        scores (N,) and classes (N,)."""
        self.frame_id += 1
        activated: list[STrack] = []
        refind: list[STrack] = []
        lost: list[STrack] = []
        removed: list[STrack] = []
        valid = (xywh[:, 2] > 0) & (xywh[:, 3] > 0)
        high = valid & (conf >= self.args.track_high_thresh)
        low = valid & (conf > self.args.track_low_thresh) & (conf < self.args.track_high_thresh)
        detections = [STrack(xywh[i], conf[i], cls[i], int(i)) for i in np.flatnonzero(high)]
        second = [STrack(xywh[i], conf[i], cls[i], int(i)) for i in np.flatnonzero(low)]

        unconfirmed = [t for t in self.tracked_stracks if not t.is_activated]
        tracked = [t for t in self.tracked_stracks if t.is_activated]
        pool = _joint(tracked, self.lost_stracks)
        STrack.multi_predict(pool)

        # First association: high-score detections with tracked and lost tracks.
        matches, u_track, u_detection = linear_assignment(
            self._dists(pool, detections), self.args.match_thresh
        )
        for it, idet in matches:
            self._apply(pool[it], detections[idet], activated, refind)
        # Second association: low-score detections with the tracks still unmatched.
        r_tracked = [pool[i] for i in u_track if pool[i].state == TRACKED]
        if r_tracked and second:
            matches, u_track, _ = linear_assignment(iou_distance(r_tracked, second), 0.5)
            for it, idet in matches:
                self._apply(r_tracked[it], second[idet], activated, refind)
        else:
            u_track = list(range(len(r_tracked)))
        for it in u_track:
            r_tracked[it].state = LOST
            lost.append(r_tracked[it])
        # Unconfirmed tracks (seen once) with the high-score detections left.
        detections = [detections[i] for i in u_detection]
        u_detection = list(range(len(detections)))
        if unconfirmed:
            matches, u_unconfirmed, u_detection = linear_assignment(
                self._dists(unconfirmed, detections), 0.7
            )
            for it, idet in matches:
                unconfirmed[it].update(detections[idet], self.frame_id)
                activated.append(unconfirmed[it])
            for it in u_unconfirmed:
                unconfirmed[it].state = REMOVED
                removed.append(unconfirmed[it])
        for inew in u_detection:
            track = detections[inew]
            if track.score < self.args.new_track_thresh:
                continue
            track.activate(self.kalman_filter, self.frame_id, next(self._ids))
            activated.append(track)
        for track in self.lost_stracks:
            if self.frame_id - track.frame_id > self.max_frames_lost:
                track.state = REMOVED
                removed.append(track)

        self.tracked_stracks = [t for t in self.tracked_stracks if t.state == TRACKED]
        self.tracked_stracks = _joint(_joint(self.tracked_stracks, activated), refind)
        self.lost_stracks = _sub(self.lost_stracks, self.tracked_stracks)
        self.lost_stracks.extend(lost)
        self.lost_stracks = _sub(self.lost_stracks, self.removed_stracks)
        self.tracked_stracks, self.lost_stracks = _remove_duplicates(
            self.tracked_stracks, self.lost_stracks
        )
        self.removed_stracks.extend(removed)
        if len(self.removed_stracks) > REMOVED_BUFFER:
            self.removed_stracks = self.removed_stracks[-REMOVED_BUFFER:]
        rows = [
            [*t.xyxy.tolist(), t.track_id, t.score, t.cls, t.idx]
            for t in self.tracked_stracks
            if t.is_activated
        ]
        return np.asarray(rows, dtype=np.float32).reshape(-1, 8)

    def _apply(
        self, track: STrack, det: STrack, activated: list[STrack], refind: list[STrack]
    ) -> None:
        if track.state == TRACKED:
            track.update(det, self.frame_id)
            activated.append(track)
        else:
            track.re_activate(det, self.frame_id)
            refind.append(track)
