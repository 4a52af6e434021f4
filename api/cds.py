"""CDS 1.0 response envelope, content types and ``Accept`` negotiation.

CDS (general-information.md, "REST Endpoints" and "Versioning"): JSON responses carry
``version``, ``time_zone``, ``last_updated`` and ``data``, with content type
``application/vnd.cds+json;version=1.0``; Metrics responses are CSV with
``application/vnd.cds+csv;version=1.0``. A request whose ``Accept`` header is present
but admits neither that media type nor a wildcard gets ``406 Not Acceptable``, and so
does one asking for another CDS version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import HTTPException, Request
from fastapi.responses import Response

CDS_VERSION = "1.0"
CDS_JSON = f"application/vnd.cds+json;version={CDS_VERSION}"
CDS_CSV = f"application/vnd.cds+csv;version={CDS_VERSION}"


def _parse_accept(header: str) -> list[tuple[str, dict[str, str]]]:
    out = []
    for part in header.split(","):
        bits = [b.strip() for b in part.split(";")]
        if not bits[0]:
            continue
        params = {}
        for p in bits[1:]:
            k, _, v = p.partition("=")
            params[k.strip().lower()] = v.strip().strip('"')
        if params.get("q") in ("0", "0.0", "0.00", "0.000"):
            continue
        out.append((bits[0].lower(), params))
    return out


def accepts(header: str | None, media: str) -> bool:
    """Whether an ``Accept`` header admits ``media`` (a CDS type) at version 1.0."""
    if header is None or not header.strip():
        return True
    mtype = media.split(";")[0]
    main = mtype.split("/")[0]
    for rng, params in _parse_accept(header):
        if rng in ("*/*", f"{main}/*"):
            return True
        if rng == mtype and params.get("version", CDS_VERSION) == CDS_VERSION:
            return True
    return False


def require_accept(request: Request, media: str) -> None:
    header = request.headers.get("accept")
    if not accepts(header, media):
        raise HTTPException(
            status_code=406,
            detail=f"this endpoint serves {media}; the Accept header {header!r} excludes it",
        )


def accept_cds_json(request: Request) -> None:
    """Dependency: 406 unless the client accepts CDS JSON 1.0."""
    require_accept(request, CDS_JSON)


def accept_cds_csv(request: Request) -> None:
    """Dependency: 406 unless the client accepts CDS CSV 1.0."""
    require_accept(request, CDS_CSV)


def doc_responses(media: str, description: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI note that a 200 answer has this media type."""
    return {200: {"content": {media: {}}, "description": description}}


def envelope(data: Any, *, time_zone: str, last_updated: int) -> dict[str, Any]:
    return {
        "version": CDS_VERSION,
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
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = orjson.dumps(envelope(data, time_zone=time_zone, last_updated=last_updated))
    return Response(content=body, media_type=CDS_JSON, headers=dict(headers or {}))


def cds_csv(text: str) -> Response:
    return Response(content=text, media_type=CDS_CSV)


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
