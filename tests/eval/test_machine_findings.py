"""Two weaknesses of the occupancy state machine that ``baywatch evaluate`` found on composed
scenes, reduced to hand-made track sequences; ``occupancy/machine.py`` now handles both.

1. Back-to-back vehicles merge into one session when the tracker gives the arriving vehicle
   the departed one's track id (ByteTrack re-associates a lost track within its buffer): the
   machine supports a session with its own track anywhere in the zone, even after that
   track was seen driving away. Seen on composed scenes with a departure and the next
   arrival about 3 s apart (``SceneSpec(turnover_s=0)``).
2. The stationary timer spans time a track was not seen: a track at rest for 4 s, unseen
   for 6 s (longer than the grace period), then seen again at the same place (the tracker
   re-used the id for another vehicle) counts as 10 s at rest and opens a session that
   starts when the first vehicle stopped. Seen as a false double parking in the aisle.
"""

from __future__ import annotations

from occupancy.domain.records import SessionKind
from tests.test_machine import STEP, Script, drive, obs


def test_back_to_back_with_reused_track_id_makes_two_sessions() -> None:
    s = Script()
    s.run(30, [obs(1, 6, 1.2)])
    a_last = s.t - STEP
    t = s.t
    s.run(3, move=drive(1, 6, 21, 1.2, t))  # A drives off; out of the bay after 1.5 s
    s.run(2)
    t = s.t
    s.run(2, move=drive(1, 16, 6.2, 1.2, t))  # B arrives; the tracker gives it id 1 again
    s.run(30, [obs(1, 6.2, 1.2)])
    s.run(10)
    assert len(s.sessions) == 2
    a, b = s.sessions
    assert a.end_ms <= a_last + STEP + STEP // 2  # halfway to the first frame it has left by
    assert b.start_ms > a.end_ms


def test_unseen_time_is_not_stationary_time() -> None:
    s = Script()
    s.run(4, [obs(7, 6, 4.0)])  # at rest in the lane zone for 4 s
    s.run(6)  # unseen for 6 s, longer than the 5 s grace period
    s.run(1, [obs(7, 6.3, 4.0)])  # the same id at the same place for 1 s
    s.run(10)
    s.finish()
    doubles = [x for x in s.sessions if x.kind is SessionKind.DOUBLE_PARK]
    assert doubles == []  # observed at rest 5 s in all: less than the 10 s minimum
