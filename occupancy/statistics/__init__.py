"""Statistics from stored sessions: hourly CDS metrics, spatial aggregation, exports, the HTML report."""
