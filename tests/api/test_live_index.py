"""The grid-accelerated bay search answers exactly like a brute-force scan."""

from __future__ import annotations

import numpy as np

from api.live import Bay, LiveIndex


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
        px, py = live._proj.xy(np.array([qlon]), np.array([qlat]))
        d = np.sqrt((live._x - px[0]) ** 2 + (live._y - py[0]) ** 2)
        inside = sorted((float(d[i]), int(i)) for i in np.flatnonzero(d <= r))
        assert [i for i, _ in live.near(qlat, qlon, r)] == [i for _, i in inside]
        free = [(dist, i) for dist, i in inside if i % 2 == 0][:7]
        got = live.free_near(qlat, qlon, r, limit=7)
        assert [i for i, _, _ in got] == [i for _, i in free]
        assert all(st.state.value == "free" for _, _, st in got)
