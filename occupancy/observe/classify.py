"""CDS vehicle type from the detector's class and the measured ground length.

The detector tells car from truck; only the length on the ground can tell a van
from a car or a lorry, and a cargo bike from a bicycle. Thresholds are typical
European dimensions: cars up to 5.5 m, vans up to 7.5 m, cargo bikes over 2.2 m.
"""

from __future__ import annotations

from occupancy.domain.records import VehicleType

CAR_MAX_M = 5.5
VAN_MAX_M = 7.5
BICYCLE_MAX_M = 2.2


def refine(base: VehicleType, length_m: float | None) -> VehicleType:
    """The CDS vehicle type from the detector's ``base`` type and the ground length in
    metres (None: not measured, ``base`` is kept): a car over ``CAR_MAX_M`` is a van, a
    truck up to ``VAN_MAX_M`` a van and over it freight, a bicycle over
    ``BICYCLE_MAX_M`` a cargo bicycle. Thresholds: see the module docstring.
    """
    if length_m is None:
        return base
    if base is VehicleType.CAR and length_m > CAR_MAX_M:
        return VehicleType.VAN
    if base is VehicleType.TRUCK:
        return VehicleType.VAN if length_m <= VAN_MAX_M else VehicleType.FREIGHT
    if base is VehicleType.BICYCLE and length_m > BICYCLE_MAX_M:
        return VehicleType.CARGO_BICYCLE
    return base
