"""Settings for a real `qcluster` subprocess started by tests/qcluster.py."""

import json
import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, Q_CLUSTER

# The cluster works on the database the test run created, not the development one.
DATABASES["default"]["NAME"] = DATABASES["default"]["TEST"]["NAME"]
Q_CLUSTER = {
    **Q_CLUSTER,
    "sync": False,
    "workers": int(os.environ.get("ENTERSPEED_TEST_Q_WORKERS", "2")),
}
# django-q2's Redis broker instead of the ORM one (tests/test_redis_broker.py).
if os.environ.get("ENTERSPEED_TEST_Q_REDIS"):
    Q_CLUSTER.pop("orm")
    Q_CLUSTER["redis"] = os.environ["ENTERSPEED_TEST_Q_REDIS"]
# Reliability timings shrunk from minutes to (fractions of) seconds, so the cluster tests
# see retries, pauses, the breaker and lease expiry happen within their time limits.
ENTERSPEED_SYNC = {
    "API_KEY": "source-tests",
    "BASE_URL": os.environ["ENTERSPEED_TEST_STANDIN_URL"],
    "TIMEOUT": (1, 2),
    "RETRY_BASE_DELAY": 0.2,
    "RETRY_MAX_DELAY": 1.0,
    "BREAKER_COOLDOWN": 0.5,
    "BREAKER_COOLDOWN_MAX": 2.0,
    "LEASE_SECONDS": 4.0,
    "RETRY_WAIT_SECONDS": 5.0,
    "RATE_LIMIT": 500,
    "RETRY_AFTER_MAX": 3.0,
    **json.loads(os.environ.get("ENTERSPEED_TEST_SYNC_OVERRIDES") or "{}"),
}
# The high RATE_LIMIT above is deliberate: the stand-in has no tenant limit.
SILENCED_SYSTEM_CHECKS = ["enterspeed_sync.W017"]
