"""The grid-accelerated bay search answers exactly like a brute-force scan."""

from __future__ import annotations

import numpy as np

from api.live import Bay, LiveIndex


def test_points_the_local_projection_cannot_represent_have_no_bays_near() -> None:
    # Found by schemathesis: lat=-90 projects to infinity in the bays' local CRS.
    live = LiveIndex()
    live.set_bays([_bay(0, 2.35, 48.85)])
    assert live.near(-90.0, -180.0, 1000.0) == []
    assert live.near(90.0, 180.0, 0.0) == []
    assert [i for i, _ in live.near(48.85, 2.35, 10.0)] == [0]


def _bay(i: int, lon: float, lat: float) -> Bay:
    return Bay(str(i), None, lon, lat, {}, None, "t", *([None] * 12), 0)


def test_grid_search_equals_brute_force() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    lon, lat = rng.uniform(2.25, 2.42, n), rng.uniform(48.81, 48.90, n)
    bays = [
        Bay(
            str(i),
            None,
            float(lon[i]),
            float(lat[i]),
            {},
            None,
            "t",
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            0,
        )
        for i in range(n)
    ]
    live = LiveIndex()
    live.set_bays(bays)
    live._park_code[::2] = 1  # every other bay free
    for _ in range(200):
        qlat, qlon = rng.uniform(48.80, 48.91), rng.uniform(2.24, 2.43)
        r = float(rng.choice([30.0, 300.0, 1000.0, 5000.0]))
        assert live._proj is not None
        px, py = live._proj.to_xy(np.array([qlon]), np.array([qlat]))
        d = np.sqrt((live._x - px[0]) ** 2 + (live._y - py[0]) ** 2)
        inside = sorted((float(d[i]), int(i)) for i in np.flatnonzero(d <= r))
        assert [i for i, _ in live.near(qlat, qlon, r)] == [i for _, i in inside]
        free = [(dist, i) for dist, i in inside if i % 2 == 0][:7]
        got = live.free_near(qlat, qlon, r, limit=7)
        assert [int(b.curb_zone_id) for b, _, _ in got] == [i for _, i in free]
        assert all(st.state.value == "free" for _, _, st in got)


def test_reloading_zones_only_appends() -> None:
    def bay(i: int, lon: float) -> Bay:
        return Bay(
            str(i),
            None,
            lon,
            48.85,
            {},
            None,
            "t",
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            0,
        )

    live = LiveIndex()
    live.set_bays([bay(2, 2.35), bay(5, 2.36)])
    live.apply([{"event_type": "park_end", "event_time": 10, "curb_zone_id": "5"}])
    live.set_bays([bay(1, 2.34), bay(2, 2.35), bay(5, 2.361)])  # "1" sorts first in the DB
    assert [b.curb_zone_id for b in live.bays] == ["2", "5", "1"]
    assert live.index == {"2": 0, "5": 1, "1": 2}
    assert live.state("5").state.value == "free" and live.bays[1].lon == 2.361
    assert live.state("1").state.value == "unknown"
