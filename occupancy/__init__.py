"""Observation of delivery bays: from tracked vehicles to sessions, storage and statistics.

Sub-packages, lowest layer first: ``domain`` (records, states, geo), ``config`` (settings,
site files), ``observe`` (homography, zones, state machine), ``storage`` (schema, store,
migrations), ``statistics``, ``inventory``, ``evaluation`` and ``runtime`` (analysis,
watch, Ray). The order is enforced by import-linter (pyproject ``[tool.importlinter]``).
"""
