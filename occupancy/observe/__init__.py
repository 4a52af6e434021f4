"""The observation domain: ground calibration, zones, the per-bay state machine, vehicle type, frame-to-observation steps."""
