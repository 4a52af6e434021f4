"""Frame-level observation steps: tracked boxes → ground observations, zones from a site.

Pure functions with no storage: ``prepare`` builds the ground projection and the compiled
zones of a site once; ``observations`` turns tracked ``Detections`` (pixels) into
``TrackObservation``s on the ground (local metres); ``check_frame_size`` refuses a source
whose frames do not match the site's drawing. The orchestration that reads a source, runs
the detector and writes to the store is ``occupancy.runtime.analysis.analyse``; its
module docstring has a runnable end-to-end example (site → analyse → sessions table).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from occupancy.config.site import Site, SiteError
from occupancy.domain.records import VehicleType
from occupancy.observe.calibration import GroundProjection
from occupancy.observe.machine import TrackObservation
from occupancy.observe.zones import Zone, compile_zones
from vision.sources import FrameSource
from vision.types import Detections

DEFAULT_ANALYSIS_FPS = 2.0
# Share of a box's height, from its bottom, taken as the vehicle's ground footprint: seen
# obliquely from above, the lower part of a car's box is its body on the ground, the upper
# part its roof and what stands behind it.
FOOTPRINT_BOX_SHARE = 0.3
# A box side within this many pixels of the frame's left or right border is the border's.
_BORDER_PX = 1.0


def resolve_start_ms(start_ms: int | None, site: Site) -> int | None:
    """The footage's start time, ms since the epoch: ``start_ms`` when given (``--start``),
    else the site's ``source.start_time``, else None (the source decides, see
    ``vision.sources.FrameSource.clock``).

    Raises ``ValueError`` for a time before 1970 (CDS times are ms since the Unix epoch,
    never negative).
    """
    if start_ms is None and site.source.start_time is not None:
        start_ms = round(site.source.start_time.timestamp() * 1000)
    if start_ms is not None and start_ms < 0:
        raise ValueError(
            f"start time {start_ms} ms is before 1970-01-01: CDS times are ms since the Unix epoch"
        )
    return start_ms


def observations(
    vehicles: Detections,
    proj: GroundProjection,
    class_map: Mapping[str, VehicleType],
    frame_size: tuple[int, int] | None = None,
    earlier: Mapping[int, Sequence[tuple[int, Detections]]] | None = None,
) -> list[TrackObservation]:
    """Ground footprints of tracked vehicles (bottom centre and bottom corners), with the
    ground span of one pixel at each footprint (the machine's rest radius follows it).

    ``frame_size`` (width, height in pixels): a box touching the frame's left or right
    border has no bottom corners (``edge`` None, ``clipped`` True): its side there is the
    frame's, which stays put while the vehicle drives out of view, and its width is not
    the vehicle's. ``earlier``: by track id, the boxes of that vehicle before its track was
    confirmed, as (time in ms, one-box ``Detections``) oldest first
    (``VehicleTracker.earlier``); they become the observation's ``earlier``."""
    if len(vehicles) == 0 or vehicles.tracker_id is None:
        return []
    if earlier:
        return [
            dataclasses.replace(
                o,
                earlier=tuple(
                    (t, e)
                    for t, box in earlier.get(o.track_id, ())
                    for e in observations(box, proj, class_map, frame_size)
                ),
            )
            for o in observations(vehicles, proj, class_map, frame_size)
        ]
    bl = np.column_stack([vehicles.xyxy[:, 0], vehicles.xyxy[:, 3]])
    br = np.column_stack([vehicles.xyxy[:, 2], vehicles.xyxy[:, 3]])
    bc = vehicles.bottom_center
    # One pixel right and one pixel up of the footprint: the ground span of a pixel there.
    right, up = bc + np.array([1.0, 0.0]), bc - np.array([0.0, 1.0])
    # The lower part of the box: on an oblique view, where the vehicle meets the ground.
    lift = (vehicles.xyxy[:, 3] - vehicles.xyxy[:, 1]) * FOOTPRINT_BOX_SHARE
    tl = np.column_stack([vehicles.xyxy[:, 0], vehicles.xyxy[:, 3] - lift])
    tr = np.column_stack([vehicles.xyxy[:, 2], vehicles.xyxy[:, 3] - lift])
    pts = proj.pixels_to_ground(np.vstack([bc, bl, br, right, up, tr, tl]))
    n = len(vehicles)
    mpp = np.maximum(
        np.linalg.norm(pts[3 * n : 4 * n] - pts[:n], axis=1),
        np.linalg.norm(pts[4 * n : 5 * n] - pts[:n], axis=1),
    )
    ahead = proj.in_front_of_camera(pts[:n])
    # The footprint is usable where all its corners are on the ground in front of the camera.
    ahead_all = (
        ahead
        & proj.in_front_of_camera(pts[5 * n : 6 * n])
        & proj.in_front_of_camera(pts[6 * n : 7 * n])
    )
    names = vehicles.names()
    clipped = np.zeros(n, bool)
    if frame_size is not None:
        clipped = (vehicles.xyxy[:, 0] <= _BORDER_PX) | (
            vehicles.xyxy[:, 2] >= frame_size[0] - _BORDER_PX
        )
    out = []
    for i in range(n):
        vt = class_map.get(names[i])
        if vt is None or not ahead[i]:
            continue
        out.append(
            TrackObservation(
                track_id=int(vehicles.tracker_id[i]),
                ground=(float(pts[i, 0]), float(pts[i, 1])),
                vehicle_type=vt,
                confidence=float(vehicles.confidence[i]),
                edge=None
                if clipped[i]
                else (
                    (float(pts[n + i, 0]), float(pts[n + i, 1])),
                    (float(pts[2 * n + i, 0]), float(pts[2 * n + i, 1])),
                ),
                clipped=bool(clipped[i]),
                metres_per_px=float(mpp[i]) if np.isfinite(mpp[i]) else None,
                footprint=tuple(
                    (float(pts[k * n + i, 0]), float(pts[k * n + i, 1])) for k in (1, 2, 5, 6)
                )
                if ahead_all[i]
                else None,
            )
        )
    return out


def prepare(site: Site) -> tuple[GroundProjection, list[Zone]]:
    """A site's ground projection and its compiled zones (bays first, then lane zones), in
    the camera's ground frame. Raises ``SiteError`` for a calibration or zone that cannot
    be used (see ``GroundProjection.from_calibration`` and ``compile_zones``).
    """
    proj = GroundProjection.from_calibration(site.calibration)
    return proj, compile_zones(site, proj)


def check_frame_size(site: Site, source: FrameSource) -> None:
    """Refuse footage whose frames do not match the site: raises ``SiteError`` when the site's
    ``frame_size`` (width, height in pixels) differs from the source's, or a zone's pixel
    vertex lies outside the frame. Does nothing when the source's size is unknown.
    """
    actual = source.info.frame_size
    if actual is None:
        return
    if site.frame_size is not None and tuple(site.frame_size) != tuple(actual):
        raise SiteError(
            f"frame_size: site describes {site.frame_size[0]}x{site.frame_size[1]} frames but "
            f"{source.info.description} is {actual[0]}x{actual[1]}"
        )
    w, h = actual
    for kind, zones in (("bays", site.bays), ("lane_zones", site.lane_zones)):
        for i, z in enumerate(zones):
            for x, y in z.pixels or ():
                if not (0 <= x <= w and 0 <= y <= h):
                    raise SiteError(f"{kind}.{i}.pixels: [{x}, {y}] is outside the {w}x{h} frame")
