"""One line, exit 2, for each user mistake the issue-14 review found ending in a traceback.

Each case runs the real command (typer's CliRunner, stdout and stderr together) and
checks: exit code 2, exactly one output line, the words that name the problem, and for
a database URL with a password, that the password is not shown.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from baywatch.cli import app

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "sample_videos" / "intel-aisle.yaml"
FOOTAGE = ROOT / ".." / "shared" / "footage" / "intel" / "car-detection.mp4"
runner = CliRunner()


def one_line_error(args: list[str], *needles: str) -> str:
    r = runner.invoke(app, args)
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2, (args, r.output)
    assert len(lines) == 1, (args, r.output)
    assert lines[0].startswith("error: ") and "Traceback" not in r.output
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def test_db_file_that_is_not_a_database(tmp_path: Path) -> None:
    bad = tmp_path / "notes.db"
    bad.write_text("shopping list\n")
    one_line_error(
        ["stats", "--db", f"sqlite:///{bad}"], "cannot open database", "file is not a database"
    )
    assert bad.read_text() == "shopping list\n"  # nothing written over it


def test_unknown_driver_does_not_print_the_password() -> None:
    line = one_line_error(
        ["stats", "--db", "postgress://planner:hunter2@db.city/bays"], "invalid database URL"
    )
    assert "hunter2" not in line and "planner:***@db.city" in line


def test_read_command_refuses_a_database_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    for args in (
        ["stats", "--db", f"sqlite:///{missing}"],
        ["keys", "list", "--db", f"sqlite:///{missing}"],
        [
            "evaluate",
            str(ROOT / "sample_videos" / "truth" / "intel-aisle.json"),
            "--site",
            str(SITE),
            "--db",
            f"sqlite:///{missing}",
        ],
    ):
        one_line_error(args, "no database at", "typo.db")
        assert not missing.exists()  # nothing made for the typo
    assert not missing.exists()  # no empty database made


@pytest.mark.parametrize("period", ["last0d", "last999999999d"])
def test_period_last_n_days_out_of_range(tmp_path: Path, period: str) -> None:
    from tests.stats.test_stats_cli import CEREMA

    db = f"sqlite:///{tmp_path / 'b.db'}"
    (tmp_path / "bays.csv").write_text(CEREMA, encoding="utf-8")
    assert (
        runner.invoke(app, ["import-bays", str(tmp_path / "bays.csv"), "--db", db]).exit_code == 0
    )
    r = runner.invoke(app, ["simulate", "--db", db, "--days", "2", "--start", "2025-06-02"])
    assert r.exit_code == 0, r.output
    one_line_error(
        ["stats", "--db", db, "--period", period], f"bad --period {period!r}", "1 <= N <= 36500"
    )


def _site_with(tmp_path: Path, old: str, new: str) -> Path:
    text = SITE.read_text()
    assert old in text
    site = tmp_path / "site.yaml"
    site.write_text(text.replace(old, new).replace("../../shared", str(ROOT / ".." / "shared")))
    return site


needs_footage = pytest.mark.skipif(not FOOTAGE.exists(), reason="../shared/footage absent")


@needs_footage
def test_nan_in_a_bays_pixels(tmp_path: Path) -> None:
    site = _site_with(tmp_path, "[[0, 100], [140, 100]", "[[.nan, 100], [140, 100]")
    one_line_error(
        [
            "analyse",
            str(FOOTAGE),
            "--site",
            str(site),
            "--db",
            f"sqlite:///{tmp_path / 'a.db'}",
            "-q",
        ],
        "bays.0.pixels",
    )


@needs_footage
def test_model_of_an_unsupported_format(tmp_path: Path) -> None:
    fake = tmp_path / "weights.mp4"
    fake.write_bytes(FOOTAGE.read_bytes()[:1000])
    one_line_error(
        [
            "analyse",
            str(FOOTAGE),
            "--site",
            str(SITE),
            "--model",
            str(fake),
            "--db",
            f"sqlite:///{tmp_path / 'a.db'}",
            "-q",
        ],
        "weights.mp4",
        ".mp4 is not a model format",
    )


@needs_footage
def test_start_before_1970(tmp_path: Path) -> None:
    one_line_error(
        [
            "analyse",
            str(FOOTAGE),
            "--site",
            str(SITE),
            "--start",
            "0001-01-01T00:00:00+00:00",
            "--db",
            f"sqlite:///{tmp_path / 'a.db'}",
            "-q",
        ],
        "before 1970-01-01",
    )


@needs_footage
def test_negative_folder_fps(tmp_path: Path) -> None:
    one_line_error(
        [
            "analyse",
            str(FOOTAGE),
            "--site",
            str(SITE),
            "--folder-fps",
            "-5",
            "--db",
            f"sqlite:///{tmp_path / 'a.db'}",
            "-q",
        ],
        "folder frame rate must be a positive number, not -5",
    )


# -- found by a newcomer's run of the README (issue 14's class: one line for each mistake) --


def test_period_dates_pandas_cannot_hold(tmp_path: Path) -> None:
    from tests.stats.test_stats_cli import CEREMA

    db = f"sqlite:///{tmp_path / 'b.db'}"
    (tmp_path / "bays.csv").write_text(CEREMA, encoding="utf-8")
    assert (
        runner.invoke(app, ["import-bays", str(tmp_path / "bays.csv"), "--db", db]).exit_code == 0
    )
    for period in ("0001-01-01..0001-01-02", "1960-01-01"):
        one_line_error(["stats", "--db", db, "--period", period], f"bad --period {period!r}")


def test_error_text_in_brackets_is_printed_as_written(tmp_path: Path) -> None:
    # The [lat, lon] hint was eaten as console markup.
    import re

    text = SITE.read_text()
    first = re.search(r"lonlat: \[([-\d.]+), ([-\d.]+)\]", text)
    assert first is not None
    site = _site_with(tmp_path, first.group(0), f"lonlat: [{first.group(2)}, {first.group(1)}]")
    line = one_line_error(["analyse", "--site", str(site), "-q"], "[-90, 90]", "[lon, lat]")
    assert str(site) in line


def test_a_setting_that_is_not_json_is_one_line(tmp_path: Path) -> None:
    env = tmp_path / "bad.env"
    env.write_text("BAYWATCH_API_CORS_ORIGINS=notjson\n")
    one_line_error(["serve", "--config", str(env)], "BAYWATCH_API_CORS_ORIGINS", "JSON")


def test_a_basemap_url_that_is_not_http_is_refused(tmp_path: Path) -> None:
    env = tmp_path / "bad.env"
    env.write_text("BAYWATCH_API_TILE_URL=javascript:alert(1)\n")
    one_line_error(["serve", "--config", str(env)], "BAYWATCH_API_TILE_URL", "http(s) URL")


# -- second newcomer's list: numbers, output files, model runtimes, truth, partial runs --


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        (
            "detector:",
            "occupancy: {min_stationary_s: 1e308}\ndetector:",
            "occupancy.min_stationary_s",
        ),
        ("detector:", "occupancy: {grace_s: .inf}\ndetector:", "occupancy.grace_s"),
        (
            "detector:",
            "occupancy: {stationary_tolerance_m: 1e300}\ndetector:",
            "occupancy.stationary_tolerance_m",
        ),
        ("control_points:", "max_error_m: 1e308\n  control_points:", "calibration.max_error_m"),
        ("[[0, 100], [140, 100]", "[[-1e308, 100], [140, 100]", "bays.0.pixels"),
        ("frame_size: [768, 432]", "frame_size: [768, 99999999999]", "frame_size"),
        ("{id: left-stalls,", "{id: left-stalls, max_stay: 1e308,", "bays.0.max_stay"),
        (
            "{id: left-stalls,",
            "{id: left-stalls, min_stationary_s: 1e308,",
            "bays.0.min_stationary_s",
        ),
    ],
)
def test_site_numbers_out_of_range_name_the_field(
    tmp_path: Path, old: str, new: str, field: str
) -> None:
    site = _site_with(tmp_path, old, new)
    one_line_error(["analyse", "--site", str(site), "-q"], str(site), field)


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("rev.txt", "must end in .mp4"),
        ("rev", "no extension"),
        ("folder", "is a folder"),
        ("missing/rev.mp4", "does not exist"),
        ("/proc/rev.mp4", "cannot write here"),
    ],
)
def test_annotate_target_is_checked_before_the_run(tmp_path: Path, name: str, needle: str) -> None:
    (tmp_path / "folder").mkdir()
    # An absolute name replaces tmp_path; /proc refuses new files even to root.
    target = tmp_path / name
    db = tmp_path / "a.db"
    args = ["analyse", "--site", str(SITE), "--annotate", str(target), "--db", f"sqlite:///{db}"]
    one_line_error([*args, "-q"], "--annotate", needle)
    assert not db.exists()  # refused before any run was opened
    assert not (tmp_path / "rev.txt").exists() and not Path("/proc/rev.mp4").exists()


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("plot.txt", "'.txt' given"),
        ("folder", "is a folder"),
        ("missing/plot.png", "does not exist"),
        ("/proc/plot.png", "cannot write here"),
    ],
)
def test_evaluate_plot_target_is_checked_first(tmp_path: Path, name: str, needle: str) -> None:
    (tmp_path / "folder").mkdir()
    truth = ROOT / "sample_videos" / "truth" / "intel-aisle.json"
    one_line_error(
        ["evaluate", str(truth), "--site", str(SITE), "--plot", str(tmp_path / name)],
        "--plot",
        needle,
    )


TFLITE = ROOT / ".." / "shared" / "models" / "yolov8n_int8.tflite"


@pytest.mark.skipif(not TFLITE.exists(), reason="../shared/models/yolov8n_int8.tflite absent")
def test_model_whose_runtime_is_not_installed(tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("ai_edge_litert") is not None:
        pytest.skip("ai_edge_litert is installed here: the model loads")
    one_line_error(
        [
            "analyse",
            "--site",
            str(SITE),
            "--model",
            str(TFLITE),
            "--db",
            f"sqlite:///{tmp_path / 'a.db'}",
            "-q",
        ],
        ".tflite models need the Python package 'ai-edge-litert'",
        "pip install ai-edge-litert",
    )
    assert not (tmp_path / "a.db").exists()


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('"duration_s": 30.16', '"duration_s": 5e9', "duration_s"),
        ('"duration_s": 30.16', '"duration_s": Infinity', "duration_s"),
    ],
)
def test_truth_duration_beyond_a_week_is_refused(
    tmp_path: Path, old: str, new: str, field: str
) -> None:
    truth = tmp_path / "truth.json"
    text = (ROOT / "sample_videos" / "truth" / "intel-aisle.json").read_text()
    assert old in text
    truth.write_text(text.replace(old, new))
    one_line_error(
        ["evaluate", str(truth), "--site", str(SITE), "--db", f"sqlite:///{tmp_path / 'a.db'}"],
        str(truth),
        field,
    )


@pytest.fixture(scope="module")
def interrupted_scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A composed busy kerb (30 s, exact truth) whose analysis was interrupted (as by
    Ctrl-C) after 24 analysed frames, 12 s of footage at 2 fps: (site, truth, db URL)."""
    from occupancy.config.site import load_site
    from occupancy.evaluation.scenes import compose_scene, kerb_spec
    from occupancy.runtime.analysis import analyse
    from occupancy.storage.store import Store
    from vision.detector import Detector

    tmp = tmp_path_factory.mktemp("interrupted")
    scene = compose_scene(kerb_spec("busy", 30.0), tmp, seed=0)
    site = load_site(scene.site_path)
    url = f"sqlite:///{tmp / 'part.db'}"
    store = Store(url)

    def stop_at_24(done: int, total: int | None) -> None:
        if done >= 24:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        analyse(
            str(scene.video_path),
            site,
            store,
            detector=Detector.for_site(site, None),
            analysis_fps=2.0,
            progress=stop_at_24,
        )
    store.close()
    return scene.site_path, scene.truth_path, url


@needs_footage
def test_evaluate_an_interrupted_run_says_so_and_scores_its_span(
    interrupted_scene: tuple[Path, Path, str],
) -> None:
    import json

    site, truth, url = interrupted_scene
    r = runner.invoke(app, ["evaluate", str(truth), "--site", str(site), "--db", url, "--json"])
    assert r.exit_code == 0, r.output
    assert "incomplete run" in r.stderr and "interrupted" in r.stderr, r.stderr
    report = json.loads(r.stdout)
    assert report["run_status"] == "interrupted"
    assert report["truth_duration_s"] == pytest.approx(30.0, abs=0.5)
    # Scored on the footage the run analysed (24 frames at 2 fps: 11.5 s), not on 30 s.
    assert report["duration_s"] == pytest.approx(report["footage_analysed_s"])
    assert 9.0 <= report["duration_s"] <= 12.5
    sessions = json.loads(truth.read_text())["sessions"]
    assert report["sessions"]["true"] == sum(s["start_s"] < report["duration_s"] for s in sessions)


def test_clip_to_cuts_truth_and_found_sessions_at_the_analysed_span() -> None:
    from occupancy.evaluation.evaluate import Span, clip_to, evaluate
    from occupancy.evaluation.truth import parse_truth

    truth = parse_truth(
        {
            "duration_s": 600,
            "bays": ["b"],
            "sessions": [
                {"bay": "b", "start_s": 10, "end_s": 50, "kind": "park"},
                {"bay": "b", "start_s": 60, "end_s": 200, "kind": "park"},
                {"bay": "b", "start_s": 300, "end_s": 400, "kind": "park"},
            ],
        },
        Path("t.json"),
    )
    found = [Span("b", "park", 11, 49), Span("b", "park", 61, 65.5, open_end=True)]
    whole = evaluate(truth, found)
    assert whole.n_true == 3 and whole.recall == pytest.approx(1 / 3)  # 535 s never analysed
    cut, spans = clip_to(truth, found, 65.5)
    assert cut.duration_s == 65.5 and [(t.start_s, t.end_s) for t in cut.sessions] == [
        (10, 50),
        (60, 65.5),
    ]
    part = evaluate(cut, spans)
    assert (part.n_true, part.n_matched, part.f1) == (2, 2, 1.0)


def test_truth_far_longer_than_a_complete_runs_footage_is_refused() -> None:
    from occupancy.evaluation.evaluate import Coverage, check_coverage
    from occupancy.evaluation.truth import TruthError, parse_truth

    truth = parse_truth({"duration_s": 600, "bays": ["b"]}, Path("t.json"))
    check_coverage(truth, Coverage("r" * 32, "complete", 599.5, 1199), "t.json")  # one frame short
    with pytest.raises(TruthError, match=r"t.json: duration_s: 600 s is longer .* \(30.0 s\)"):
        check_coverage(truth, Coverage("r" * 32, "complete", 30.0, 60), "t.json")
    with pytest.raises(TruthError, match="is interrupted and analysed no footage"):
        check_coverage(truth, Coverage("r" * 32, "interrupted", 0.0, 0), "t.json")


# -- a newcomer's second run: files the commands write or read, one line each --


def _stats_db(tmp_path: Path) -> str:
    from tests.stats.test_stats_cli import CEREMA

    db = f"sqlite:///{tmp_path / 'b.db'}"
    (tmp_path / "bays.csv").write_text(CEREMA, encoding="utf-8")
    r = runner.invoke(app, ["import-bays", str(tmp_path / "bays.csv"), "--db", db])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["simulate", "--db", db, "--days", "2", "--start", "2025-06-02"])
    assert r.exit_code == 0, r.output
    return db


def test_output_files_are_checked_before_any_work(tmp_path: Path) -> None:
    db = _stats_db(tmp_path)
    for fmt in ("geojson", "geoparquet", "csv", "cds-sessions", "cds-aggregates"):
        one_line_error(
            ["stats", "--db", db, "--format", fmt, "-o", "/proc/x.out"],
            "--output /proc/x.out",
            "cannot write in /proc",
        )
        one_line_error(
            ["stats", "--db", db, "--format", fmt, "-o", str(tmp_path / "no" / "x.out")],
            "cannot write: folder",
        )
        one_line_error(["stats", "--db", db, "--format", fmt, "-o", str(tmp_path)], "is a folder")
    one_line_error(["report", "--db", db, "-o", "/proc/r.html"], "--output /proc/r.html")
    one_line_error(
        ["report", "--db", db, "--figures-dir", str(tmp_path / "bays.csv" / "figs")],
        "--figures-dir",
        "is a file, not a folder",
    )
    assert not (tmp_path / "no").exists()


def test_a_binary_file_given_as_settings_is_named(tmp_path: Path) -> None:
    photo = tmp_path / "still.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)))
    one_line_error(["serve", "--config", str(photo)], "--config", "still.jpg", "not a .env")


def test_a_table_limit_below_one_is_refused(tmp_path: Path) -> None:
    db = _stats_db(tmp_path)
    r = runner.invoke(app, ["stats", "--db", db, "--limit", "-5"])
    assert (
        r.exit_code == 2
        and "--limit" in r.output
        and ">= 1" in r.output.replace("greater than or equal to", ">=")
    ), r.output
    assert "more rows" not in r.output


MIXLEN = """ID,LONGITUDE,LATITUDE,LONGUEUR,LARGEUR,TEMPORALITE_OSM,COMMUNE,CODE_POSTAL
b1,2.3601,48.8601,1000,200,Mo-Sa 07:00-20:00,Paris,75003
b2,2.3622,48.8612,-5,200,,Paris,75003
b3,2.3643,48.8623,800,200,Mo-Fr 08:00-12:00,Paris,75004
"""


def test_a_bound_broken_names_line_field_and_value(tmp_path: Path) -> None:
    """A CEREMA length below 0 (a bound with no upper one): the row is listed by line,
    field and value and left out, the others stored; --strict stores nothing."""
    f = tmp_path / "mixlen.csv"
    f.write_text(MIXLEN, encoding="utf-8")
    strict = f"sqlite:///{tmp_path / 'strict.db'}"
    one_line_error(
        ["import-bays", str(f), "--strict", "--db", strict],
        "mixlen.csv: line 3: LONGUEUR '-5': must be 0 or more",
        "nothing stored (--strict)",
    )
    assert not (tmp_path / "strict.db").exists()
    db = f"sqlite:///{tmp_path / 'b.db'}"
    r = runner.invoke(app, ["import-bays", str(f), "--db", db])
    assert r.exit_code == 0, r.output
    assert "imported 2 bays" in r.output and "rejected 1" in r.output
    assert "rejected: line 3: LONGUEUR '-5': must be 0 or more" in r.output
    r = runner.invoke(app, ["demo-inventory", "--inventory", str(f), "--days", "1", "--db", db])
    assert r.exit_code == 0 and "2 bays (1 rejected)" in r.output, r.output
    typo = f"sqlite:///{tmp_path / 'typo.db'}"
    missing = tmp_path / "nb3.csv"
    one_line_error(
        ["demo-inventory", "--inventory", str(missing), "--db", typo], "no such inventory file"
    )
    assert not (tmp_path / "typo.db").exists()


def test_a_misspelt_setting_is_named_not_silently_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from occupancy.config.settings import Settings, unknown_variables

    known = {f"BAYWATCH_{f.upper()}": "x" for f in Settings.model_fields}
    assert unknown_variables({**known, "BAYWATCH_TEST_PG_URL": "x", "PATH": "/bin"}) == []
    monkeypatch.setenv("BAYWATCH_DBB", f"sqlite:///{tmp_path / 'meant.db'}")
    r = runner.invoke(app, ["stats", "--db", f"sqlite:///{tmp_path / 'typo.db'}"])
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2 and len(lines) == 2, r.output
    assert lines[0] == (
        "warning: BAYWATCH_DBB is not a baywatch setting and is ignored (did you mean BAYWATCH_DB?)"
    )
    assert lines[1].startswith("error: no database at")


def test_a_misspelt_key_in_a_settings_file_is_named(tmp_path: Path) -> None:
    env = tmp_path / "city.env"
    env.write_text("BAYWATCH_API_RATE_LIMIT_PER_SEC=5\n")
    # --workers 2 is refused right after the settings are read: nothing starts.
    r = runner.invoke(app, ["serve", "--config", str(env), "--workers", "2"])
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2 and len(lines) == 2 and lines[1].startswith("error: --workers")
    assert lines[0] == (
        f"warning: BAYWATCH_API_RATE_LIMIT_PER_SEC in {env} is not a baywatch setting and is"
        " ignored (did you mean BAYWATCH_API_RATE_LIMIT_PER_S?)"
    ), r.output


def test_a_misspelt_key_in_the_working_folders_env_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("BAYWATCH_MODLE=yolo11s.pt\n")
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["stats", "--db", f"sqlite:///{tmp_path / 'typo.db'}"])
    assert r.output.splitlines()[0] == (
        "warning: BAYWATCH_MODLE in .env is not a baywatch setting and is ignored"
        " (did you mean BAYWATCH_MODEL?)"
    ), r.output


def test_a_key_request_is_checked_before_a_database_is_made(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    for args, says in (
        (["keys", "create", "contractor", "--scope", "admn"], "admn"),
        (["keys", "create", " ", "--scope", "read"], "non-empty name"),
    ):
        one_line_error([*args, "--db", f"sqlite:///{db}"], says)
        assert not db.exists() and not list(tmp_path.iterdir())  # nothing made for a typo


@pytest.mark.parametrize("view", ["[500,100,0,0]", "[2.4,48.9,2.3,48.8]", "[2.3,48.8,2.4,95]"])
def test_a_map_view_outside_the_globe_or_inside_out_is_refused(
    view: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAYWATCH_API_DEFAULT_VIEW", view)
    from occupancy.config.settings import get_settings

    get_settings.cache_clear()
    try:
        one_line_error(["stats"], "BAYWATCH_API_DEFAULT_VIEW", "[west, south, east, north]")
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(
    ("push", "key", "says"),
    [
        ("notaurl", "bw_k", "--push notaurl: not an http(s) URL"),
        ("ftp://x/", "bw_k", "--push ftp://x/: not an http(s) URL"),
        ("http://127.0.0.1:9", None, "--push needs an API key with the ingest scope"),
    ],
)
@pytest.mark.parametrize("command", ["analyse", "watch"])
def test_push_options_are_checked_before_any_work(
    command: str,
    push: str,
    key: str | None,
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by a newcomer: these ran the whole analysis, then exited 0 having pushed nothing."""
    monkeypatch.delenv("BAYWATCH_PUSH_KEY", raising=False)
    db = tmp_path / "x.db"
    target = ["--site", str(SITE)] if command == "analyse" else [str(tmp_path)]
    args = [command, *target, "--db", f"sqlite:///{db}", "--push", push]
    one_line_error([*args, *(["--push-key", key] if key else [])], says)
    assert not db.exists()
