"""CDS response envelope, content types and ``Accept`` negotiation (CDS 1.0 and 1.1).

CDS (general-information.md, "REST Endpoints" and "Versioning"): JSON responses carry
``version``, ``time_zone``, ``last_updated``, ``currency`` and ``data``, with content
type ``application/vnd.cds+json;version=X.Y``; Metrics responses are CSV with
``application/vnd.cds+csv;version=X.Y``. The version parameter names major.minor; a
client asking for a patch release (``1.0.1``) gets that minor version. Without a
version (or without an ``Accept`` header, or with a wildcard) the latest supported
version (``LATEST``) answers. An ``Accept`` header that admits neither a CDS type at a
supported version nor a wildcard gets ``406 Not Acceptable``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from fastapi import HTTPException, Query, Request
from fastapi.responses import Response

SUPPORTED = ("1.0", "1.1")
LATEST = "1.1"
# Names kept for callers that document the media type in OpenAPI.
CDS_VERSION = LATEST
CDS_JSON_TYPE = "application/vnd.cds+json"
CDS_CSV_TYPE = "application/vnd.cds+csv"
CDS_JSON = f"{CDS_JSON_TYPE};version={LATEST}"
CDS_CSV = f"{CDS_CSV_TYPE};version={LATEST}"


def json_media(version: str) -> str:
    """The CDS JSON media type of ``version`` (``application/vnd.cds+json;version=...``)."""
    return f"{CDS_JSON_TYPE};version={version}"


def csv_media(version: str) -> str:
    """The CDS CSV media type of ``version`` (``application/vnd.cds+csv;version=...``)."""
    return f"{CDS_CSV_TYPE};version={version}"


def _parse_accept(header: str) -> list[tuple[str, dict[str, str], float]]:
    out = []
    for part in header.split(","):
        bits = [b.strip() for b in part.split(";")]
        if not bits[0]:
            continue
        params = {}
        for p in bits[1:]:
            k, _, v = p.partition("=")
            params[k.strip().lower()] = v.strip().strip('"')
        try:
            q = float(params.get("q", "1"))
        except ValueError:
            q = 1.0
        if q <= 0:
            continue
        out.append((bits[0].lower(), params, q))
    return out


def _minor(version: str) -> str | None:
    """'1.0.1' -> '1.0', '1.1' -> '1.1'; None if not a supported version."""
    parts = version.strip().split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts):
        return None
    mm = f"{int(parts[0])}.{int(parts[1])}"
    return mm if mm in SUPPORTED else None


def negotiate(header: str | None, media_type: str) -> str | None:
    """The CDS version (major.minor) to answer with, or None when ``header`` excludes it.

    ``media_type`` is the bare CDS type (``application/vnd.cds+json`` or ``+csv``).
    Among acceptable ranges the one with the highest ``q`` wins; a range without a
    version, or a wildcard, means ``LATEST``.
    """
    if header is None or not header.strip():
        return LATEST
    main = media_type.split("/")[0]
    best: tuple[float, str] | None = None
    for rng, params, q in _parse_accept(header):
        if rng in ("*/*", f"{main}/*"):
            version: str | None = LATEST
        elif rng == media_type:
            v = params.get("version")
            version = LATEST if v is None else _minor(v)
        else:
            continue
        if version is not None and (best is None or q > best[0]):
            best = (q, version)
    return None if best is None else best[1]


def accepts(header: str | None, media: str) -> bool:
    """Whether an ``Accept`` header admits ``media`` (a CDS type) at a supported version."""
    return negotiate(header, media.split(";")[0]) is not None


def _require(request: Request, media_type: str) -> str:
    header = request.headers.get("accept")
    version = negotiate(header, media_type)
    if version is None:
        raise HTTPException(
            status_code=406,
            detail=(
                f"this endpoint serves {media_type} with version "
                f"{' or '.join(SUPPORTED)}; the Accept header {header!r} excludes it"
            ),
        )
    return version


def cds_json_version(request: Request) -> str:
    """Dependency: the CDS version the client accepts as JSON (406 if none)."""
    return _require(request, CDS_JSON_TYPE)


def cds_csv_version(request: Request) -> str:
    """Dependency: the CDS version the client accepts as CSV (406 if none)."""
    return _require(request, CDS_CSV_TYPE)


def accept_cds_json(request: Request) -> None:
    """Router dependency: 406 unless the client accepts CDS JSON."""
    cds_json_version(request)


def accept_cds_csv(request: Request) -> None:
    """Router dependency: 406 unless the client accepts CDS CSV."""
    cds_csv_version(request)


def doc_responses(media: str, description: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI note that a 200 answer has this media type (either supported version)."""
    base = media.split(";")[0]
    if base in (CDS_JSON_TYPE, CDS_CSV_TYPE):
        content: dict[str, Any] = {f"{base};version={v}": {} for v in SUPPORTED}
    else:
        content = {media: {}}
    return {200: {"content": content, "description": description}}


def envelope(
    data: Any, *, time_zone: str, last_updated: int, version: str = LATEST
) -> dict[str, Any]:
    """The CDS REST envelope (CDS general-information, "REST Endpoints"): ``version``,
    ``time_zone``, ``last_updated`` (ms since the epoch), ``currency`` and ``data``.
    """
    return {
        "version": version,
        "time_zone": time_zone,
        "last_updated": int(last_updated),
        # Costs are not modelled; CDS still requires the field (ISO 4217 code).
        "currency": "EUR",
        "data": data,
    }


def cds_json(
    data: Any,
    *,
    time_zone: str,
    last_updated: int,
    version: str = LATEST,
    headers: Mapping[str, str] | None = None,
    links: Mapping[str, str | None] | None = None,
) -> Response:
    """A CDS JSON answer; ``links`` adds JSON:API pagination links (general-information.md)."""
    body = envelope(data, time_zone=time_zone, last_updated=last_updated, version=version)
    if links is not None:
        body["links"] = dict(links)
    return Response(
        content=orjson.dumps(body), media_type=json_media(version), headers=dict(headers or {})
    )


def cds_csv(text: str, version: str = LATEST) -> Response:
    """A CDS CSV response (Metrics API) of ``text`` in ``version``'s media type."""
    return Response(content=text, media_type=csv_media(version))


# -- pagination (general-information.md "Pagination") ------------------------------------

DEFAULT_PAGE = 1_000
MAX_PAGE = 10_000
MAX_OFFSET = 10_000_000
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list answer: at most ``limit`` items after skipping ``offset``."""

    limit: int
    offset: int

    def slice(self, items: Sequence[T]) -> Sequence[T]:
        """The items of this page (chosen before any object is built)."""
        return items[self.offset : self.offset + self.limit]


def page_param(
    limit: int = Query(
        DEFAULT_PAGE,
        ge=1,
        le=MAX_PAGE,
        description=f"page size (default {DEFAULT_PAGE}, at most {MAX_PAGE}); see links",
    ),
    offset: int = Query(0, ge=0, le=MAX_OFFSET, description="items to skip (pagination)"),
) -> Page:
    """Dependency: the page asked for; a ``limit`` over ``MAX_PAGE`` is a 400 naming it."""
    return Page(limit=limit, offset=offset)


def page_links(
    request: Request,
    page: Page,
    total: int,
    pinned: Mapping[str, str] | None = None,
    drop: Sequence[str] = (),
) -> dict[str, str | None]:
    """JSON:API pagination links (CDS general-information.md "Pagination": ``first``,
    ``last``, ``prev``, ``next``; ``next`` null on the last page, ``prev`` null on the
    first). Each link repeats the request's query with ``offset``/``limit`` set, plus
    ``pinned`` parameters (e.g. a resolved time window, so pages do not drift) and
    without the ``drop`` ones (those ``pinned`` replaces).
    """

    def link(off: int) -> str:
        params = {k: v for k, v in request.query_params.items() if k not in drop}
        params.update(pinned or {})
        params.update(limit=str(page.limit), offset=str(off))
        return str(request.url.replace_query_params(**params))

    last = max(0, (total - 1) // page.limit * page.limit)
    return {
        "first": link(0),
        "last": link(last),
        "prev": link(min(last, max(0, page.offset - page.limit))) if page.offset > 0 else None,
        "next": link(page.offset + page.limit) if page.offset + page.limit < total else None,
    }


def not_implemented(what: str) -> HTTPException:
    """CDS: an optional endpoint a server does not offer answers 501."""
    return HTTPException(status_code=501, detail=f"{what} is not offered by this server")


def error_body(status: int, description: str, details: list[str] | None = None) -> bytes:
    """CDS error message shape (general-information.md, "Error Messages")."""
    names = {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        406: "not_acceptable",
        409: "conflict",
        413: "payload_too_large",
        415: "unsupported_media_type",
        422: "unprocessable",
        429: "too_many_requests",
        501: "not_implemented",
    }
    return orjson.dumps(
        {
            "error": names.get(status, "error"),
            "error_description": description,
            "error_details": details or [],
        }
    )
