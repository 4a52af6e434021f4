"""Time of the planners' activity view (``/map/activity``) on a demo database.

    python bench/bench_map_activity.py --db sqlite:///baywatch.db

Calls ``api.routes.mapapi.map_activity`` directly (no HTTP) on the 14 days up to the
latest session: the first call reads every session into memory (what the map's opening
starts in the background), the next ones are filters of what was read. Prints one line
per query with the seconds, the answer's size, and the machine's load average.
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="sqlite:///baywatch.db")
    args = ap.parse_args()
    from api.app import create_app
    from api.routes.mapapi import latest_session_ms, map_activity
    from occupancy.config.settings import Settings

    app = create_app(Settings(db=args.db), background=False)
    st = app.state.api
    end = latest_session_ms(st)
    if end is None:
        raise SystemExit(f"{args.db}: no sessions (run `baywatch demo` first)")
    start = end - 14 * 86_400_000
    base = dict(
        start_ms=start,
        end_ms=end + 1,
        metric="double_parking",
        group="bay",
        hour_from=0,
        hour_to=24,
        day_type="all",
        vehicle_type=None,
        regime="all",
        area=None,
        resolution=9,
        bbox=None,
        state=st,
    )
    st.areas()  # built once per zone set, not part of a view
    queries = [
        ("whole city per bay, every hour (first: reads all sessions)", {}),
        (
            "whole city per street, 08-10, working days",
            dict(group="street", hour_from=8, hour_to=10, day_type="working"),
        ),
        (
            "Paris 3e per street, 08-10, working days",
            dict(group="street", hour_from=8, hour_to=10, day_type="working", area="75103"),
        ),
        ("Paris 3e per street, Saturdays", dict(group="street", day_type="saturday", area="75103")),
    ]
    print(f"{len(st.live.bays):,} bays; load average {os.getloadavg()[0]:.1f}")
    for label, kw in queries:
        t = time.perf_counter()
        r = map_activity(**{**base, **kw})  # type: ignore[arg-type]
        print(f"{label}: {time.perf_counter() - t:.2f} s, {len(r.body):,} bytes")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
