"""The optimiser's inputs from the database: evidence, misuse, coverage, declared demand.

A hand-made area of three bays 150 m apart: ``cam`` watched by a camera for two days
(its ``runs``), ``sim`` with simulated sessions only, ``dark`` watched by nobody. The
figures expected below are counted by hand from the rows written.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from occupancy.domain.curb_zone import records_from_rows
from occupancy.domain.states import RunStatus
from occupancy.storage.store import Store
from optimiser.errors import OptimiserInputError
from optimiser.inputs import Rules
from optimiser.observed import area_demand
from optimiser.store_inputs import parse_period, read_area

T0 = int(pd.Timestamp("2026-03-02 00:00", tz="Europe/Paris").value // 10**6)  # a Monday
H = 3_600_000
LAT = 48.8630
LON = {"cam": 2.3600, "sim": 2.3620, "dark": 2.3640}  # ~147 m apart


def square(lon: float, lat: float, d: float = 0.00003) -> dict[str, object]:
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def _session(sid: str, kind: str, bay: str | None, start: int, dwell_min: float, **kw: object):
    row = {
        "session_id": sid,
        "kind": kind,
        "data_source_device_id": "cam-1",
        "data_source_type": "camera",
        "curb_zone_id": bay,
        "lane_zone_id": None,
        "start_ms": start,
        "end_ms": start + int(dwell_min * 60_000),
        "dwell_s": dwell_min * 60.0,
        "vehicle_type": "van",
        "vehicle_length": None,
        "lon": None,
        "lat": None,
        "max_stay_min": 30.0,
        "overstay": False,
        "blocked_lane_types": None,
        "start_censored": False,
        "end_censored": False,
        "run_id": "run-1",
        "attempt": 1,
    }
    row.update(kw)
    return row


@pytest.fixture
def db(store_url: str) -> str:
    """The hand-made area, on SQLite and on PostgreSQL+PostGIS where configured."""
    url = store_url
    store = Store(url)
    store.upsert_zones(
        records_from_rows(
            [
                {
                    "curb_zone_id": name,
                    "name": f"bay {name}",
                    "device_id": "cam-1" if name == "cam" else None,
                    "source": "test",
                    "geometry": square(lon, LAT),
                    "lon": lon,
                    "lat": LAT,
                    "length_cm": 1000,
                    "num_spaces": 1,
                    "max_stay_min": 30.0,
                    "delivery_hours": "24/7" if name == "dark" else "Mo-Sa 07:00-20:00; PH off",
                    "street_name": "Rue de Bretagne",
                    "area_id": "A",
                    "area_name": "Area A",
                }
                for name, lon in LON.items()
            ]
        )
    )
    store.upsert_lane_zones(
        [
            {
                "lane_zone_id": "lane-cam",
                "name": "lane by cam",
                "device_id": "cam-1",
                "geometry": square(LON["cam"], LAT + 0.00005),
                "lon": LON["cam"],
                "lat": LAT + 0.00005,
                "lane_type": "travel_lane",
                "curb_zone_id": "cam",
            }
        ]
    )
    attempt = store.begin_run(
        "run-1", device_id="cam-1", source="clip", live=False, footage_start_ms=T0, settings={}
    )
    store.finish_run(
        "run-1", attempt, status=RunStatus.COMPLETE, footage_end_ms=T0 + 48 * H, frames_analysed=1
    )
    rows = []
    for d in range(2):  # two watched days: 4 van stops, 1 car of 60 min, 1 double park
        day = T0 + d * 24 * H
        rows += [_session(f"c{d}{k}", "park", "cam", day + (9 + k) * H, 15) for k in range(4)]
        rows.append(_session(f"car{d}", "park", "cam", day + 14 * H, 60, vehicle_type="car"))
        rows.append(
            _session(f"dp{d}", "double_park", None, day + 10 * H, 5, lane_zone_id="lane-cam")
        )
    sim = [
        _session(
            f"s{k}",
            "park",
            "sim",
            T0 + k * 7 * H + 10 * H,
            12,
            data_source_type="simulated",
            data_source_device_id="simulator",
            run_id=None,
        )
        for k in range(6)
    ]
    store.write_sessions_frame(pd.DataFrame(rows + sim))
    store.close()
    return url


@pytest.fixture
def shops(tmp_path: Path) -> Path:
    feats = [  # one shop by the watched bay (already counted there), one by the dark bay
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [lon, LAT + 0.0001]},
            "properties": {"name": f"shop {name}", "shop_type": "Primeur", "services": ""},
        }
        for name, lon in (("cam", LON["cam"]), ("dark", LON["dark"]))
    ]
    path = tmp_path / "shops.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path


def test_area_inputs_label_evidence_and_count_misuse(db: str, shops: Path) -> None:
    p = parse_period("2026-03-02/2026-03-03", "Europe/Paris")
    start, end = p.start_ms, p.end_ms
    assert (start, end) == (T0, T0 + 48 * H)
    inputs = read_area(db, "area a", start, end, tz="Europe/Paris")  # area_name matches, any case
    assert inputs.camera_hours == {"cam-1": pytest.approx(48.0)}
    area = area_demand(inputs, Rules(walk_limit_m=60), shops=shops)
    sites = area.sites
    ev = dict(zip(sites.ids, sites.evidence, strict=True))
    assert ev == {"cam": "observed", "dark": "estimated", "sim": "simulated"}
    assert sites.regime_of(sites.ids.index("dark")) == "permanent"
    assert sites.fixed[sites.ids.index("dark")]  # permanent: kept
    demand = dict(zip(area.demand.ids, area.demand.daily, strict=True))
    # cam: 4 van stops + 1 double park beside it (via its lane zone) a day; the car is
    # misuse, not demand.
    assert demand["bay-cam"] == pytest.approx(5.0)
    # sim: 6 simulated stops over the 2-day period.
    assert demand["bay-sim"] == pytest.approx(3.0)
    # dark: no camera, so the declared shop by it (Primeur: 1.5 a day), not the one by cam.
    est = [i for i, e in enumerate(area.demand.evidence) if e == "estimated"]
    assert len(est) == 1 and area.demand.daily[est[0]] == pytest.approx(1.5)
    # Misuse: 60 min of car a day on one place over 24 h.
    assert sites.misuse[sites.ids.index("cam")] == pytest.approx(1 / 24)
    shares = area.demand.shares()
    assert shares["observed"] == pytest.approx(5.0 / 9.5)
    assert shares["simulated"] == pytest.approx(3.0 / 9.5)
    assert shares["estimated"] == pytest.approx(1.5 / 9.5)
    assert "53% observed, 32% simulated, 16% estimated" in area.notes[0]
    # Observed working-day hours: cam's vans at 09-12, its double parking at 10.
    arr = area.arrivals["cam"]
    assert arr[0, 9] == pytest.approx(1.0) and arr[0, 10] == pytest.approx(2.0)
    # No Saturday or Sunday in the period: never 0, but the bay's working-day level (5 a
    # day, all watched) times the assumed day factors (0.55, 0.12), marked estimated.
    assert arr[1].sum() == pytest.approx(5.0 * 0.55) and arr[2].sum() == pytest.approx(0.6)
    assert area.observed_by_day_type[1:] == (0.0, 0.0)
    # Observed / simulated / estimated shares: the watched bay's working days were seen,
    # the simulated bay's sessions fall on working days too, the weekend is estimated.
    note = next(n for n in area.notes if n.startswith("time-slot demand"))
    assert "saturday 0%/0%/100%, sunday 0%/0%/100%" in note
    assert area.observed_by_day_type[0] == pytest.approx(5.0 / 8.0)  # cam 5, sim 3 a day


def test_bad_area_and_period_are_one_line_errors(db: str) -> None:
    with pytest.raises(OptimiserInputError, match=r"no bays in area 'B'.*A"):
        read_area(db, "B", None, None, tz="Europe/Paris")
    for bad in ("2026-03-02/", "2026-03-05/2026-03-02", "yesterday/today", "last0d"):
        with pytest.raises(OptimiserInputError, match="period"):
            parse_period(bad, "Europe/Paris")


def test_cli_from_the_database_stores_explained_proposals(
    db: str, shops: Path, tmp_path: Path
) -> None:
    from baywatch.cli import app
    from occupancy.storage.proposals import list_proposals

    res = CliRunner().invoke(
        app,
        [
            "optimise", "placement",
            "--db", db, "--area", "A", "--period", "2026-03-02/2026-03-03",
            "--shops", str(shops), "--walk-limit-m", "60",
            "--streets", str(tmp_path / "none.pbf"),
            "--time-limit-s", "5", "--out", str(tmp_path / "out"),
        ],
    )  # fmt: skip
    assert res.exit_code == 2 and "none.pbf: no such file" in res.output
    res = CliRunner().invoke(
        app,
        [
            "optimise", "placement",
            "--db", db, "--area", "A", "--period", "2026-03-02/2026-03-03",
            "--shops", str(shops), "--walk-limit-m", "60", "--walk-full-m", "60",
                "--max-changes", "2",
            "--candidates", str(_candidates(tmp_path)),
            "--time-limit-s", "5", "--out", str(tmp_path / "out"),
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "53% observed, 32% simulated, 16% estimated" in res.output
    assert "stored: run" in res.output
    store = Store(db)
    rows = list_proposals(store)
    store.close()
    assert rows and all(r["status"] == "pending" and r["reason"] for r in rows)
    # The candidate beside the watched bay takes its double parking: observed evidence.
    add = [r for r in rows if r["kind"] == "add"]
    assert add and add[0]["curb_zone_id"] == "kerb-by-cam" and add[0]["evidence"] == "observed"
    assert add[0]["effect"]["deliveries_served_per_day"] > 0
    assert not [r for r in rows if r["curb_zone_id"] == "dark" and r["kind"] == "remove"]


def _candidates(tmp_path: Path) -> Path:
    lon = LON["cam"]
    feat = {
        "type": "Feature",
        "geometry": {
            "type": "LineString",
            "coordinates": [[lon + 0.0002, LAT], [lon + 0.0004, LAT]],
        },
        "properties": {"id": "kerb-by-cam", "usable_length_m": 12.0},
    }
    path = tmp_path / "cands.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feat]}))
    return path


def test_evidence_never_claims_observed_for_simulated_sessions(db: str) -> None:
    inputs = read_area(db, "A", None, None, tz="Europe/Paris")
    area = area_demand(inputs, Rules(), shops=None)
    sim = area.sites.ids.index("sim")
    assert area.sites.evidence[sim] == "simulated"
    assert not np.any(
        [
            e == "observed"
            for i, e in zip(area.demand.ids, area.demand.evidence, strict=True)
            if "sim" in i
        ]
    )


def test_check_area_refuses_what_could_not_run(db: str, tmp_path: Path) -> None:
    from optimiser.store_inputs import check_area

    empty = Store(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(OptimiserInputError, match=r"^area: the database holds no bays"):
        check_area(empty, "A", None, "Europe/Paris", declared_demand=True)
    empty.close()
    store = Store(db)
    with pytest.raises(OptimiserInputError, match=r"^area: no bays in area 'B' \(.*: A\)$"):
        check_area(store, "B", None, "Europe/Paris", declared_demand=True)
    with pytest.raises(OptimiserInputError, match=r"^period: 'x' is not an ISO date"):
        check_area(store, "A", "2026-03-02/x", "Europe/Paris", declared_demand=True)
    quiet = "2026-04-01/2026-04-02"
    with pytest.raises(OptimiserInputError, match=r"^period: area 'A' has 3 bays but no session"):
        check_area(store, "A", quiet, "Europe/Paris", declared_demand=False)
    assert check_area(store, "a", quiet, "Europe/Paris", declared_demand=True).sessions == 0
    # 10 park sessions at cam (4 vans and 1 car a day), 2 double parks in its lane zone,
    # 6 simulated at sim
    got = check_area(store, "Area A", "2026-03-02/2026-03-03", "Europe/Paris", False)
    assert (got.bays, got.sessions) == (3, 18)
    # The statistics' spellings are the same periods (one parser): A..B, a day, last<N>d
    # (the N days up to the area's latest session).
    same = check_area(store, "Area A", "2026-03-02..2026-03-03", "Europe/Paris", False)
    assert (same.start_ms, same.end_ms, same.sessions) == (got.start_ms, got.end_ms, 18)
    # The second day: 6 camera sessions and 4 simulated ones (at 24, 31, 38 and 45 h).
    assert check_area(store, "A", "2026-03-03", "Europe/Paris", False).sessions == 10
    last = check_area(store, "A", "last1d", "Europe/Paris", False)
    assert last.end_ms == T0 + 46 * H and last.start_ms == T0 + 22 * H  # latest ends 45:12
    assert last.sessions == 10
    assert check_area(store, "A", "all", "Europe/Paris", False).sessions == 18
    with store.engine.begin() as conn:
        conn.exec_driver_sql("delete from sessions")
    with pytest.raises(
        OptimiserInputError, match=r"^period: area 'A': no session of the area to end it on$"
    ):
        check_area(store, "A", "last3d", "Europe/Paris", True)
    store.close()


def test_cli_unknown_area_is_one_line(db: str, tmp_path: Path) -> None:
    from baywatch.cli import app

    for kind in ("placement", "timeslots"):
        res = CliRunner().invoke(
            app, ["optimise", kind, "--db", db, "--area", "Nowhere", "--out", str(tmp_path)]
        )
        assert res.exit_code == 2, res.output
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and "no bays in area 'Nowhere'" in lines[0], res.output
        assert "Traceback" not in res.output


def test_hours_no_camera_watched_are_estimated_never_zero(tmp_path: Path) -> None:
    """A camera watched its bay on Monday 08:00-12:00 only, with its comms lost 10:05-10:50
    (hour 10 unwatched by the statistics' rule: offline for most of it). Over a Monday-
    Tuesday period, only hours 8, 9 and 11 of Monday are observed."""
    from occupancy.domain.records import EventType
    from optimiser.inputs import ESTIMATED_DAY_FACTOR, TYPICAL_URBAN_PROFILE
    from optimiser.requests import Sources, TimeslotRequest
    from optimiser.runners import timeslots

    url = f"sqlite:///{tmp_path / 'partial.db'}"
    store = Store(url)
    store.upsert_zones(
        records_from_rows(
            [
                {
                    "curb_zone_id": "cam",
                    "name": "bay cam",
                    "device_id": "cam-1",
                    "source": "test",
                    "geometry": square(LON["cam"], LAT),
                    "lon": LON["cam"],
                    "lat": LAT,
                    "length_cm": 1000,
                    "num_spaces": 1,
                    "delivery_hours": "Mo-Sa 07:00-20:00; PH off",
                    "area_id": "P",
                }
            ]
        )
    )
    attempt = store.begin_run(
        "run-p", device_id="cam-1", source="clip", live=False,
        footage_start_ms=T0 + 8 * H, settings={},
    )  # fmt: skip
    store.finish_run(
        "run-p", attempt, status=RunStatus.COMPLETE, footage_end_ms=T0 + 12 * H, frames_analysed=1
    )
    ev = [
        {
            "event_id": f"e{k}",
            "event_type": str(t),
            "event_time": T0 + 10 * H + m * 60_000,
            "event_publication_time": T0 + 10 * H + m * 60_000,
            "data_source_device_id": "cam-1",
            "data_source_type": "camera",
        }
        for k, (t, m) in enumerate(((EventType.COMMS_LOST, 5), (EventType.COMMS_RESTORED, 50)))
    ]
    store.ingest_events(ev)
    # Vans at 08:30, 09:30, 11:30 (watched) and one at 10:10, in the outage: not evidence.
    rows = [
        _session(f"v{h}", "park", "cam", T0 + int(h * H), 10, run_id="run-p")
        for h in (8.5, 9.5, 10.17, 11.5)
    ]
    store.write_sessions_frame(pd.DataFrame(rows))
    store.close()

    p = parse_period("2026-03-02/2026-03-03", "Europe/Paris")
    start, end = p.start_ms, p.end_ms
    inputs = read_area(url, "P", start, end, tz="Europe/Paris")
    assert inputs.camera_hours == {"cam-1": pytest.approx(4.0 - 0.75)}
    area = area_demand(inputs, Rules(walk_limit_m=60))
    assert area.sites.evidence == ("observed",)
    shape = np.outer(ESTIMATED_DAY_FACTOR, TYPICAL_URBAN_PROFILE)
    seen = shape[0, 8] + shape[0, 9] + shape[0, 11]
    level = 3.0 / seen  # deliveries a working day, fitted on the three watched hours
    demand = dict(zip(area.demand.ids, area.demand.daily, strict=True))
    evidence = dict(zip(area.demand.ids, area.demand.evidence, strict=True))
    # Observed: the 3 vans in watched hours, over the 2-day period.
    assert demand["bay-cam"] == pytest.approx(1.5) and evidence["bay-cam"] == "observed"
    # Estimated: Monday's other 21 hours at the level x shape; Tuesday's 8, 9 and 11 at
    # Monday's own count (1 each), its other hours at the level x shape.
    day = shape[0].sum()  # the profile's shares (they sum to 0.99: scale-free here)
    est = (level * (day - seen) + 3.0 + level * (day - seen)) / 2
    assert demand["bay-cam-unwatched"] == pytest.approx(est)
    assert evidence["bay-cam-unwatched"] == "estimated"
    arr = area.arrivals["cam"]
    assert arr[0, 9] == pytest.approx(1.0)  # watched Monday 1, Tuesday estimated from it
    assert arr[0, 10] == pytest.approx(level * shape[0, 10]) and arr[0, 10] > 0  # not 0
    assert arr[0, 10] != pytest.approx(0.5)  # the 10:10 van in the outage is not counted
    assert arr[1].sum() == pytest.approx(level * shape[1].sum())
    assert arr[2].sum() == pytest.approx(level * shape[2].sum())
    # The observed share of the working day is the 3 vans over both days' arrivals.
    assert area.observed_by_day_type[0] == pytest.approx(1.5 / arr[0].sum())
    assert area.demand.shares()["observed"] == pytest.approx(1.5 / (1.5 + est))
    assert "cameras watched 6% of the period's hours at their 1 bays" in area.notes[0]

    run = timeslots(
        TimeslotRequest(sources=Sources(db=url, area="P", period="2026-03-02/2026-03-03"),
                        time_limit_s=5, num_workers=1, deterministic=True)
    )  # fmt: skip
    shares = f"{1.5 / (1.5 + est):.0%} observed, 0% simulated, {est / (1.5 + est):.0%} estimated"
    assert f"evidence: {shares}" in run.result.summary
    o = 1.5 / arr[0].sum()
    assert (
        "time-slot demand by day type (observed/simulated/estimated):"
        f" working {o:.0%}/0%/{1 - o:.0%}, saturday 0%/0%/100%, sunday 0%/0%/100%"
    ) in run.result.summary


def test_public_holidays_are_sunday_hours() -> None:
    """Wednesday 11 November 2026 (Armistice) is a Sunday/holiday for the time slots, as
    the Paris rules ("PH off") and the map's day types have it."""
    from optimiser.observed import _grid

    p = parse_period("2026-11-10/2026-11-12", "Europe/Paris")
    start, end = p.start_ms, p.end_ms
    grid = _grid(start, end, "Europe/Paris", "FR")
    assert grid.n_hours == 72
    assert list(grid.day_type[::24]) == [0, 2, 0]  # Tue working, Wed holiday, Thu working
    assert list(grid.hour[:3]) == [0, 1, 2]
    # A country with no calendar keeps the weekday.
    assert list(_grid(start, end, "Europe/Paris", "ZZ").day_type[::24]) == [0, 0, 0]


def _one_line(res: object, *needles: str) -> str:
    out = res.output  # type: ignore[attr-defined]
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert res.exit_code == 2 and len(lines) == 1, out  # type: ignore[attr-defined]
    assert lines[0].startswith("error: ") and "Traceback" not in out
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def test_a_period_with_no_data_stores_no_run(db: str, shops: Path, tmp_path: Path) -> None:
    """April: no session, observed or simulated, and no camera hour in area A. The time
    slots refuse (an empty run would supersede the planners' proposals); placement runs on
    declared shops and says first that nothing was observed."""
    from baywatch.cli import app
    from occupancy.storage.proposals import list_proposals

    quiet = "2026-04-01/2026-04-02"
    out = str(tmp_path / "out")
    res = CliRunner().invoke(
        app, ["optimise", "timeslots", "--db", db, "--area", "A", "--period", quiet, "--out", out]
    )
    _one_line(res, "no data in the period 2026-04-01/2026-04-02", "nothing stored")
    store = Store(db)
    assert list_proposals(store) == []
    store.close()
    res = CliRunner().invoke(
        app,
        [
            "optimise", "placement", "--db", db, "--area", "A", "--period", quiet,
            "--shops", str(shops), "--time-limit-s", "5", "--no-store", "--out", out,
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "note: NOTHING OBSERVED in the period 2026-04-01/2026-04-02" in res.output


def test_file_options_are_checked_before_the_run(db: str, tmp_path: Path) -> None:
    from baywatch.cli import app

    photo = tmp_path / "still.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)))
    args = ["--db", db, "--area", "A", "--period", "2026-03-02/2026-03-03"]
    for kind in ("placement", "timeslots"):
        cmd = ["optimise", kind, *args, "--out", str(tmp_path / "out")]
        missing = tmp_path / "nonexist.geojson"
        # Named although the run needs no shops (the camera and simulator cover the area).
        _one_line(
            CliRunner().invoke(app, [*cmd, "--shops", str(missing)]),
            f"--shops {missing}: no such file",
        )
        _one_line(
            CliRunner().invoke(app, [*cmd, "--shops", str(photo)]), "still.jpg: not a GeoJSON file"
        )
        # Text that is not GeoJSON was accepted and went unread (newcomer): named, with where.
        notes = tmp_path / "notes.geojson"
        notes.write_text("shops:\n  - boulangerie\n")
        _one_line(
            CliRunner().invoke(app, [*cmd, "--shops", str(notes)]),
            f"--shops {notes}: not GeoJSON (line 1, column 1",
        )
        table = tmp_path / "table.geojson"
        table.write_text('{"rows": []}')
        _one_line(
            CliRunner().invoke(app, [*cmd, "--shops", str(table)]),
            f"--shops {table}: not GeoJSON",
            "top-level",
        )
        _one_line(
            CliRunner().invoke(app, [*cmd, "--streets", str(tmp_path)]), "--streets", "not a file"
        )
        for out, why in (
            (Path("/proc/xx"), "cannot write in /proc"),
            (photo / "sub", "still.jpg is a file, not a folder"),
        ):
            res = CliRunner().invoke(app, ["optimise", kind, *args, "--out", str(out)])
            _one_line(res, f"--out {out}", why)
        # A file option the database run would not read is refused, not ignored.
        _one_line(
            CliRunner().invoke(app, [*cmd, "--sessions", str(photo)]),
            "--sessions",
            "not read with --db",
        )
    assert not (tmp_path / "out").exists()
