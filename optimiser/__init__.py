"""Where delivery bays should be, and in which hours they should serve deliveries.

Modules, one job each:

- ``errors``: the one user-facing error type, ``OptimiserInputError``.
- ``erlang``: Erlang-B loss values and the concave served-deliveries curves the models linearise.
- ``inputs``: validated, immutable model inputs (bays, demand, candidates, budget, rules).
- ``sessions``: observed statistics from the sessions table (``demand_from_sessions``).
- ``distances``: walking reach, on a street graph (networkx) or straight-line.
- ``greedy``: the greedy placement that warm-starts the solver.
- ``placement``: the capacitated covering model with Erlang-B loss (OR-Tools CP-SAT).
- ``timeslots``: the hour-by-hour delivery-window model (CP-SAT).
- ``proposals``: add/remove/move/retime proposals as GeoJSON with expected effects.
- ``instances``: the Paris 3e real instance and the generated benchmark instances.
- ``plot``: the map picture.
- ``api``: ``run_placement`` / ``run_timeslots`` with pydantic request and result models.
- ``cli``: ``baywatch optimise placement|timeslots``.
"""
