"""One rule for a bay's state, and the occupancy machine's views agree with it."""

from __future__ import annotations

import pytest

from occupancy.domain.records import EventType
from occupancy.domain.states import (
    COMMS_EVENTS,
    PARK_EVENTS,
    BayState,
    ZoneViewState,
    bay_state,
)
from tests.test_machine import BAY, Script, drive, obs

# Every combination, written out by hand from the rule in bay_state's docstring.
EXPECTED = {
    (None, None): BayState.UNKNOWN,
    (None, EventType.COMMS_RESTORED): BayState.UNKNOWN,
    (None, EventType.COMMS_LOST): BayState.UNKNOWN,
    (EventType.PARK_START, None): BayState.OCCUPIED,
    (EventType.PARK_START, EventType.COMMS_RESTORED): BayState.OCCUPIED,
    (EventType.PARK_START, EventType.COMMS_LOST): BayState.UNKNOWN,
    (EventType.PARK_END, None): BayState.FREE,
    (EventType.PARK_END, EventType.COMMS_RESTORED): BayState.FREE,
    (EventType.PARK_END, EventType.COMMS_LOST): BayState.UNKNOWN,
}


@pytest.mark.parametrize(("park", "comms"), list(EXPECTED))
def test_bay_state_of_each_combination(park: EventType | None, comms: EventType | None) -> None:
    assert bay_state(park, comms) is EXPECTED[(park, comms)]


def test_every_combination_is_listed() -> None:
    parks = [None, *PARK_EVENTS]
    comms = [None, *COMMS_EVENTS]
    assert set(EXPECTED) == {(p, c) for p in parks for c in comms}


@pytest.mark.parametrize(
    ("park", "comms"),
    [
        (EventType.COMMS_LOST, None),
        (EventType.COMMS_RESTORED, EventType.COMMS_LOST),
        (EventType.PARK_END, EventType.PARK_START),
        (None, EventType.PARK_END),
    ],
)
def test_events_of_the_wrong_family_are_refused(
    park: EventType | None, comms: EventType | None
) -> None:
    with pytest.raises(ValueError, match="latest_"):
        bay_state(park, comms)


def test_states_store_as_their_historic_strings() -> None:
    assert [str(s) for s in BayState] == ["free", "occupied", "unknown"]
    assert BayState.FREE == "free"  # a StrEnum: JSON and SQL keep the same values


def test_machine_views_agree_with_bay_state_of_its_events() -> None:
    """At every analysed frame, a zone's view is the state its latest park event gives."""
    s = Script()
    latest: dict[str, EventType] = {}
    seen_states: set[ZoneViewState] = set()

    def check() -> None:
        for out in s.out[len(s.out) - 1 :]:
            for e in out.events:
                if e.event_type in PARK_EVENTS and e.lane_zone_id is None:
                    assert e.curb_zone_id is not None
                    latest[e.curb_zone_id] = e.event_type
        view = s.m.views(s.t - 500)[BAY.key]
        seen_states.add(view.state)
        if BAY.key in latest:
            assert view.state.bay_state is bay_state(latest[BAY.key], None)
        else:  # nothing emitted yet: the machine shows free or arriving, never occupied
            assert view.state in (ZoneViewState.FREE, ZoneViewState.ARRIVING)

    def run(seconds: float, frame=None, move=None) -> None:  # type: ignore[no-untyped-def]
        for _ in range(round(seconds * 2)):
            s.run(0.5, frame, move)
            check()

    run(2)
    arrive = s.t
    run(4, move=drive(1, -14, 6, 1.2, arrive))
    run(80, [obs(1, 6, 1.2)])  # parks, then overstays (max_stay_min is 1)
    run(10)  # leaves
    run(15, [obs(2, 6, 1.2)])  # a second vehicle parks
    run(10)
    assert seen_states == set(ZoneViewState)
    assert latest[BAY.key] is EventType.PARK_END
