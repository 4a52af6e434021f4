"""Image ↔ ground projection from a site's control points (a planar homography).

Ground coordinates are metres in a local azimuthal equidistant projection centred
on the control points, so distances, stationarity and vehicle lengths are in
metres; WGS84 longitude/latitude come from that projection through pyproj.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import cv2
import numpy as np
from numpy.typing import NDArray
from pyproj import Transformer

from occupancy.config.site import Calibration, SiteError
from occupancy.domain.geo import WGS84, camera_crs

FloatArray = NDArray[np.float64]

# Twice the triangle area (px² or m²) under which three control points count as collinear.
_MIN_TRIANGLE = {"pixel": 25.0, "ground": 0.25}


@dataclass(frozen=True)
class GroundProjection:
    """Maps pixels to local metres and WGS84, and back."""

    h_img_to_ground: FloatArray  # 3x3
    h_ground_to_img: FloatArray  # 3x3
    to_lonlat: Transformer  # local metres -> lon/lat
    from_lonlat: Transformer  # lon/lat -> local metres
    rms_error_m: float
    front_sign: float = 1.0  # sign of the homogeneous w for ground the camera sees

    @classmethod
    def from_calibration(cls, cal: Calibration, where: str = "calibration") -> GroundProjection:
        """Fit the homography of a site's control points (pixel ↔ WGS84 lon/lat).

        The ground frame is ``occupancy.domain.geo.camera_crs`` centred on the points' mean:
        metres, x east, y north. Needs four or more points, no three of them collinear in the
        image or on the ground; ``where`` prefixes error messages. Raises ``SiteError``
        (naming ``where.control_points``) for collinear points, a degenerate fit, or a
        reprojection error above ``cal.max_error_m`` (points not on one ground plane).
        """
        lon0 = float(np.mean([cp.lonlat[0] for cp in cal.control_points]))
        lat0 = float(np.mean([cp.lonlat[1] for cp in cal.control_points]))
        local = camera_crs(lon0, lat0)
        fwd = Transformer.from_crs(WGS84, local, always_xy=True)
        inv = Transformer.from_crs(local, WGS84, always_xy=True)
        px = np.array([cp.pixel for cp in cal.control_points], dtype=np.float64)
        lon = np.array([cp.lonlat[0] for cp in cal.control_points])
        lat = np.array([cp.lonlat[1] for cp in cal.control_points])
        gx, gy = fwd.transform(lon, lat)
        ground = np.column_stack([gx, gy]).astype(np.float64)
        _check_spread(px, "pixel", where)
        _check_spread(ground, "ground", where)
        found, _ = cv2.findHomography(px, ground, 0)
        h = None if found is None else np.asarray(found, dtype=np.float64)
        if h is None or not np.all(np.isfinite(h)) or abs(np.linalg.det(h)) < 1e-12:
            raise SiteError(f"{where}.control_points: no homography fits these points")
        proj = cls(h, np.asarray(np.linalg.inv(h), dtype=np.float64), inv, fwd, 0.0)
        err = np.linalg.norm(proj.pixels_to_ground(px) - ground, axis=1)
        worst = int(np.argmax(err))
        if err[worst] > cal.max_error_m:
            raise SiteError(
                f"{where}.control_points.{worst}: reprojection error {err[worst]:.2f} m exceeds "
                f"max_error_m={cal.max_error_m} (points do not lie on one ground plane?)"
            )
        centre = np.append(ground.mean(axis=0), 1.0) @ proj.h_ground_to_img.T
        return cls(
            h,
            proj.h_ground_to_img,
            inv,
            fwd,
            float(np.sqrt(np.mean(err**2))),
            float(np.sign(centre[2])) or 1.0,
        )

    def pixels_to_ground(self, pts: FloatArray | Sequence[Sequence[float]]) -> FloatArray:
        """Image pixels ``(N, 2)`` (x right, y down; or anything reshaping to it) → ground
        metres ``(N, 2)`` ``float64`` (x east, y north, camera frame). Empty in, ``(0, 2)``
        out. Points above the horizon map behind the camera: check ``in_front_of_camera``.
        """
        arr = np.asarray(pts, dtype=np.float64).reshape(-1, 1, 2)
        if arr.size == 0:
            return np.zeros((0, 2))
        out = cv2.perspectiveTransform(arr, self.h_img_to_ground)
        return np.asarray(out, dtype=np.float64).reshape(-1, 2)

    def ground_to_pixels(self, pts: FloatArray | Sequence[Sequence[float]]) -> FloatArray:
        """Ground metres ``(N, 2)`` (x east, y north) → image pixels ``(N, 2)`` ``float64``;
        the inverse of ``pixels_to_ground``.
        """
        arr = np.asarray(pts, dtype=np.float64).reshape(-1, 1, 2)
        if arr.size == 0:
            return np.zeros((0, 2))
        out = cv2.perspectiveTransform(arr, self.h_ground_to_img)
        return np.asarray(out, dtype=np.float64).reshape(-1, 2)

    def ground_to_lonlat(self, pts: FloatArray) -> FloatArray:
        """Ground metres ``(N, 2)`` → WGS84 ``(N, 2)`` ``float64`` degrees, (lon, lat) order."""
        x, y = self.to_lonlat.transform(pts[:, 0], pts[:, 1])
        return np.column_stack([x, y]).astype(np.float64)

    def point_to_lonlat(self, xy: tuple[float, float]) -> tuple[float, float]:
        """One ground point (x, y) in metres → (lon, lat) in WGS84 degrees."""
        lon, lat = self.to_lonlat.transform(xy[0], xy[1])
        return float(lon), float(lat)

    def lonlat_to_ground(self, pts: FloatArray | Sequence[Sequence[float]]) -> FloatArray:
        """WGS84 (lon, lat) degrees, ``(N, 2)`` → ground metres ``(N, 2)`` ``float64``."""
        arr = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        x, y = self.from_lonlat.transform(arr[:, 0], arr[:, 1])
        return np.column_stack([x, y]).astype(np.float64)

    def pixels_to_lonlat(self, pts: FloatArray | Sequence[Sequence[float]]) -> FloatArray:
        """Image pixels ``(N, 2)`` → WGS84 ``(N, 2)`` degrees, (lon, lat) order."""
        return self.ground_to_lonlat(self.pixels_to_ground(pts))

    def in_front_of_camera(self, ground_pts: FloatArray) -> NDArray[np.bool_]:
        """Whether ground points map to the image side of the horizon (w > 0)."""
        homog = np.column_stack([ground_pts, np.ones(len(ground_pts))]) @ self.h_ground_to_img.T
        return np.asarray(homog[:, 2] * self.front_sign > 0)


def _check_spread(pts: FloatArray, kind: str, where: str) -> None:
    """Reject control points that cannot fix a homography: three on one line."""
    limit = _MIN_TRIANGLE[kind]
    largest = 0.0
    for i, j, k in combinations(range(len(pts)), 3):
        a, b, c = pts[i], pts[j], pts[k]
        area2 = abs((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))
        largest = max(largest, area2)
        if len(pts) == 4 and area2 < limit:
            raise SiteError(
                f"{where}.control_points: points {i}, {j} and {k} are collinear in {kind} "
                "coordinates; a homography needs 4 points with no three on a line"
            )
    if largest < limit:
        raise SiteError(f"{where}.control_points: all points are collinear in {kind} coordinates")
