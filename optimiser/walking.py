"""Walking distance as a cost with a limit: the share of a stop's deliveries a bay serves.

Rule (issue 11: "walking distance is a cost with a limit, not a cliff at 100 m"):
a delivery for a demand point at walking distance ``d`` from a bay uses the bay with
probability

    share(d) = 1                                          for d <= full_m
             = (limit_m - d) / (limit_m - full_m)          for full_m < d < limit_m
             = 0                                          for d >= limit_m

i.e. everyone parks at a bay on the same stretch of kerb, the share falls linearly
with every metre beyond it, and nobody walks ``limit_m`` or more: the rest of that
demand double parks at the door. The distance is first rounded *up* to a
``BAND_M`` band, so that points with the same sites in similar bands merge into one
weighted group (the aggregation is exact for the rounded distances; rounding up
never promises more than the unrounded rule).

Defaults and why (assumptions, stated and configurable: ``Rules.walk_full_m``,
``Rules.walk_limit_m``, CLI ``--walk-full-m`` / ``--walk-limit-m``, the same fields in
an API job's ``rules``):

- ``limit_m`` = 100 m: the project's former reach, from the Paris practice of a delivery
  bay within about 100 m of the businesses of a street; now the distance at which the
  share reaches 0, not a cliff from 1 to 0.
- ``full_m`` = 25 m: a bay on the same kerb, a couple of doors away. French guidance
  for delivery bays (CERTU/CEREMA guides on delivery-bay regulation) places a bay
  within about 50 m of the businesses it serves because drivers further away double
  park; the linear fall from 25 m to 100 m keeps two thirds of the demand at 50 m
  and a third at 75 m.

Walking distance: along the street graph where one is given (``optimiser.distances``,
shortest paths on the OSM ways), else the straight line times ``DETOUR_FACTOR``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# Distances are rounded up to this band (m) before the share is read off: coarse
# enough that nearby points merge into one group, fine enough (a 5 m band moves the
# share by at most 5 / (limit - full) = 7 % at the defaults) to keep the decay.
BAND_M = 5.0

# Defaults of ``Rules.walk_full_m`` and ``Rules.walk_limit_m`` (see above).
FULL_M = 25.0
LIMIT_M = 100.0

# Straight line -> walking distance where no street graph is given. Pedestrian routes in
# a dense street grid are 1.2-1.4 times the straight line (route directness measured in
# the walkability literature); 1.3 is the middle of that range, an assumption.
DETOUR_FACTOR = 1.3


def banded(distance_m: FloatArray) -> FloatArray:
    """Distances (m) rounded up to the next ``BAND_M`` (0 stays 0)."""
    return np.ceil(np.asarray(distance_m, dtype=float) / BAND_M - 1e-9) * BAND_M


def served_share(distance_m: FloatArray, full_m: float, limit_m: float) -> FloatArray:
    """The share of a point's deliveries a bay at ``distance_m`` (walking metres, any
    shape) serves: 1 up to ``full_m``, linear to 0 at ``limit_m``, 0 beyond (see the
    module docstring). Distances are banded first. ``full_m >= limit_m`` is the old
    cliff: 1 up to ``limit_m``, 0 beyond.
    """
    d = banded(distance_m)
    if full_m >= limit_m:
        return np.where(d <= limit_m, 1.0, 0.0)
    return np.clip((limit_m - d) / (limit_m - full_m), 0.0, 1.0)
