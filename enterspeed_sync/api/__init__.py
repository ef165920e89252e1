"""
The operations API: JSON endpoints for the jobs, seeding and health of the sync, for
scripts and monitoring (docs/api.md). Projects mount ``enterspeed_sync.api.urls``.
"""
