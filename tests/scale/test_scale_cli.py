"""``baywatch db upgrade``, ``baywatch watch`` and ``analyse --backend ray`` from the outside:
what works prints one line, what is wrong is one ``error:`` line and exit 2."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect

from occupancy.storage import migrations
from tests.conftest import SAMPLES, needs_footage
from tests.test_cli import assert_one_line_error, baywatch

SITE = SAMPLES / "meva-a1c9.yaml"


def test_db_upgrade_creates_then_keeps_the_schema(store_url: str, tmp_path: Path) -> None:
    for _ in range(2):
        p = baywatch("db", "upgrade", "--db", store_url, cwd=tmp_path)
        assert p.returncode == 0, p.stderr
        assert f"schema at revision {migrations.head()}" in p.stdout
    engine = create_engine(store_url)
    assert {"sessions", "alembic_version"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_db_upgrade_hides_the_password_of_an_unreachable_database(tmp_path: Path) -> None:
    p = baywatch(
        "db", "upgrade", "--db", "postgresql+psycopg://bw:s3cret@127.0.0.1:9/x", cwd=tmp_path
    )
    assert_one_line_error(p, "cannot open database", "bw:***@127.0.0.1:9")
    assert "s3cret" not in p.stderr


def test_watch_rejects_a_missing_or_empty_sites_folder(tmp_path: Path) -> None:
    assert_one_line_error(
        baywatch("watch", str(tmp_path / "absent"), cwd=tmp_path), "not a folder of site files"
    )
    (tmp_path / "sites").mkdir()
    (tmp_path / "sites" / "bad.yaml").write_text("bays: 3\n")
    p = baywatch("watch", str(tmp_path / "sites"), "--metrics-port", "0", cwd=tmp_path)
    assert p.returncode == 2 and "skipped: " in p.stderr and "bad.yaml" in p.stderr
    assert p.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "no usable site file" in p.stderr


@needs_footage  # the site's source must exist before the backend options are judged
def test_analyse_options_that_need_the_ray_backend(tmp_path: Path) -> None:
    # Several files are analysed locally with one loaded model; each must exist.
    p = baywatch("analyse", "a.mp4", "b.mp4", "--site", str(SITE), cwd=tmp_path)
    assert_one_line_error(p, "a.mp4: no such file")
    (tmp_path / "a.mp4").mkdir()
    p = baywatch("analyse", "a.mp4", "b.mp4", "--site", str(SITE), cwd=tmp_path)
    assert_one_line_error(p, "a.mp4: not a video file")
    p = baywatch(
        "analyse", "--site", str(SITE), "--backend", "ray", "--annotate", "x.mp4", cwd=tmp_path
    )
    assert_one_line_error(p, "--annotate and --push work with --backend local only")
    # The site's source is a folder of frames: Ray analyses recorded video files.
    p = baywatch("analyse", "--site", str(SITE), "--backend", "ray", cwd=tmp_path)
    assert_one_line_error(p, "rvmot-a1c9", "video files only")
