"""The FastAPI application: one service for planners, operators, CDS clients and cameras.

``create_app`` wires settings, store, live state and background workers; ``baywatch
serve`` runs it under uvicorn. Errors answer in the CDS error shape
(``error``/``error_description``/``error_details``); request validation failures are
400 with one detail line per bad field.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import Scope as AsgiScope
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api.cds import error_body
from api.fastpath import AvailabilityFastPath
from api.forwarded import UnvouchedForwarding
from api.jobs import JobQueue, JobRunner
from api.keys import KeyStore
from api.limits import RequestGuard, StreamSlots
from api.live import Broadcaster, LiveFollower, LiveIndex
from api.params import known_query_params
from api.profiles import Profiles
from api.routes import (
    availability,
    curbs,
    events,
    ingest,
    jobs,
    mapapi,
    metrics,
    proposals,
    setup,
)
from api.security import RateLimiter
from api.sources import FootagePolicy
from api.state import ApiState
from api.vendoring import served_dir
from occupancy.config.settings import Settings, get_settings
from occupancy.storage.rate_limits import bucket_engine
from occupancy.storage.store import Store, now_ms

log = logging.getLogger(__name__)

# A client reconnecting a few streams at once (several map tabs) is not an attack.
STREAM_OPEN_BURST = 5

WEB_DIR = Path(__file__).resolve().parent / "web"
STATIC_DIR = WEB_DIR / "static"
NODE_MODULES = WEB_DIR / "node_modules"
VENDOR = {
    "maplibre": NODE_MODULES / "maplibre-gl" / "dist",
    "chartjs": NODE_MODULES / "chart.js" / "dist",
    "swagger": NODE_MODULES / "swagger-ui-dist",
}


class CodeOnlyStatic(StaticFiles):
    """Static files limited to code and styles: the service never serves images."""

    ALLOWED = (".html", ".js", ".css", ".json", ".map", ".txt")

    async def get_response(self, path: str, scope: AsgiScope) -> Response:
        """Serve only the front end's code and style files; anything else is a 404."""
        if not path.endswith(self.ALLOWED) and path not in ("", "."):
            return Response(
                error_body(404, f"not served: {path}"), 404, media_type="application/json"
            )
        return await super().get_response(path, scope)


def _json_error(
    status: int,
    description: str,
    details: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        error_body(status, description, details),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    job_runners: Mapping[str, JobRunner] | None = None,
    background: bool = True,
) -> FastAPI:
    """Build the service. ``background=False`` runs no threads (tests drive them).

    ``job_runners`` replaces what runs jobs of a kind (``footage``, ``placement``,
    ``timeslots``), e.g. a stand-in in tests.
    """
    settings = settings or get_settings()
    store = store or Store(settings.db)
    live = LiveIndex()
    # Rate limits count in the database, which other processes may serve too, unless it
    # is this process's own (in-memory SQLite): then counting here is exact and free.
    private = store.dialect == "sqlite" and store.engine.url.database in (None, "", ":memory:")
    shared = None if private else bucket_engine(store.engine)
    state = ApiState(
        settings=settings,
        store=store,
        keys=KeyStore(store),
        live=live,
        follower=LiveFollower(store, live, settings.api_live_refresh_s),
        broadcaster=Broadcaster(),
        limiter=RateLimiter(
            settings.api_rate_limit_per_s, settings.api_rate_limit_burst, engine=shared
        ),
        profiles=Profiles(store, settings.api_time_zone),
        jobs=JobQueue(
            store,
            job_runners,
            lease_s=settings.api_job_lease_s,
            footage=FootagePolicy.from_settings(settings),
        ),
        streams=StreamSlots(
            settings.api_max_streams,
            settings.api_max_streams_per_key,
            settings.api_max_streams_per_address,
        ),
        stream_opens=RateLimiter(
            settings.api_stream_opens_per_s, STREAM_OPEN_BURST, name="stream-opens", engine=shared
        ),
    )
    live.add_listener(state.broadcaster.publish)
    # Read state now, not in the lifespan, so the app answers correctly at once
    # (and in tests that do not run the lifespan).
    state.follower.load_all()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.broadcaster.bind(asyncio.get_running_loop())
        # The bays and their state live as long as the process: moving them out of the
        # collector's generations keeps full collections (latency spikes) short.
        gc.collect()
        gc.freeze()
        if background:
            state.follower.start()
            state.profiles.start(settings.api_stats_refresh_s, now_ms)
            state.jobs.start(settings.api_job_workers)
        try:
            yield
        finally:
            state.jobs.stop()
            state.profiles.stop()
            state.follower.stop()
            if shared is not None and shared.pool is not store.engine.pool:
                shared.dispose()  # PostgreSQL: the buckets' own connections

    app = FastAPI(
        title="baywatch",
        version="0.1.0",
        summary="Delivery-bay occupancy: map API, live availability, CDS 1.0, ingestion, jobs.",
        lifespan=lifespan,
        docs_url=None,  # served below from local files: no CDN
        redoc_url=None,
        # A misspelt filter is a 400, not an answer about everything (api.params).
        dependencies=[Depends(known_query_params)],
    )
    app.state.api = state

    # Well-formed availability queries skip FastAPI's machinery.
    app.add_middleware(AvailabilityFastPath, state=state)
    # Only big answers (a city's GeoJSON: MBs) are worth compressing; small ones stay fast.
    app.add_middleware(GZipMiddleware, minimum_size=64_000)
    # Sizes, times and keys of request bodies, before the application reads one byte.
    app.add_middleware(RequestGuard, state=state)
    if settings.api_trusted_proxies:
        # Behind a reverse proxy: the client address is the proxy's X-Forwarded-For,
        # believed only from the configured proxies (uvicorn's own trust is off).
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.api_trusted_proxies)
    if settings.api_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api_cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Accept"],
        )
    # Outermost: an address the server itself took from X-Forwarded-For (uvicorn's
    # default outside `baywatch serve`) is not believed (api.forwarded).
    app.add_middleware(UnvouchedForwarding)

    for r in (curbs, events, metrics, mapapi, availability, ingest, jobs, proposals, setup):
        app.include_router(r.router)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_req: Request, exc: StarletteHTTPException) -> Response:
        return _json_error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(DataError)
    async def _refused_value(_req: Request, exc: DataError) -> Response:
        # PostgreSQL refuses NUL in text (SQLite stores it): a client's value, not a fault of
        # the server. Anything else the database calls bad data is a server error as before.
        if "NUL" not in str(exc.orig):
            raise exc
        return _json_error(400, "invalid request: text may not contain NUL (\\u0000) characters")

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> Response:
        details = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()))
            details.append(f"{where}: {e.get('msg', 'invalid')}")
        first = details[0] if details else "invalid request"
        # A body list over its cap (e.g. an ingest batch of more than MAX_BATCH events) is
        # content too large to process (RFC 9110 §15.5.14), not a malformed request.
        too_many = [
            e for e in exc.errors() if e.get("type") == "too_long" and len(e.get("loc", ())) == 2
        ]
        if too_many and too_many[0]["loc"][0] == "body":
            e = too_many[0]
            cap = e.get("ctx", {}).get("max_length")
            return _json_error(
                413,
                f"request body too large: {e['loc'][1]} holds at most {cap} items; "
                "send them in several requests",
                details,
            )
        return _json_error(400, f"invalid request: {first}", details)

    @app.get("/", include_in_schema=False)
    def _root() -> RedirectResponse:
        return RedirectResponse("/web/")

    # async: a liveness probe must not queue behind the thread pool
    @app.get("/health", tags=["Service"])
    async def health() -> dict[str, object]:
        """Liveness and a summary of what the service holds."""
        return {
            "status": "ok",
            "bays": len(live.bays),
            "states": live.counts(),
            "profiles_computed_ms": state.profiles.snapshot.computed_ms or None,
        }

    @app.get("/docs", include_in_schema=False)
    def _docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="baywatch API",
            swagger_js_url="/vendor/swagger/swagger-ui-bundle.js",
            swagger_css_url="/vendor/swagger/swagger-ui.css",
            swagger_favicon_url="data:,",
        )

    app.mount("/web", CodeOnlyStatic(directory=STATIC_DIR, html=True), name="web")
    for name, source in VENDOR.items():
        path = served_dir(name, source)  # the wheel's copy, else npm's node_modules
        if path.is_dir():
            app.mount(f"/vendor/{name}", CodeOnlyStatic(directory=path), name=f"vendor-{name}")
        else:
            log.warning("%s is missing: run `make setup` (npm ci) for the web map", path)
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory api.app:app_from_env``."""
    return create_app()
