"""Settings for a real `qcluster` subprocess started by tests/test_cluster.py."""

import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, Q_CLUSTER

# The cluster works on the database the test run created, not the development one.
DATABASES["default"]["NAME"] = DATABASES["default"]["TEST"]["NAME"]
Q_CLUSTER = {**Q_CLUSTER, "sync": False, "workers": 2}
ENTERSPEED_SYNC = {
    "API_KEY": "source-tests",
    "BASE_URL": os.environ["ENTERSPEED_TEST_STANDIN_URL"],
    "TIMEOUT": 5,
}
