"""Candidate kerb leaves out bus-lane SIDES, not whole ways, and the 5 m before junctions
and crossings, on a small OpenStreetMap file written by the test and read through GDAL's
OSM driver, as the real extract is.

The streets run east (drawn west to east) on separate rows 120 m apart, 200 m long, so
that only the north-south street meets one of them; in right-hand traffic the right
kerb of an eastward way is its south side.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely

from optimiser.distances import to_l93
from optimiser.kerb import CLEARANCE_M, bus_lane_sides, kerb_candidates

LON0, LAT0 = 2.3600, 48.8600
M_LAT = 1 / 111_320  # degrees of latitude a metre
M_LON = M_LAT / np.cos(np.radians(LAT0))

# way id -> (tags, the kerb sides expected to stay candidates)
STREETS: dict[int, tuple[dict[str, str], set[str]]] = {
    1: ({"busway:right": "lane"}, {"left"}),  # two-way, bus lane on its right only
    2: ({"oneway": "yes", "busway": "lane"}, {"left"}),  # with the traffic: right
    3: ({"oneway": "-1", "busway": "lane"}, {"right"}),  # drawn against the traffic
    4: ({"busway": "lane"}, set()),  # two-way: both sides
    5: ({"lanes:bus:backward": "1"}, {"right"}),
    6: ({"oneway": "yes", "bus:lanes": "designated|yes|yes"}, {"right"}),  # left kerb lane
    7: ({"oneway": "yes", "busway": "opposite_lane"}, {"right"}),  # contraflow: left
    8: ({"oneway": "yes", "lanes:psv": "1"}, {"left"}),
    9: ({"maxspeed": "30"}, {"left", "right"}),  # no bus lane
}


def _osm(path: Path) -> Path:
    """An .osm XML file: the streets above, a north-south street crossing street 9 at
    x = 100 m (a junction), and a pedestrian crossing on street 9 at x = 160 m."""
    nodes: list[str] = []
    ways: list[str] = []

    def node(nid: int, x: float, y: float, tags: dict[str, str] | None = None) -> int:
        tag = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in (tags or {}).items())
        lon, lat = LON0 + x * M_LON, LAT0 + y * M_LAT
        nodes.append(f'<node id="{nid}" version="1" lat="{lat:.8f}" lon="{lon:.8f}">{tag}</node>')
        return nid

    def way(wid: int, refs: list[int], tags: dict[str, str]) -> None:
        nd = "".join(f'<nd ref="{r}"/>' for r in refs)
        tag = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        ways.append(f'<way id="{wid}" version="1">{nd}{tag}</way>')

    for wid, (tags, _) in STREETS.items():
        y = 120.0 * wid
        refs = [node(wid * 10 + 1, 0.0, y), node(wid * 10 + 2, 200.0, y)]
        if wid == 9:
            refs = [
                refs[0],
                node(93, 100.0, y),
                node(94, 160.0, y, {"highway": "crossing"}),
                refs[1],
            ]
        way(wid, refs, {"highway": "residential", **tags})
    way(10, [node(101, 100.0, 9 * 120.0 - 80.0), 93, node(102, 100.0, 9 * 120.0 + 80.0)],
        {"highway": "residential"})  # fmt: skip
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="test">'
        + "".join(nodes)
        + "".join(ways)
        + "</osm>\n"
    )
    return path


@pytest.fixture
def candidates(tmp_path: Path) -> tuple[list[str], list[list[tuple[float, float]]], dict[str, int]]:
    osm = _osm(tmp_path / "streets.osm")
    lines = pyogrio.read_dataframe(osm, layer="lines")
    points = pyogrio.read_dataframe(osm, layer="points")
    area = shapely.box(-1e7, -1e7, 1e7, 1e7)
    ids, geoms, _usable, skipped = kerb_candidates(lines, points, area, np.zeros((0, 2)))
    return ids, geoms, skipped


def test_bus_lane_sides_from_osm_tags() -> None:
    for wid, (tags, free) in STREETS.items():
        assert {"left", "right"} - bus_lane_sides(tags) == free, (wid, tags)
    # A bus lane in the middle of a one-way street leaves both kerbs.
    assert bus_lane_sides({"oneway": "yes", "bus:lanes": "yes|designated|yes"}) == frozenset()
    assert bus_lane_sides({"busway:both": "lane"}) == {"left", "right"}
    assert bus_lane_sides({"busway": "no", "lanes:bus": "0"}) == frozenset()
    # A plain count on a two-way street does not say which side: both are left out.
    assert bus_lane_sides({"lanes:bus": "1"}) == {"left", "right"}


def test_other_side_of_a_one_sided_bus_lane_stays_a_candidate(
    candidates: tuple[list[str], list[list[tuple[float, float]]], dict[str, int]],
) -> None:
    ids, geoms, skipped = candidates
    got: dict[int, set[str]] = {}
    for cid, line in zip(ids, geoms, strict=True):
        wid, side = int(cid.split("-")[1]), cid.split("-")[2]
        got.setdefault(wid, set()).add({"l": "left", "r": "right"}[side])
        if wid in STREETS:
            # Drawn on its own side: north (left of an eastward way) or south (right).
            y = float(to_l93(np.asarray(line))[:, 1].mean())
            y0 = float(to_l93(np.array([[LON0, LAT0 + 120.0 * wid * M_LAT]]))[0, 1])
            assert (y > y0) == (side == "l"), (cid, y - y0)
    for wid, (_, free) in STREETS.items():
        assert got.get(wid, set()) == free, wid
    assert got[10] == {"left", "right"}  # the north-south street
    assert skipped["bus_lane_ways"] == 8 and skipped["bus_lane_sides"] == 9


def test_no_kerb_within_5_m_of_a_junction_or_crossing(
    candidates: tuple[list[str], list[list[tuple[float, float]]], dict[str, int]],
) -> None:
    ids, geoms, _ = candidates
    stops = to_l93(
        np.array(
            [[LON0 + 100 * M_LON, LAT0 + 1080 * M_LAT], [LON0 + 160 * M_LON, LAT0 + 1080 * M_LAT]]
        )
    )
    near = []
    for cid, line in zip(ids, geoms, strict=True):
        if int(cid.split("-")[1]) not in (9, 10):
            continue
        ls = shapely.LineString(to_l93(np.asarray(line)))
        for s in stops:
            near.append(ls.distance(shapely.Point(s)))
    # The pieces end CLEARANCE_M along the centreline from each stop, drawn 3 m aside:
    # sqrt(5^2 + 3^2) = 5.83 m at the closest.
    assert min(near) >= np.hypot(CLEARANCE_M, 3.0) - 0.05
    assert min(near) < 7.0  # and the kerb right after the clearance is kept
