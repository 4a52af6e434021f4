"""The baywatch HTTP service (FastAPI): CDS Curbs, Events and Metrics APIs, live availability, jobs, the planners' map."""
