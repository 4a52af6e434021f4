"""Camera set-up from the browser (admin key): a frame, control points, the reprojection
error, the inventory's bays projected onto the frame, and a validated site file.

Privacy (CNIL): a frame is decoded in memory and sent back to the browser once; nothing
is written to disk except, for a video upload, a temporary file OpenCV needs to decode it,
deleted before the answer leaves. A camera URL is fetched only when it is on the
``api_setup_camera_urls`` allow-list; the client never names a server path.

The calibration is computed by the same ``GroundProjection`` the CLI uses
(``occupancy.observe.calibration``), and a site file is validated by the same ``Site``
model and zone compilation (``occupancy.observe.pipeline.prepare``) as ``baywatch analyse``.
"""

from __future__ import annotations

import base64
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from api.keys import Scope
from api.params import bad_request
from api.security import require
from api.site_policy import SiteRefused, check_client_site
from api.state import ApiState, get_state
from occupancy.config.site import Calibration, ControlPoint, Site, SiteError

router = APIRouter(
    prefix="/setup", tags=["Camera set-up"], dependencies=[Depends(require(Scope.ADMIN))]
)

MAX_UPLOAD_BYTES = 200 * 1024 * 1024  # a few minutes of 1080p: enough for one frame
MAX_URL_BYTES = 20 * 1024 * 1024
MAX_FRAME_SIDE = 4096
JPEG_QUALITY = 88
NEAR_MARGIN_M = 80.0  # inventory bays this far beyond the control points are offered
MAX_BAYS_PROJECTED = 200


class Frame(BaseModel):
    """One frame for the set-up page: pixel size and a JPEG data URL (never stored)."""

    width: int
    height: int
    image: str = Field(description="data:image/jpeg;base64,... (kept only by the browser)")


def _to_frame(img: Any) -> Frame:
    import cv2

    if img is None or getattr(img, "size", 0) == 0:
        raise bad_request("no frame could be decoded from this input")
    h, w = img.shape[:2]
    if max(w, h) > MAX_FRAME_SIDE:
        raise bad_request(f"frame {w}x{h} is larger than {MAX_FRAME_SIDE} px on a side")
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise bad_request("the frame could not be encoded")
    data = base64.b64encode(buf.tobytes()).decode("ascii")
    return Frame(width=int(w), height=int(h), image=f"data:image/jpeg;base64,{data}")


def _decode(data: bytes, at_s: float) -> Frame:
    """First frame (or the frame at ``at_s``) of an image or video held in memory."""
    import cv2

    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is not None:
        return _to_frame(img)
    # A video: OpenCV decodes from a file only; the file lives for this call alone.
    with tempfile.NamedTemporaryFile(suffix=".video") as tmp:
        tmp.write(data)
        tmp.flush()
        cap = cv2.VideoCapture(tmp.name)
        try:
            if not cap.isOpened():
                raise bad_request("not an image or a video OpenCV can decode")
            if at_s > 0:
                cap.set(cv2.CAP_PROP_POS_MSEC, at_s * 1000.0)
            ok, img = cap.read()
        finally:
            cap.release()
    if not ok:
        raise bad_request("the video has no frame at that time")
    return _to_frame(img)


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"upload larger than {limit // (1024 * 1024)} MB")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"upload larger than {limit // (1024 * 1024)} MB")
        chunks.append(chunk)
    if size == 0:
        raise bad_request("empty upload: send the image or video file as the request body")
    return b"".join(chunks)


@router.post("/frame", response_model=Frame)
async def frame_from_upload(
    request: Request,
    at_s: float = Query(0.0, ge=0, le=86_400, description="time in the video, seconds"),
) -> Frame:
    """Decode one frame of an uploaded image or video (the raw file as the request body,
    at most 200 MB). The frame is returned, not kept."""
    data = await _body(request, MAX_UPLOAD_BYTES)
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_decode, data, at_s)


class CameraUrl(BaseModel):
    """A camera snapshot or stream URL; fetched only when on the allow-list."""

    url: str = Field(min_length=1, max_length=2000)


def url_allowed(url: str, allowed: list[str]) -> bool:
    """Exact match, or a prefix entry ending in '/' (so 'http://cam/' never admits
    'http://cam.evil/')."""
    return any(url == a or (a.endswith("/") and url.startswith(a)) for a in allowed)


@router.post("/frame-from-url", response_model=Frame)
def frame_from_url(body: CameraUrl, state: ApiState = Depends(get_state)) -> Frame:
    """Fetch one frame from a camera snapshot URL on the ``api_setup_camera_urls``
    allow-list (an HTTP(S) image, or a stream OpenCV opens, e.g. rtsp://)."""
    allowed = state.settings.api_setup_camera_urls
    if not url_allowed(body.url, allowed):
        raise HTTPException(
            403, "camera URL not on the allow-list (setting BAYWATCH_API_SETUP_CAMERA_URLS)"
        )
    if body.url.startswith(("http://", "https://")):
        import httpx

        try:
            with httpx.stream("GET", body.url, timeout=10.0) as r:
                if r.status_code != 200:
                    raise bad_request(f"camera answered HTTP {r.status_code}")
                data = b""
                for chunk in r.iter_bytes():
                    data += chunk
                    if len(data) > MAX_URL_BYTES:
                        raise bad_request("camera answer larger than 20 MB")
        except httpx.HTTPError as exc:
            raise bad_request(f"camera unreachable: {exc}") from None
        return _decode(data, 0.0)
    import cv2

    cap = cv2.VideoCapture(body.url)
    try:
        ok, img = cap.read() if cap.isOpened() else (False, None)
    finally:
        cap.release()
    if not ok:
        raise bad_request("no frame could be read from the camera stream")
    return _to_frame(img)


class CalibrationIn(BaseModel):
    """Clicked control points (pixel [x, y], ground [lon, lat]) and the accepted error."""

    control_points: list[ControlPoint] = Field(min_length=4, max_length=50)
    max_error_m: float = Field(1.0, gt=0, le=100)
    frame_size: tuple[int, int] | None = None


class ProjectedBay(BaseModel):
    """An inventory bay drawn on the frame: its polygon in pixels, its distance in m."""

    curb_zone_id: str
    name: str | None
    distance_m: float
    pixels: list[tuple[float, float]]


class CalibrationOut(BaseModel):
    """Reprojection error of each control point (metres on the ground) and the inventory
    bays near the points drawn on the frame (pixel polygons, origin top-left)."""

    rms_error_m: float
    errors_m: list[float]
    max_error_m: float
    ok: bool
    bays: list[ProjectedBay]


@router.post("/calibrate", response_model=CalibrationOut)
def calibrate(body: CalibrationIn, state: ApiState = Depends(get_state)) -> CalibrationOut:
    """Fit the homography of the clicked control points as ``baywatch analyse`` does."""
    from occupancy.observe.calibration import GroundProjection

    # Fit without the error ceiling so every point's error can be shown, then judge.
    # model_construct: the site model caps max_error_m (a typo guard for files); the
    # points were validated as CalibrationIn.
    cal = Calibration.model_construct(control_points=body.control_points, max_error_m=1e9)
    try:
        proj = GroundProjection.from_calibration(cal)
    except SiteError as exc:
        raise bad_request(str(exc)) from None
    px = [cp.pixel for cp in body.control_points]
    ground = proj.lonlat_to_ground([cp.lonlat for cp in body.control_points])
    errors = np.linalg.norm(proj.pixels_to_ground(px) - ground, axis=1)
    lon0 = float(np.mean([cp.lonlat[0] for cp in body.control_points]))
    lat0 = float(np.mean([cp.lonlat[1] for cp in body.control_points]))
    spread = float(np.max(np.linalg.norm(ground - ground.mean(axis=0), axis=1)))
    bays: list[ProjectedBay] = []
    for i, dist in state.live.near(lat0, lon0, spread + NEAR_MARGIN_M, MAX_BAYS_PROJECTED):
        b = state.live.bays[i]
        ring = _outer_ring(b.geometry)
        if ring is None:
            continue
        g = proj.lonlat_to_ground(ring)
        if not bool(np.all(proj.in_front_of_camera(g))):
            continue
        pix = proj.ground_to_pixels(g)
        if not np.all(np.isfinite(pix)):
            continue
        if body.frame_size is not None:
            w, h = body.frame_size
            inside = (
                (pix[:, 0] >= -w) & (pix[:, 0] <= 2 * w) & (pix[:, 1] >= -h) & (pix[:, 1] <= 2 * h)
            )
            if not bool(np.any(inside)):
                continue
        bays.append(
            ProjectedBay(
                curb_zone_id=b.curb_zone_id,
                name=b.name,
                distance_m=round(dist, 1),
                pixels=[(round(float(x), 1), round(float(y), 1)) for x, y in pix],
            )
        )
    worst = float(errors.max())
    return CalibrationOut(
        rms_error_m=round(float(math.sqrt(float(np.mean(errors**2)))), 3),
        errors_m=[round(float(e), 3) for e in errors],
        max_error_m=body.max_error_m,
        ok=worst <= body.max_error_m,
        bays=bays,
    )


def _outer_ring(geometry: Any) -> list[list[float]] | None:
    if not isinstance(geometry, dict) or geometry.get("type") != "Polygon":
        return None
    coords = geometry.get("coordinates") or []
    return [list(p[:2]) for p in coords[0]] if coords else None


class SiteOut(BaseModel):
    """A validated site file: counts, calibration RMS error (m) and the YAML text."""

    camera_id: str
    bays: int
    lane_zones: int
    rms_error_m: float
    saved: bool
    yaml: str = Field(description="the site file, as `baywatch analyse --site` reads it")


@router.post("/site", response_model=SiteOut)
def validate_site(
    body: dict[str, Any],
    save: bool = Query(False, description="also keep it as BAYWATCH_DATA_DIR/sites/CAMERA.yaml"),
    state: ApiState = Depends(get_state),
) -> SiteOut:
    """Validate a site document with the CLI's ``Site`` model and zone compilation;
    400 with one line naming the field when it is wrong, or when it names a path the
    server would open: ``detector.model`` never, ``source.uri`` only under the footage
    policy of jobs (``api.site_policy``)."""
    from occupancy.config.site import parse_site
    from occupancy.observe.pipeline import prepare

    try:
        site = parse_site(body, Path("site"))
        check_client_site(site, state.jobs.footage)
        proj, _zones = prepare(site)
    except (SiteError, SiteRefused) as exc:
        raise bad_request(str(exc)) from None
    text = site_yaml(site)
    if save:
        folder = state.settings.data_dir / "sites"
        folder.mkdir(parents=True, exist_ok=True)
        # camera_id matches ^[A-Za-z0-9_.:-]+$ (Site model): a file name, never a path.
        (folder / f"{site.camera_id.replace(':', '_')}.yaml").write_text(text)
    return SiteOut(
        camera_id=site.camera_id,
        bays=len(site.bays),
        lane_zones=len(site.lane_zones),
        rms_error_m=round(proj.rms_error_m, 3),
        saved=save,
        yaml=text,
    )


def site_yaml(site: Site) -> str:
    """The site as YAML, defaults left out (what a person would have written)."""
    data = site.model_dump(mode="json", exclude_defaults=True)
    header = "# Written by the baywatch set-up page; validated by the same model as the CLI.\n"
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
