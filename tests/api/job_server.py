"""A ``baywatch serve``-like process whose footage jobs only record who ran them.

Used by the two-process test in ``test_jobs.py``: ``python -m tests.api.job_server DB
PORT LOG MEDIA RELEASE``. Each job waits until the file ``RELEASE`` exists (so the test
decides how long jobs run), then appends ``<camera_id> <pid>`` to ``LOG``; a job run
twice appears twice.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import uvicorn

from api.app import create_app
from api.jobs import Progress
from api.server import server_config
from occupancy.config.settings import Settings
from occupancy.storage.store import Store


def main() -> None:
    db, port, log, media = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    release = Path(sys.argv[5])

    def record(
        source: str, site: Mapping[str, Any], store: Store, progress: Progress
    ) -> Mapping[str, Any]:
        deadline = time.monotonic() + 120
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.1)
        with open(log, "a") as f:  # O_APPEND: lines of both processes never interleave
            f.write(f"{site['camera_id']} {os.getpid()}\n")
        return {"pid": os.getpid()}

    settings = Settings(db=db, api_media_roots=[media], api_job_workers=2, api_job_lease_s=2.0)
    app = create_app(settings, job_runners={"footage": record})
    uvicorn.Server(server_config(app, settings, "127.0.0.1", port, log_level="warning")).run()


if __name__ == "__main__":
    main()
