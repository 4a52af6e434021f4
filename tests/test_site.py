"""Site files: valid ones load, every kind of mistake is one line naming the field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from occupancy.config.site import SiteError, load_site, site_json_schema
from occupancy.observe.calibration import GroundProjection
from occupancy.observe.pipeline import prepare
from tests.conftest import SAMPLES

BASE: dict[str, Any] = yaml.safe_load((SAMPLES / "meva-c4f6.yaml").read_text())


def write(tmp_path: Path, data: Any, name: str = "site.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return p


def error_for(tmp_path: Path, mutate) -> str:  # type: ignore[no-untyped-def]
    data = copy.deepcopy(BASE)
    mutate(data)
    with pytest.raises(SiteError) as exc:
        site = load_site(write(tmp_path, data))
        prepare(site)
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_sample_sites_are_valid(path: Path) -> None:
    site = load_site(path)
    proj, zones = prepare(site)
    assert proj.rms_error_m < 0.05
    assert len(zones) == len(site.bays) + len(site.lane_zones)


def test_fewer_than_four_control_points(tmp_path: Path) -> None:
    msg = error_for(tmp_path, lambda d: d["calibration"]["control_points"].pop())
    assert "calibration.control_points" in msg and "at least 4" in msg


def test_collinear_control_points(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        cps = d["calibration"]["control_points"]
        for i, cp in enumerate(cps):
            cp["pixel"] = [100 * i, 100 * i]

    msg = error_for(tmp_path, mutate)
    assert "collinear" in msg and "pixel" in msg


def test_self_intersecting_bay(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["bays"][1]["pixels"] = [[316, 400], [385, 445], [385, 400], [316, 445]]

    msg = error_for(tmp_path, mutate)
    assert msg.startswith(str(tmp_path)) and "bays.1.pixels" in msg and "Self-intersection" in msg


def test_out_of_frame_bay(tmp_path: Path) -> None:
    msg = error_for(tmp_path, lambda d: d["bays"][0]["pixels"].__setitem__(1, [950, 400]))
    assert "bays.0.pixels" in msg and "outside the 896x500 frame" in msg


def test_unknown_field(tmp_path: Path) -> None:
    msg = error_for(tmp_path, lambda d: d["bays"][0].__setitem__("colour", "red"))
    assert "bays.0.colour: unknown field" in msg


def test_swapped_coordinates(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        for cp in d["calibration"]["control_points"]:
            cp["lonlat"] = [cp["lonlat"][1], cp["lonlat"][0]]

    msg = error_for(tmp_path, mutate)
    assert "calibration.control_points.0.lonlat" in msg and "[lat, lon]" in msg


def test_latitude_out_of_range(tmp_path: Path) -> None:
    msg = error_for(
        tmp_path,
        lambda d: d["calibration"]["control_points"][0].__setitem__("lonlat", [2.3, 148.8]),
    )
    assert "control_points.0.lonlat" in msg and "latitude" in msg


def test_bay_needs_exactly_one_shape(tmp_path: Path) -> None:
    msg = error_for(tmp_path, lambda d: d["bays"][0].pop("pixels"))
    assert "bays.0" in msg and "exactly one of 'pixels' or 'geometry'" in msg


def test_unknown_timezone_and_bad_lane_reference(tmp_path: Path) -> None:
    assert "unknown IANA time zone" in error_for(
        tmp_path, lambda d: d.__setitem__("timezone", "Mars/Olympus")
    )
    assert "beside_bay" in error_for(
        tmp_path, lambda d: d["lane_zones"][0].__setitem__("beside_bay", "nope")
    )


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(SiteError, match="site file not found"):
        load_site(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("camera_id: x\nbays: [unclosed\n")
    with pytest.raises(SiteError, match=r"bad.yaml: line \d+ not valid YAML"):
        load_site(bad)
    badj = tmp_path / "bad.json"
    badj.write_text('{"camera_id": }')
    with pytest.raises(SiteError, match=r"bad.json: line 1 not valid JSON"):
        load_site(badj)


def test_map_polygon_bay_projects_to_the_same_pixels(tmp_path: Path) -> None:
    """A bay given as a GeoJSON polygon lands on the pixels it was drawn from."""
    site = load_site(SAMPLES / "meva-c4f6.yaml")
    proj = GroundProjection.from_calibration(site.calibration)
    px = np.array(BASE["bays"][2]["pixels"], float)
    ring = proj.pixels_to_lonlat(px)
    data = copy.deepcopy(BASE)
    data["bays"][2].pop("pixels")
    data["bays"][2]["geometry"] = {
        "type": "Polygon",
        "coordinates": [[list(map(float, p)) for p in [*ring, ring[0]]]],
    }
    _, zones = prepare(load_site(write(tmp_path, data)))
    z = next(z for z in zones if z.local_id == "row-07")
    np.testing.assert_allclose(z.pixels[:4], px, atol=1e-3)


def test_homography_round_trips() -> None:
    site = load_site(SAMPLES / "meva-a1c9.yaml")
    proj = GroundProjection.from_calibration(site.calibration)
    rng = np.random.default_rng(0)
    px = np.column_stack([rng.uniform(0, 896, 50), rng.uniform(120, 504, 50)])
    back = proj.ground_to_pixels(proj.pixels_to_ground(px))
    np.testing.assert_allclose(back, px, atol=1e-6)
    ll = proj.pixels_to_lonlat(px)
    np.testing.assert_allclose(proj.ground_to_pixels(proj.lonlat_to_ground(ll)), px, atol=1e-4)
    # Control points map to their stated coordinates.
    for cp in site.calibration.control_points:
        np.testing.assert_allclose(proj.pixels_to_lonlat([cp.pixel])[0], cp.lonlat, atol=1e-8)


def test_json_schema_documents_the_fields() -> None:
    schema = site_json_schema()
    assert {"camera_id", "calibration", "bays"} <= set(schema["required"])
    assert "Bay" in schema["$defs"] and "max_stay" in schema["$defs"]["Bay"]["properties"]


def test_committed_schema_is_current() -> None:
    """docs/site.schema.json is what `baywatch site-schema` prints (regenerate it if this fails)."""
    import json

    from tests.conftest import ROOT

    assert json.loads((ROOT / "docs" / "site.schema.json").read_text()) == site_json_schema()
