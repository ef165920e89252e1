"""
What a request to the operations API costs, end to end through Django's test client (URL
resolution, token authentication, permission checks, validation, queries, JSON): the median
milliseconds per request for each endpoint a monitor or script calls often, on a queue of
``--jobs`` failed jobs, in a throwaway SQLite database.

    python bench/api.py [--jobs 1000] [--requests 200]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    setup_test_environment()
    connection.creation.create_test_db(verbosity=0)
    from enterspeed_sync.api.tokens import create_token
    from enterspeed_sync.models import EnterspeedJob

    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "pw")
    raw = create_token(user)[1]
    EnterspeedJob.objects.bulk_create(
        EnterspeedJob(
            entity_type="page",
            entity_id=str(i),
            origin_id=f"page-{i}",
            job_type="publish",
            state="failed",
            error="Enterspeed rejected the request (HTTP 422, X): bad",
        )
        for i in range(args.jobs)
    )
    api = "/admin/enterspeed/api/v1/"
    calls = {
        "GET health/": ("get", reverse("enterspeed_sync_api:health")),
        "GET jobs/ (50 per page)": ("get", reverse("enterspeed_sync_api:jobs")),
        "GET jobs/?state=failed&locale=&page_size=200": (
            "get",
            reverse("enterspeed_sync_api:jobs") + "?state=failed&locale=&page_size=200",
        ),
        "GET jobs/{id}/": ("get", reverse("enterspeed_sync_api:job", args=[1])),
        "GET jobs/?stat=failed (400)": ("get", reverse("enterspeed_sync_api:jobs") + "?stat=x"),
        "PUT jobs/ (405)": ("put", reverse("enterspeed_sync_api:jobs")),
        "GET openapi.json": ("get", api + "openapi.json"),
    }
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    with override_settings(ENTERSPEED_SYNC={"API_KEY": "source-bench"}):
        for label, (method, url) in calls.items():
            getattr(client, method)(url)  # warm caches
            times = []
            for _ in range(args.requests):
                start = time.perf_counter()
                response = getattr(client, method)(url)
                times.append(time.perf_counter() - start)
            print(
                f"{label:<48} {statistics.median(times) * 1000:7.2f} ms  "
                f"(HTTP {response.status_code}, {len(response.content)} bytes)"
            )


if __name__ == "__main__":
    main()
