"""Long-running and distributed services: live multi-camera watch, Ray batch backend, the push client, review videos, demo seeding."""
