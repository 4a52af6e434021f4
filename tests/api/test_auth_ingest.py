"""Keys and scopes (401/403), CLI key management, idempotent ingestion, push stream."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.keys import KeyRequestError, KeyStore
from baywatch.cli import app as cli_app
from tests.api.conftest import T0, Api, event, session, zid


def test_protected_endpoints_need_the_right_scope(api: Api) -> None:
    c = api.client
    cases = [
        ("GET", "/events/events", "read"),
        ("GET", "/events/status", "read"),
        ("GET", "/metrics/sessions", "read"),
        ("POST", "/ingest/batch", "ingest"),
        ("GET", "/jobs", "jobs"),
    ]
    for method, path, scope in cases:
        headers = {"Accept": "*/*"}
        r = c.request(method, path, headers=headers, json={})
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"] == "Bearer"
        # A request with a body is refused before its body is read (api.limits), so the
        # answer cannot name the route's scope; one without a body reaches the route.
        assert r.json()["error_description"] == (
            "a request with a body needs an API key (Authorization: Bearer <key>)"
        )
        r = c.request(method, path, headers=headers)
        assert r.status_code == 401, path
        assert (
            r.json()["error_description"] == f"this endpoint needs an API key with scope '{scope}'"
        )
        r = c.request(
            method, path, headers={**headers, "Authorization": "Bearer bw_nope_nope"}, json={}
        )
        assert r.status_code == 401, path
        assert r.json()["error_description"] == "unknown or revoked API key"
        r = c.request(method, path, headers={**headers, "Authorization": "Basic abc"}, json={})
        assert r.status_code == 401, path
        other = "jobs" if scope != "jobs" else "read"
        r = c.request(method, path, headers={**headers, **api.auth(other)}, json={})
        assert r.status_code == 403, path
        assert f"lacks scope '{scope}'" in r.json()["error_description"]
        r = c.request(method, path, headers={**headers, **api.auth("admin")}, json={})
        assert r.status_code in (200, 400), path  # admin implies every scope


def test_revoked_key_is_refused(api: Api) -> None:
    keys: KeyStore = api.state.keys
    info, token = keys.create("temp", ["read"])
    h = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/events/status", headers=h).status_code == 200
    keys.revoke(info.key_id)
    assert api.client.get("/events/status", headers=h).status_code == 401
    with pytest.raises(KeyRequestError, match="no active key"):
        keys.revoke(info.key_id)
    with pytest.raises(KeyRequestError, match="unknown scope 'root'"):
        keys.create("x", ["root"])


def test_keys_are_stored_hashed(api: Api) -> None:
    from sqlalchemy import select

    from occupancy.storage.schema import api_keys

    with api.store.engine.connect() as conn:
        stored = [
            tuple(r) for r in conn.execute(select(api_keys.c.secret_sha256, api_keys.c.key_id))
        ]
    secrets = [t.split("_", 2)[2] for t in api.tokens.values()]
    assert len(stored) == len(api.tokens)
    for digest, _ in stored:
        assert len(digest) == 64 and digest not in secrets


def test_cli_keys_create_list_revoke(api: Api) -> None:
    runner = CliRunner()
    db = api.store.url
    r = runner.invoke(cli_app, ["keys", "create", "edge box 7", "--scope", "ingest", "--db", db])
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[-1]
    assert token.startswith("bw_")
    key_id = token.split("_")[1]
    r = runner.invoke(cli_app, ["keys", "list", "--db", db])
    assert r.exit_code == 0 and key_id in r.stdout and "edge box 7" in r.stdout
    assert token.split("_", 2)[2] not in r.stdout
    r = runner.invoke(cli_app, ["keys", "create", "x", "--scope", "god", "--db", db])
    assert r.exit_code == 2
    assert "error: unknown scope 'god'" in r.stderr
    r = runner.invoke(cli_app, ["keys", "revoke", key_id, "--db", db])
    assert r.exit_code == 0
    r = runner.invoke(cli_app, ["keys", "revoke", key_id, "--db", db])
    assert r.exit_code == 2 and f"error: no active key with id '{key_id}'" in r.stderr


def test_ingest_is_idempotent(api: Api) -> None:
    evs = [event("park_start", "b1", T0), event("park_end", "b1", T0 + 600_000)]
    ses = [session("b1", T0, T0 + 600_000)]
    assert api.ingest(evs, ses) == {
        "events_received": 2,
        "events_new": 2,
        "sessions_received": 1,
        "sessions_new": 1,
    }
    assert api.ingest(evs, ses) == {
        "events_received": 2,
        "events_new": 0,
        "sessions_received": 1,
        "sessions_new": 0,
    }
    assert len(api.store.events_frame()) == 2
    s = api.store.sessions_frame()
    assert len(s) == 1 and s["dwell_s"].iloc[0] == 600.0 and not s["overstay"].iloc[0]


def test_ingest_validation_errors(api: Api) -> None:
    h = api.auth("ingest")
    c = api.client
    bad_type = event("park_start", "b1", T0) | {"event_type": "teleport"}
    r = c.post("/ingest/batch", json={"events": [bad_type]}, headers=h)
    assert r.status_code == 400
    assert r.json()["error_details"][0].startswith("body.events.0.event_type:")
    bad_loc = event("park_start", "b1", T0) | {
        "event_location": {"type": "Point", "coordinates": [48.8, 200]}
    }
    r = c.post("/ingest/batch", json={"events": [bad_loc]}, headers=h)
    assert r.status_code == 400
    backwards = session("b1", T0 + 10, T0)
    r = c.post("/ingest/batch", json={"sessions": [backwards]}, headers=h)
    assert r.status_code == 400
    assert "end_ms is before start_ms" in r.json()["error_description"]
    r = c.post(
        "/ingest/batch", content=b"{not json", headers={**h, "Content-Type": "application/json"}
    )
    assert r.status_code == 400
    r = c.post("/ingest/batch", json={"evnts": []}, headers=h)
    assert r.status_code == 400
    assert api.store.events_frame().empty  # nothing half-stored


def test_push_stream_delivers_state_changes(api: Api) -> None:
    import json
    import threading

    got: list[str] = []

    def read() -> None:
        with api.client.stream("GET", "/availability/stream", params={"max_events": 1}) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                got.append(line)

    t = threading.Thread(target=read)
    t.start()
    import time

    deadline = time.monotonic() + 5
    while not any(line.startswith("event: hello") for line in got) and time.monotonic() < deadline:
        time.sleep(0.02)
    sim = {**event("park_start", "b4", T0, device="sim"), "data_source_type": "simulated"}
    api.ingest([event("park_start", "b3", T0), sim])
    t.join(timeout=5)
    assert not t.is_alive()
    data = [json.loads(line[6:]) for line in got if line.startswith("data: ")]
    nothing = {"free": 0, "occupied": 0, "unknown": 0}
    assert data[0]["counts"] == {"observed": {**nothing, "unknown": 5}, "simulated": nothing}
    # every state says where it comes from; a simulated stop is never counted as observed
    assert sorted(data[1], key=lambda c: c["curb_zone_id"]) == sorted(
        [
            {
                "curb_zone_id": zid("b3"),
                "state": "occupied",
                "since_ms": T0,
                "state_source": "observed",
            },
            {
                "curb_zone_id": zid("b4"),
                "state": "occupied",
                "since_ms": T0,
                "state_source": "simulated",
            },
        ],
        key=lambda c: c["curb_zone_id"],
    )
    states = api.client.get("/health").json()["states"]
    assert states == {
        "observed": {**nothing, "occupied": 1, "unknown": 3},
        "simulated": {**nothing, "occupied": 1},
    }


def test_cors_is_configurable(tmp_path: Path) -> None:
    from tests.api.conftest import make_api

    gen = make_api(tmp_path, api_cors_origins=["https://planner.example"])
    api = next(gen)
    pre = {"Origin": "https://planner.example", "Access-Control-Request-Method": "GET"}
    r = api.client.options("/curbs/zones", headers=pre)
    assert r.headers["access-control-allow-origin"] == "https://planner.example"
    r = api.client.get(
        "/availability/free",
        params={"lat": 48.85, "lon": 2.36},
        headers={"Origin": "https://evil.example"},
    )
    assert "access-control-allow-origin" not in r.headers
    gen.close()


def test_no_cors_headers_by_default(api: Api) -> None:
    r = api.client.get("/curbs/zones", headers={"Origin": "https://planner.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_text_with_nul_is_a_400_on_every_backend_never_a_500(api: Api) -> None:
    """PostgreSQL cannot store NUL in text: an ingested device id holding one was a 500 there;
    nothing of the batch is stored."""
    h = api.auth("ingest")
    before = len(api.store.events_frame())
    nul = event("park_start", "b1", T0, device="cam-\x00-1")
    r = api.client.post("/ingest/batch", json={"events": [nul]}, headers=h)
    if api.store.engine.dialect.name == "sqlite":
        assert r.status_code == 200, r.text  # SQLite stores NUL
    else:
        assert r.status_code == 400, r.text
        assert "NUL" in r.json()["error_description"]
        assert len(api.store.events_frame()) == before
