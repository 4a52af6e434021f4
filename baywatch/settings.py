"""Run-time settings, read from the environment (``BAYWATCH_*``) or a ``.env`` file.

Every option that is not part of a site description lives here, validated once.
Command-line options override these values; site files (``occupancy.site``)
describe one camera and are validated separately.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "yolo11n.pt"
DEFAULT_DB = "sqlite:///baywatch.db"


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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
