"""Optimiser jobs on the database's bays and sessions, and the proposals review contract.

The database holds the real Paris 3e bays (Ville de Paris open data) with three days of
simulated sessions, as ``baywatch demo`` makes; skipped only where ../shared/geodata is
absent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import SHARED, Api, make_api

PARIS = SHARED / "geodata" / "paris_delivery_bays.csv"
pytestmark = pytest.mark.skipif(not PARIS.is_file(), reason="../shared/geodata absent")


@pytest.fixture(scope="module")
def paris_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from occupancy.evaluation.simulate import simulate_sessions
    from occupancy.inventory.bays import load_bays
    from occupancy.storage.store import Store

    url = f"sqlite:///{tmp_path_factory.mktemp('paris') / 'paris3e.db'}"
    store = Store(url)
    zones = [z for z in load_bays(PARIS, "paris").zones if z.area_id == "75103"]
    store.upsert_zones(zones)
    start = datetime(2026, 3, 2, tzinfo=ZoneInfo("Europe/Paris"))
    store.write_sessions_frame(simulate_sessions(store.zones_frame(), start=start, days=3, seed=2))
    store.close()
    return url


@pytest.fixture
def api(tmp_path: Path, paris_db: str) -> Iterator[Api]:
    import shutil

    db = tmp_path / "api.db"
    shutil.copy(paris_db.removeprefix("sqlite:///"), db)
    yield from make_api(tmp_path, db=f"sqlite:///{db}", api_rate_limit_per_s=0)


def _run_job(api: Api, kind: str, body: dict[str, object]) -> dict[str, object]:
    h = api.auth("jobs")
    r = api.client.post(f"/jobs/{kind}", json=body, headers=h)
    assert r.status_code == 202, r.text
    api.state.jobs.run_one()
    j = api.client.get(f"/jobs/{r.json()['job_id']}", headers=h).json()
    assert j["status"] == "done", j["error"]
    result: dict[str, object] = j["result"]
    return result


def test_placement_job_stores_proposals_planners_review(api: Api) -> None:
    res = _run_job(
        api,
        "placement",
        {"area": "75103", "budget": {"max_changes": 6}, "time_limit_s": 8},
    )
    # Every bay with simulated sessions is "simulated"; the few bays with no session in
    # the three days get the declared shops' demand, "estimated"; nothing is "observed".
    shares = res["evidence_shares"]
    assert res["proposals"] and shares["simulated"] > 0.9 and shares["observed"] == 0
    # All three named, published to 4 decimals, summing to 1 (was 0.9999999999999997).
    assert set(shares) == {"observed", "simulated", "estimated"}
    assert all(round(v, 4) == v for v in shares.values())
    assert sum(shares.values()) == pytest.approx(1, abs=2e-4)
    r = api.client.get("/proposals", params={"area": "75103"})
    assert r.status_code == 200
    coll = r.json()
    assert coll["type"] == "FeatureCollection" and len(coll["features"]) == res["proposals"]
    permanent = {
        z["curb_zone_id"]
        for z in api.store.zones_frame().to_dict("records")
        if (z["attributes"] or {}).get("regime") == "ZL permanente"
    }
    assert len(permanent) == 176
    for f in coll["features"]:
        p = f["properties"]
        assert p["kind"] in {"add", "remove", "move", "retime", "enforce"}
        assert p["status"] == "pending" and p["reviewed_by"] is None
        # Simulated sessions are labelled simulated, never observed.
        assert p["evidence"] in {"simulated", "estimated"}
        assert p["reason"] and set(p["effect"]) >= {
            "deliveries_served_per_day",
            "double_parking_avoided_per_day",
        }
        assert f["geometry"]["type"] in {"Point", "LineString"}
        # No permanent bay is removed or moved away.
        if p["kind"] in {"remove", "move"}:
            assert p["curb_zone_id"] not in permanent
            assert p["details"].get("from_curb_zone_id") not in permanent
    added = [f for f in coll["features"] if f["properties"]["kind"] == "add"]
    assert added, "simulated double parking near busy bays: some bay is added"
    assert all(f["properties"]["effect"]["deliveries_served_per_day"] > 0 for f in added)

    pid = coll["features"][0]["id"]
    assert api.client.get(f"/proposals/{pid}").json()["properties"]["id"] == pid
    body = {"decision": "accept", "note": "checked on site"}
    assert (
        api.client.post(f"/proposals/{pid}/review", json=body, headers=api.auth("read")).status_code
        == 403
    )
    assert api.client.post(f"/proposals/{pid}/review", json=body).status_code == 401
    r = api.client.post(f"/proposals/{pid}/review", json=body, headers=api.auth("review"))
    assert r.status_code == 200, r.text
    p = r.json()["properties"]
    assert p["status"] == "accepted" and p["reviewed_by"] == "test review"
    assert p["reviewed_at"].endswith("Z") and p["review_note"] == "checked on site"
    accepted = api.client.get("/proposals", params={"status": "accepted"}).json()["features"]
    assert [f["id"] for f in accepted] == [pid]
    bad = api.client.post(
        f"/proposals/{pid}/review", json={"decision": "maybe"}, headers=api.auth("review")
    )
    assert bad.status_code == 400 and "decision" in bad.text
    missing = api.client.post(
        "/proposals/nope/review", json={"decision": "reject"}, headers=api.auth("review")
    )
    assert missing.status_code == 404
    # A NUL in the note was stored by SQLite and a 500 from PostgreSQL: refused on both.
    nul = api.client.post(
        f"/proposals/{pid}/review",
        json={"decision": "reject", "note": "a\u0000b"},
        headers=api.auth("review"),
    )
    assert nul.status_code == 400 and "note" in nul.text, nul.text
    assert api.client.get(f"/proposals/{pid}").json()["properties"]["review_note"] == (
        "checked on site"
    )


def test_timeslot_job_keeps_permanent_bays(api: Api) -> None:
    res = _run_job(api, "timeslots", {"area": "Paris 3e", "time_limit_s": 5})
    feats = api.client.get("/proposals", params={"kind": "retime"}).json()["features"]
    assert len(feats) == res["proposals"]
    zones = api.store.zones_frame().set_index("curb_zone_id")["attributes"]
    for f in feats:
        regime = (zones[f["properties"]["curb_zone_id"]] or {}).get("regime")
        assert regime != "ZL permanente"
        assert f["properties"]["details"]["delivery_hours"] in (
            "24/7",
            "Mo-Sa 07:00-20:00; PH off",
        )


@pytest.mark.parametrize("field", ["sources", "out_dir"])
def test_job_with_a_path_is_a_400_naming_the_rule(api: Api, field: str) -> None:
    body = {"area": "75103", field: {"instance": "paris-3e"} if field == "sources" else "/tmp/x"}
    r = api.client.post("/jobs/placement", json=body, headers=api.auth("jobs"))
    assert r.status_code == 400
    assert "never takes a file path or an output folder" in r.text


@pytest.mark.parametrize("kind", ["placement", "timeslots"])
def test_jobs_the_optimiser_could_not_run_are_refused_at_submission(
    api: Api, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 400 with one line starting with the field at fault, and no job queued (before:
    202, then a failed job)."""
    h = api.auth("jobs")

    def refused(body: dict[str, object]) -> str:
        r = api.client.post(f"/jobs/{kind}", json=body, headers=h)
        assert r.status_code == 400, r.text
        msg = str(r.json()["error_description"])
        assert "\n" not in msg and "sqlite" not in msg  # one line; the server's URL stays private
        return msg

    assert refused({"area": "99999"}) == (
        "area: no bays in area '99999' (area ids include: 75103, a-north, a-south)"
    )
    assert refused({"area": "75103", "period": "2026-03-02/"}).startswith(
        "period: an interval is START/END (or START..END); use all, YYYY-MM-DD"
    )
    assert refused({"area": "75103", "period": "2026-03-02/yesterday"}) == (
        "period: 'yesterday' is not an ISO date or date-time"
    )
    assert refused({"area": "75103", "period": "last0d"}) == (
        "period: last<N>d needs 1 <= N <= 36500"
    )
    assert refused({"area": "75103", "period": "2026-03-05/2026-03-02"}).endswith(
        "ends before it starts"
    )
    # No session of the area in the period: accepted while the declared shops layer can
    # estimate its demand; refused, naming the period, on a server without one.
    quiet = {"area": "75103", "period": "2025-01-01/2025-01-31"}
    assert api.client.post(f"/jobs/{kind}", json=quiet, headers=h).status_code == 202
    monkeypatch.setattr("api.jobs.SHOPS", Path("/nonexistent/shops.geojson"))
    assert refused(quiet).startswith("period: area '75103' has 248 bays but no session in")
    # The sessions' own period is accepted, in every spelling of the one period parser
    # (the statistics' A..B, a day, last<N>d: the days up to the area's latest session).
    for period in ("2026-03-02/2026-03-04", "2026-03-02..2026-03-04", "2026-03-03", "last2d"):
        ok = {"area": "Paris 3e", "period": period}
        assert api.client.post(f"/jobs/{kind}", json=ok, headers=h).status_code == 202, period
    assert len(api.state.jobs.list(None, 100)) == 5  # the refused ones queued nothing


def test_inconsistent_rules_and_bad_regimes_are_refused_at_submission(api: Api) -> None:
    """Issue 11: 400 naming the field(s) and the bad value, and nothing queued."""
    h = api.auth("jobs")

    def refused(kind: str, body: dict[str, object]) -> str:
        r = api.client.post(f"/jobs/{kind}", json=body, headers=h)
        assert r.status_code == 400, r.text
        return str(r.json()["error_description"])

    walk = {"area": "75103", "rules": {"walk_full_m": 200, "walk_limit_m": 100}}
    msg = refused("placement", walk)
    assert "walk_full_m" in msg and "walk_limit_m" in msg and "\n" not in msg
    assert "walk_full_m" in refused("timeslots", walk)
    regimes = {"area": "75103", "regimes": ["not a regime"]}
    msg = refused("timeslots", regimes)
    assert "regimes" in msg and "not opening_hours syntax (got 'not a regime')" in msg
    assert len(api.state.jobs.list(None, 100)) == 0


@pytest.mark.parametrize("kind", ["placement", "timeslots"])
def test_unknown_fixed_bays_are_refused_at_submission(api: Api, kind: str) -> None:
    """Before: 202, then a job failing when it ran. Now a 400 naming the unknown ids (and
    only those) at submission, and nothing queued; real 3e bay ids are accepted."""
    h = api.auth("jobs")
    real = sorted(api.store.zones_frame()["curb_zone_id"].astype(str))[:2]
    body = {"area": "75103", "rules": {"fixed_bay_ids": [*real, "nope-1", "nope-2"]}}
    r = api.client.post(f"/jobs/{kind}", json=body, headers=h)
    assert r.status_code == 400, r.text
    assert r.json()["error_description"] == (
        "rules.fixed_bay_ids: no bay of area '75103' has id 'nope-1', 'nope-2' (248 bays in"
        " the area)"
    )
    assert api.state.jobs.list(None, 10) == []
    ok = {"area": "Paris 3e", "rules": {"fixed_bay_ids": real}}
    assert api.client.post(f"/jobs/{kind}", json=ok, headers=h).status_code == 202


def test_listing_defaults_to_the_latest_run_of_each_area_and_kind(api: Api) -> None:
    """Before: ``/proposals?status=pending`` listed every run's pending proposals
    together, with nothing but a bare ``run_id`` to tell them apart. A planner reviews
    the newest run of an area (a rerun supersedes the last one's proposals) and needs to
    see which run, of what kind and when, each proposal comes from."""
    first = _run_job(
        api, "placement", {"area": "75103", "budget": {"max_changes": 6}, "time_limit_s": 5}
    )
    second = _run_job(
        api, "placement", {"area": "75103", "budget": {"max_changes": 3}, "time_limit_s": 5}
    )
    slots = _run_job(api, "timeslots", {"area": "75103", "time_limit_s": 5})
    assert first["run_id"] != second["run_id"] and first["proposals"] and second["proposals"]

    fc = api.client.get("/proposals", params={"status": "pending"}).json()
    by_run = {f["properties"]["run_id"] for f in fc["features"]}
    # The newest placement run and the (only) time-slot run of the 3e: not the first one.
    latest = {second["run_id"]} | ({slots["run_id"]} if slots["proposals"] else set())
    assert by_run == latest
    n_latest = int(str(second["proposals"])) + int(str(slots["proposals"]))
    assert len(fc["features"]) == n_latest
    runs = {r["run_id"]: r for r in fc["runs"]}
    assert set(runs) == by_run and all(r["latest"] for r in runs.values())
    placement = runs[second["run_id"]]
    assert placement["kind"] == "placement" and placement["area_id"] == "75103"
    assert placement["created_at"].endswith("Z") and placement["solver_status"] in {
        "OPTIMAL",
        "FEASIBLE",
    }
    assert placement["evidence_shares"] == second["evidence_shares"]
    for f in fc["features"]:
        assert f["properties"]["run"] == runs[f["properties"]["run_id"]]

    # Every run on request, the superseded one marked so; one run by its id.
    every = api.client.get("/proposals", params={"status": "pending", "runs": "all"}).json()
    assert len(every["features"]) == n_latest + int(str(first["proposals"]))
    old = {r["run_id"]: r for r in every["runs"]}[str(first["run_id"])]
    assert old["latest"] is False
    one = api.client.get("/proposals", params={"run_id": first["run_id"]}).json()
    assert {f["properties"]["run_id"] for f in one["features"]} == {first["run_id"]}
    assert len(one["features"]) == first["proposals"]
    single = api.client.get(f"/proposals/{one['features'][0]['id']}").json()
    assert single["properties"]["run"]["latest"] is False
    assert api.client.get("/proposals", params={"runs": "newest"}).status_code == 400
