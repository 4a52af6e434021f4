"""How long a new delivery bay should be, from the vehicles seen delivering in the area.

Rule (``new_bay_length``):

- the vehicles: the delivery stops (``DELIVERY_VEHICLES``: van, truck, freight, cargo
  bicycle; parked in a bay or double parked beside one) of the area and period; each
  counts with its stored ``vehicle_length`` (cm: the camera's measure, or the
  simulator's) and, where none is stored, with the typical length of its type
  (``TYPICAL_LENGTH_M``, an assumption);
- the length: the ``share`` quantile of those lengths (default 0.85: the bay fits 85 %
  of the delivery stops seen) plus ``MANOEUVRE_MARGIN_M``, rounded up to
  ``ROUND_TO_M``, then held inside the city's allowed range (default 12-15 m);
- observed (camera) stops alone when there are ``MIN_STOPS`` of them, else every stop,
  the length then marked ``simulated`` if any simulated stop is among them;
- with fewer than ``MIN_STOPS`` delivery stops seen (or none), the bay takes
  ``DEFAULT_LENGTH_M``, marked ``estimated``;
- each candidate takes the length of the stops at the bays within walking reach of it
  where at least ``MIN_STOPS`` were seen there (``local_lengths``), else the area's;
- a planner's own length (``Rules.new_bay_length_m``) overrides all of this.

Source of the range and the margin: CEREMA, "Aménager les aires de livraison"
(cerema.fr/fr/actualites/amenager-aires-livraison): a vehicle must enter a delivery bay
moving forward (reversing in is to be ruled out) and, for urban distribution vehicles
with a tail lift, a bay is 12 m to 15 m long (15 m being three car places, to prefer
where parking is allowed at night, on Sundays and holidays). Our margin reads that
rule against the vehicle it is written for: CEREMA's 12 m minimum for an urban
distribution rigid truck of about 8 m leaves 4 m for entering forwards between parked
cars and working the tail lift (an assumption, stated in every proposal).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from occupancy.inventory.bays import DELIVERY_VEHICLES
from optimiser.inputs import Rules

# Typical overall length by CDS vehicle type where a session stores none (assumptions:
# a long-wheelbase panel van, a 12-19 t urban rigid truck, a large rigid or articulated
# goods vehicle, a two-wheeled cargo bicycle).
TYPICAL_LENGTH_M: dict[str, float] = {
    "van": 5.5,
    "truck": 8.0,
    "freight": 12.0,
    "cargo_bicycle": 2.5,
}
MANOEUVRE_MARGIN_M = 4.0  # forward entry and tail lift (CEREMA 12 m for an ~8 m truck)
ALLOWED_RANGE_M = (12.0, 15.0)  # CEREMA: 12 m to 15 m
DEFAULT_LENGTH_M = 12.0  # nothing seen: CEREMA's minimum for a delivery vehicle with a tail lift
DEFAULT_SHARE = 0.85
MIN_STOPS = 20  # below this the quantile of a handful of stops says little
ROUND_TO_M = 0.5  # kerb marking is laid out to the half metre


@dataclass(frozen=True)
class NewBayLength:
    """The length of one new bay (m), the evidence behind it (observed | simulated |
    estimated | planner) and one sentence saying how it was chosen."""

    length_m: float
    evidence: str
    basis: str
    stops: int = 0
    measured_share: float = 0.0  # share of the stops with a stored vehicle_length


def new_bay_length(
    sessions: pd.DataFrame | None,
    share: float = DEFAULT_SHARE,
    allowed_m: tuple[float, float] = ALLOWED_RANGE_M,
    planner_m: float | None = None,
    where: str = "seen",
) -> NewBayLength:
    """The length of a new bay for the delivery stops in ``sessions`` (see the module's rule).

    ``sessions``: rows with ``vehicle_type`` and, optionally, ``vehicle_length`` (cm) and
    ``data_source_type`` ('simulated' marks simulated stops); None or empty means none
    seen. ``share`` in (0, 1]; ``allowed_m`` = (shortest, longest) in metres; ``where``
    says where the stops were seen, in the basis sentence."""
    lo, hi = allowed_m
    if planner_m is not None:
        return NewBayLength(planner_m, "planner", f"{planner_m:g} m, set by the planner")
    if sessions is None or sessions.empty or "vehicle_type" not in sessions.columns:
        lengths = np.zeros(0)
        measured = np.zeros(0, dtype=bool)
        simulated = False
    else:
        deliv = sessions[sessions["vehicle_type"].isin(DELIVERY_VEHICLES)]
        if "data_source_type" in deliv.columns:
            watched = deliv[deliv["data_source_type"] != "simulated"]
            # Observed stops alone when there are enough: simulated ones never blend in.
            if len(watched) >= MIN_STOPS:
                deliv = watched
        stored = (
            pd.to_numeric(deliv["vehicle_length"], errors="coerce").to_numpy(dtype=float) / 100.0
            if "vehicle_length" in deliv.columns
            else np.full(len(deliv), np.nan)
        )
        measured = np.isfinite(stored) & (stored > 0)
        typical = deliv["vehicle_type"].astype(str).map(TYPICAL_LENGTH_M).to_numpy(dtype=float)
        lengths = np.where(measured, stored, typical)
        simulated = bool(
            "data_source_type" in deliv.columns and (deliv["data_source_type"] == "simulated").any()
        )
    n = len(lengths)
    range_text = f"within the allowed {lo:g}-{hi:g} m (CEREMA: 12-15 m)"
    if n < MIN_STOPS:
        length = min(max(DEFAULT_LENGTH_M, lo), hi)
        return NewBayLength(
            length,
            "estimated",
            f"{length:g} m, the default (CEREMA's minimum for a delivery vehicle with a tail"
            f" lift): {n} delivery stop(s) seen, fewer than {MIN_STOPS}",
            stops=n,
        )
    # The shortest length at least ``share`` of the stops fit in (the inverse of their CDF).
    q = float(np.quantile(lengths, share, method="inverted_cdf"))
    raw = math.ceil((q + MANOEUVRE_MARGIN_M) / ROUND_TO_M) * ROUND_TO_M
    length = min(max(raw, lo), hi)
    evidence = "simulated" if simulated else "observed"
    m_share = float(measured.mean())
    held = "" if length == raw else f" (held from {raw:g} m)"
    return NewBayLength(
        length,
        evidence,
        f"{length:g} m{held}: fits {share:.0%} of the {n} delivery stops {where} ({evidence};"
        f" vehicles up to {q:.1f} m; {m_share:.0%} with a stored vehicle_length, the rest"
        f" at their type's typical length) plus {MANOEUVRE_MARGIN_M:g} m to enter forwards and work"
        f" a tail lift, {range_text}",
        stops=n,
        measured_share=m_share,
    )


def for_rules(sessions: pd.DataFrame | None, rules: Rules, where: str = "seen") -> NewBayLength:
    """``new_bay_length`` with the share, allowed range and planner's length of ``rules``."""
    return new_bay_length(
        sessions, rules.new_bay_share, rules.new_bay_range_m, rules.new_bay_length_m, where
    )


def local_lengths(
    sites_xy: np.ndarray,
    bay_xy: np.ndarray,
    bay_ids: Sequence[str],
    sessions: pd.DataFrame,
    bay_of: pd.Series,
    rules: Rules,
    area: NewBayLength,
) -> list[NewBayLength]:
    """Each candidate's own length: from the delivery stops at the bays within the
    walking limit of it (``rules.walk_limit_m``, straight line, Lambert-93 metres), where
    at least ``MIN_STOPS`` were seen there, else the ``area``'s (the vehicle mix of one
    street can differ from the area's: a market street sees trucks).

    ``sites_xy``: (m, 2) candidate midpoints; ``bay_xy``/``bay_ids``: the bays in place;
    ``bay_of``: each session's bay id (its ``curb_zone_id``, or its lane zone's bay)."""
    if rules.new_bay_length_m is not None or not len(sites_xy) or not len(bay_xy):
        return [area] * len(sites_xy)
    deliv = sessions["vehicle_type"].isin(DELIVERY_VEHICLES).to_numpy()
    rows = pd.Series(np.arange(len(sessions)))[deliv]
    by_bay = rows.groupby(bay_of.astype("string").to_numpy()[deliv]).apply(list).to_dict()
    tree = shapely.STRtree(shapely.points(bay_xy))
    out = []
    for xy in sites_xy:
        near = tree.query(shapely.Point(xy), predicate="dwithin", distance=rules.walk_limit_m)
        pos = [r for b in near for r in by_bay.get(bay_ids[int(b)], [])]
        if len(pos) < MIN_STOPS:
            out.append(area)
            continue
        where = f"seen at the {len(near)} bays within {rules.walk_limit_m:g} m"
        out.append(for_rules(sessions.iloc[np.sort(pos)], rules, where))
    return out
