"""Every route that takes a body answers 413 to a body over its limit (issue 14)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from occupancy.runtime.wire import MAX_BATCH
from tests.api.conftest import Api, make_api
from tests.api.test_limits import asgi_call


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    path: Path = tmp_path_factory.mktemp("bodies")
    yield from make_api(path, api_max_body_bytes=2048, api_max_upload_bytes=4096)


def body_routes(api: Api) -> list[tuple[str, str]]:
    spec = api.client.get("/openapi.json").json()
    routes = [
        (method.upper(), path.replace("{", "").replace("}", ""))
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if "requestBody" in op
    ]
    assert len(routes) >= 9  # ingest, uploads, jobs (3), review, set-up (3)
    return routes


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_every_body_route_answers_413_over_its_limit(tight: Api, declared: bool) -> None:
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"[" + b" " * 65535, "more_body": True}

    size = {"content-length": str(10**6)} if declared else {"transfer-encoding": "chunked"}
    headers = {
        "authorization": tight.auth("admin")["Authorization"],
        "content-type": "application/json",
        **size,
    }
    answers = {}
    for method, path in body_routes(tight):
        reads = 0
        r = asgi_call(tight.client.app, method, path, headers, receive)
        answers[f"{method} {path}"] = (r["status"], reads)
        limit = 4096 if path == "/jobs/uploads" else 2048
        assert f"exceeds the limit of {limit} bytes".encode() in r["body"]
    # declared: refused before one byte is read; chunked: cut at the first chunk past it
    assert answers == {k: (413, 0 if declared else 1) for k in answers}


def test_an_ingest_batch_over_its_item_cap_is_413(tmp_path: Path) -> None:
    gen = make_api(tmp_path)
    api = next(gen)
    try:
        events = [
            {"event_id": f"e{i}"} for i in range(MAX_BATCH + 1)
        ]  # ~150 kB, under the byte limit
        r = api.client.post("/ingest/batch", json={"events": events}, headers=api.auth("ingest"))
        assert r.status_code == 413, r.text
        assert r.json()["error_description"] == (
            f"request body too large: events holds at most {MAX_BATCH} items; "
            "send them in several requests"
        )
    finally:
        gen.close()
