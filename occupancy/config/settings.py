"""Run-time settings, read from the environment (``BAYWATCH_*``) or a ``.env`` file.

Every option that is not part of a site description lives here, validated once.
Command-line options override these values; site files (``occupancy.config.site``)
describe one camera and are validated separately.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

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

    # allow_inf_nan off: "inf" or "nan" for a timeout or a rate is a typo, not a setting.
    model_config = SettingsConfigDict(
        env_prefix="BAYWATCH_", env_file=".env", extra="ignore", frozen=True, allow_inf_nan=False
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
    api_job_lease_s: float = Field(
        default=60.0,
        gt=0,
        description="a running job's lease; renewed while it runs, taken over once expired",
    )

    # -- limits and trust (issue 14: safe on a city's network) -------------------------
    api_max_body_bytes: int = Field(
        default=16 * 2**20, ge=1024, description="largest request body, except footage uploads"
    )
    api_max_upload_bytes: int = Field(
        default=4 * 2**30, ge=1024, description="largest footage upload (PUT /jobs/uploads)"
    )
    api_media_roots: list[str] = Field(
        default_factory=list,
        description="folders whose footage jobs may name by path; empty = no paths accepted",
    )
    api_source_urls: list[str] = Field(
        default_factory=list,
        description="URL prefixes (scheme://host[:port][/path]) footage jobs may fetch; empty = none",
    )
    api_source_networks: list[str] = Field(
        default_factory=list,
        description="non-public networks footage URLs may resolve to (the cameras' own); "
        "empty = public addresses only, or an IP written in api_source_urls",
    )
    api_trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses/networks whose X-Forwarded-For is believed; empty = none",
    )
    api_max_streams: int = Field(default=1000, ge=1, description="open event streams, in total")
    api_max_streams_per_key: int = Field(
        default=50, ge=1, description="open event streams of one API key"
    )
    api_max_streams_per_address: int = Field(
        default=4, ge=1, description="open event streams of one anonymous address"
    )
    api_stream_opens_per_s: float = Field(
        default=0.5, gt=0, description="event streams one client may open per second (burst 5)"
    )
    api_stream_write_timeout_s: float = Field(
        default=30.0, gt=0, description="a stream whose client reads nothing for this long closes"
    )
    api_header_timeout_s: float = Field(
        default=10.0, gt=0, description="a client must send a request's headers within this time"
    )
    api_body_timeout_s: float = Field(
        default=30.0, gt=0, description="longest wait for the next chunk of a request body"
    )

    @property
    def basemap_dir(self) -> Path:
        """Folder of the local basemap layers (``baywatch basemap build``)."""
        return self.data_dir / "basemap"

    @field_validator("api_default_view")
    @classmethod
    def _view(
        cls, v: tuple[float, float, float, float] | None
    ) -> tuple[float, float, float, float] | None:
        # RFC 7946 bbox order; a view across the antimeridian is not a kerb-side city's.
        if v is None:
            return v
        w, south, e, n = v
        if not (-180 <= w < e <= 180 and -90 <= south < n <= 90):
            raise ValueError(
                "expected [west, south, east, north] in degrees (lon/lat, WGS 84),"
                f" west < east and south < north, got {list(v)}"
            )
        return v

    @field_validator("api_tile_url")
    @classmethod
    def _web_url(cls, v: str | None) -> str | None:
        # The map hands this URL to the browser: only http(s), never javascript: or data:.
        if v is not None and not v.lower().startswith(("https://", "http://")):
            raise ValueError(f"must be an http(s) URL, got {v!r}")
        return v

    @field_validator("tz", "api_time_zone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {v!r}") from exc
        return v

    @field_validator("api_trusted_proxies", "api_source_networks")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        import ipaddress

        for entry in v:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return v

    @field_validator("api_source_urls")
    @classmethod
    def _url_prefixes(cls, v: list[str]) -> list[str]:
        from urllib.parse import urlsplit

        for entry in v:
            u = urlsplit(entry)
            if u.scheme not in ("http", "https", "rtsp", "rtsps") or not u.hostname:
                raise ValueError(f"{entry!r} is not a scheme://host[:port][/path] prefix")
        return v


# BAYWATCH_* variables read outside Settings: a command option's envvar, the compiled-model
# cache (vision.openvino_runner, below this layer), the test suite's PostgreSQL URL, and
# compose.yaml's own (deploy.env.example: they sit in the same .env as the settings).
OTHER_VARIABLES = frozenset(
    {
        "BAYWATCH_PUSH_KEY",
        "BAYWATCH_CACHE",
        "BAYWATCH_TEST_PG_URL",
        "BAYWATCH_PORT",
        "BAYWATCH_MODELS_DIR",
        "BAYWATCH_SITES_DIR",
    }
)


def unknown_variables(environ: Mapping[str, object], where: str = "") -> list[str]:
    """One line for each ``BAYWATCH_*`` variable in ``environ`` that baywatch does not read.

    pydantic-settings ignores them, so a misspelt ``BAYWATCH_DBB`` would silently leave
    the default database in use; each line names the closest known variable, e.g.
    ``BAYWATCH_DBB is not a baywatch setting and is ignored (did you mean BAYWATCH_DB?)``.
    ``where``: said after the name (``" in .env"`` for a settings file's keys).
    """
    known = {f"BAYWATCH_{name.upper()}" for name in Settings.model_fields} | OTHER_VARIABLES
    lines = []
    for name in sorted(environ):
        if name.upper().startswith("BAYWATCH_") and name.upper() not in known:
            close = difflib.get_close_matches(name.upper(), sorted(known), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            lines.append(f"{name}{where} is not a baywatch setting and is ignored{hint}")
    return lines


def unknown_in_env_file(path: Path) -> list[str]:
    """``unknown_variables`` for the keys of a ``.env`` settings file (python-dotenv's parser,
    the one pydantic-settings reads it with); a file that cannot be read gives none."""
    from dotenv import dotenv_values

    try:
        return unknown_variables(dotenv_values(path), f" in {path}")
    except (OSError, UnicodeDecodeError):
        return []  # reading the settings themselves reports it


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process settings, read and validated once.

    Raises ``pydantic.ValidationError`` for a bad ``BAYWATCH_*`` value; ``describe_error``
    turns it into the one line the commands print.
    """
    return Settings()


def describe_error(exc: ValidationError | SettingsError) -> str:
    """One line naming each bad setting by its environment variable, e.g.
    ``BAYWATCH_API_JOB_WORKERS=-1: Input should be greater than or equal to 0``."""
    if isinstance(exc, SettingsError):
        # Raised before validation when a list or dict value is not JSON.
        m = re.search(r'field "(\w+)"', str(exc))
        name = f"BAYWATCH_{m.group(1).upper()}" if m else "a BAYWATCH_* value"
        return f'invalid setting {name}: not valid JSON (write a list as ["a", "b"])'
    parts = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "?"
        value = err.get("input")
        shown = f"={value}" if isinstance(value, str | int | float) else ""
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"BAYWATCH_{field.upper()}{shown}: {msg}")
    return "invalid setting " + "; ".join(parts)
