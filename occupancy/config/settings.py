"""Run-time settings, read from the environment (``BAYWATCH_*``) or a ``.env`` file.

Every option that is not part of a site description lives here, validated once.
Command-line options override these values; site files (``occupancy.config.site``)
describe one camera and are validated separately.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "yolo11n.pt"
DEFAULT_DB = "sqlite:///baywatch.db"
# The OpenStreetMap Foundation's standard raster tiles: fine for light use with credit
# (tile usage policy); a busy deployment points this at its own tile server or style.
OSM_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


def _default_data_dir() -> Path:
    """XDG data folder: data baywatch builds (basemaps, site files) lives outside any checkout."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "baywatch"


class Settings(BaseSettings):
    """Process-wide settings.

    ``db``: any SQLAlchemy URL; the default is an embedded SQLite file in the
    working directory. ``model``: YOLO weights (path or ultralytics name) used
    when a command is given none; ``yolo11n.pt`` is downloaded by ultralytics
    when online.
    """

    model_config = SettingsConfigDict(
        env_prefix="BAYWATCH_", env_file=".env", extra="ignore", frozen=True
    )

    db: str = Field(default=DEFAULT_DB, description="SQLAlchemy database URL")
    model: str = Field(default=DEFAULT_MODEL, description="YOLO weights path or name")
    tz: str = Field(default="Europe/Paris", description="site time zone for local-hour statistics")
    live_frame_timeout_s: float = Field(
        default=5.0,
        gt=0,
        description="seconds without a frame after which a live stream counts as lost "
        "(comms_lost, stamped with its last good frame)",
    )

    # -- HTTP service (``baywatch serve``) ---------------------------------------------
    api_time_zone: str = Field(
        default="Europe/Paris", description="IANA zone of the curb regulations (CDS time_zone)"
    )
    api_cors_origins: list[str] = Field(
        default_factory=list, description="origins allowed by CORS; empty = same origin only"
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="where baywatch keeps what it builds: the local basemap, saved site files",
    )
    api_tile_url: str | None = Field(
        default=OSM_TILE_URL,
        description="online basemap: raster tiles ({z}/{x}/{y}) or a MapLibre style URL",
    )
    api_basemap: Literal["auto", "local", "online", "none"] = Field(
        default="auto",
        description="auto: the local basemap (`baywatch basemap build`) when built, else the "
        "online tiles; local/online: only that one; none: plain background",
    )
    api_default_view: tuple[float, float, float, float] | None = Field(
        default=None,
        description="[west, south, east, north] the map opens on; none = where most bays are",
    )
    api_holidays: str = Field(
        default="FR",
        pattern=r"^[A-Z]{2}$",
        description="ISO country whose public holidays make the map's Sunday-holiday day type",
    )
    api_setup_camera_urls: list[str] = Field(
        default_factory=list,
        description="camera snapshot URLs the set-up page may fetch a frame from: exact URLs, "
        "or prefixes ending in '/'; empty = upload only",
    )
    api_rate_limit_per_s: float = Field(
        default=20.0, ge=0, description="public requests per second per client IP; 0 = no limit"
    )
    api_rate_limit_burst: int = Field(default=60, ge=1, description="token-bucket burst size")
    api_live_refresh_s: float = Field(
        default=2.0, gt=0, description="how often live bay state is re-read from the database"
    )
    api_stats_refresh_s: float = Field(
        default=600.0, gt=0, description="how often weekly occupancy profiles are recomputed"
    )
    api_job_workers: int = Field(default=1, ge=0, description="batch-job worker threads")

    @property
    def basemap_dir(self) -> Path:
        """Folder of the local basemap layers (``baywatch basemap build``)."""
        return self.data_dir / "basemap"

    @field_validator("tz", "api_time_zone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {v!r}") from exc
        return v


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process settings, read and validated once.

    Raises ``pydantic.ValidationError`` for a bad ``BAYWATCH_*`` value; ``describe_error``
    turns it into the one line the commands print.
    """
    return Settings()


def describe_error(exc: ValidationError) -> str:
    """One line naming each bad setting by its environment variable, e.g.
    ``BAYWATCH_API_JOB_WORKERS=-1: Input should be greater than or equal to 0``."""
    parts = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "?"
        value = err.get("input")
        shown = f"={value}" if isinstance(value, str | int | float) else ""
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"BAYWATCH_{field.upper()}{shown}: {msg}")
    return "invalid setting " + "; ".join(parts)
