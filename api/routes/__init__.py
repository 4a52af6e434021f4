"""The HTTP routes of the service, one module per API (CDS curbs, events, metrics; availability; map; jobs; ingest; proposals)."""
