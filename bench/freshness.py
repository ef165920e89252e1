"""
Freshness: how long an editor's publish takes to reach Enterspeed while a whole-site seed
drains, with priority lanes and without (``PRIORITY_LANES``), in one run on one site.

For each mode: a real cluster starts, ``manage.py enterspeed_seed`` queues every page and
image in its own process, and once the seed's jobs are queueing this process publishes
``--editor-publishes`` pages through Wagtail (``save_revision().publish()``, the app's real
receivers), one every ``--editor-interval`` seconds. Each publish's time is from its commit
to the stand-in's accepting a request that carries the edited title (the stand-in records
a request after its latency, as the answer leaves). Called by bench/suite.py.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SEED = """
import django
django.setup()
from django.core.management import call_command
call_command("enterspeed_seed", "--kind", "pages", "--kind", "images", skip_checks=True)
"""


def measure_freshness(args, standin, entities: int, cluster_env, overrides: dict) -> dict:
    """
    Per mode (``lanes``, then ``fifo``, on the same site): ``delays`` (seconds, one per
    publish), ``wall`` (seed start to all synced), ``requests`` and ``throttled`` (429s).
    """
    results = {}
    for mode, lanes in (("lanes", True), ("fifo", False)):
        results[mode] = _one_mode(args, standin, entities, cluster_env, overrides, mode, lanes)
        print(f"  freshness ({mode}): {summary(results[mode])}", flush=True)
    return results


def _one_mode(args, standin, entities, cluster_env, overrides, mode: str, lanes: bool):
    import os
    import tempfile

    from django.db import connection
    from django.test import override_settings
    from django_q.conf import Conf

    from enterspeed_sync.models import EnterspeedJob, LedgerEntry, SourceState
    from tests.qcluster import running_qcluster, wait_until
    from tests.testapp.models import BlogPage

    # A fresh start: nothing queued, nothing in Enterspeed, no ledger (else every page
    # would be skipped as unchanged), the stand-in's limits as configured.
    EnterspeedJob.objects.all().delete()
    LedgerEntry.objects.all().delete()
    SourceState.objects.all().delete()
    standin.reset()
    standin.latency = args.latency
    pages = list(BlogPage.objects.values_list("pk", flat=True))
    chosen = random.Random(16).sample(pages, min(args.editor_publishes, len(pages)))
    connection.close()

    overrides = {**overrides, "PRIORITY_LANES": lanes}
    env = cluster_env(standin.url, args.workers, overrides)
    log = Path(os.environ.get("ENTERSPEED_BENCH_LOG") or Path(tempfile.gettempdir()) / "bench.log")
    sync = {**overrides, "BASE_URL": standin.url}
    committed: dict[str, tuple[str, float]] = {}
    with running_qcluster(standin.url, log, workers=args.workers, sync_overrides=overrides):
        time.sleep(2)  # the cluster's workers are up
        started = time.perf_counter()
        seed = subprocess.Popen([sys.executable, "-c", SEED], cwd=ROOT, env=env)
        # This process publishes as an editor would: the task goes to the cluster.
        sync_mode, Conf.SYNC = Conf.SYNC, False
        try:
            with override_settings(ENTERSPEED_SYNC=sync):
                # The seed's jobs are queueing (its first chunk, on a small site a part of it).
                queueing = min(500, entities // 2)
                wait_until(
                    lambda: EnterspeedJob.objects.count() >= queueing, timeout=600, interval=0.05
                )
                for n, pk in enumerate(chosen):
                    page = BlogPage.objects.get(pk=pk)
                    page.title = f"Fresh {mode} [{n}]"
                    page.save_revision().publish()
                    committed[f"page-{pk}"] = (page.title, time.time())
                    time.sleep(args.editor_interval)
        finally:
            Conf.SYNC = sync_mode
        if seed.wait() != 0:
            raise RuntimeError("the seed process failed")
        done = wait_until(
            lambda: standin.entity_count() >= entities and not EnterspeedJob.objects.exists(),
            timeout=3600,
            interval=0.1,
        )
        wall = time.perf_counter() - started
        if not done:
            raise RuntimeError(f"not synced: {EnterspeedJob.objects.count()} jobs left")
    connection.close()
    return {
        "delays": _delays(standin, committed),
        "wall": wall,
        "requests": len(standin.requests),
        "throttled": standin.faults["rate_limit"],
    }


def _delays(standin, committed: dict[str, tuple[str, float]]) -> list[float]:
    """Seconds from each publish's commit to the first accepted request with its title."""
    accepted: dict[str, float] = {}
    for request in standin.requests:
        if request.status != 200:
            continue
        text = json.dumps(request.body)
        for origin_id in request.accepted_ids:
            title, _at = committed.get(origin_id, ("", 0.0))
            if title and title in text and origin_id not in accepted:
                accepted[origin_id] = request.timestamp
    missing = set(committed) - set(accepted)
    if missing:
        raise RuntimeError(f"edited pages never accepted: {sorted(missing)}")
    return sorted(accepted[origin_id] - at for origin_id, (_title, at) in committed.items())


def percentiles(delays: list[float]) -> tuple[float, float, float]:
    """p50, p95 (nearest rank) and max, in seconds."""
    ordered = sorted(delays)
    p95 = ordered[max(0, -(-95 * len(ordered) // 100) - 1)]
    return statistics.median(ordered), p95, ordered[-1]


def summary(result: dict) -> str:
    p50, p95, worst = percentiles(result["delays"])
    return (
        f"p50 {p50:.2f} s, p95 {p95:.2f} s, max {worst:.2f} s ({len(result['delays'])} "
        f"publishes); seed to synced {result['wall']:.1f} s, {result['requests']} requests "
        f"({result['throttled']} refused with 429)"
    )
