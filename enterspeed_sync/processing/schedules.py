"""
What keeps the queue moving when no commit kicks it: the django-q2 schedules, and wake-ups
at the moments work is known to become possible again (a circuit breaker's cool-down
ending, a killed worker's leases running out), so recovery takes seconds, not the next
run of the minute schedule.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from django.db import connections, transaction
from django.db.models import Min
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Schedule

from enterspeed_sync.capture.enqueue import enqueue_processing
from enterspeed_sync.conf import conf
from enterspeed_sync.models import EnterspeedJob

logger = logging.getLogger(__name__)

#: name → (function, minutes between runs)
SCHEDULES = {
    "enterspeed_sync.process_pending_jobs": ("enterspeed_sync.tasks.process_pending_jobs", 1),
    "enterspeed_sync.fail_stale_jobs": ("enterspeed_sync.tasks.fail_stale_jobs", 5),
}
#: A wake-up comes this long after the moment it waits for, so that moment has passed.
WAKE_UP_MARGIN = 0.2
#: The longest a worker's lease watch sleeps between two looks at the job table (seconds).
LEASE_WATCH_MAX_INTERVAL = 10.0


def ensure_schedules(using: str = "default") -> list[str]:
    """Create or update our schedules; idempotent, safe to run on every migrate."""
    touched = []
    with transaction.atomic(using=using):
        for name, (func, minutes) in SCHEDULES.items():
            existing = Schedule.objects.using(using).filter(name=name).order_by("pk")
            # Remove duplicates a concurrent migrate may have created.
            for duplicate in existing[1:]:
                duplicate.delete()
            Schedule.objects.using(using).update_or_create(
                name=name,
                defaults={
                    "func": func,
                    "schedule_type": Schedule.MINUTES,
                    "minutes": minutes,
                    "repeats": -1,
                },
            )
            touched.append(name)
    return touched


def process_at(when: datetime) -> threading.Thread:
    """
    Queue a processing task at ``when``. A daemon thread of this (django-q2 worker)
    process sleeps until then, so no worker is held up meanwhile; should the process
    die first, the minute schedule is still there.
    """
    thread = threading.Thread(target=_wake_up, args=(when,), name="enterspeed-wake-up", daemon=True)
    thread.start()
    return thread


def on_worker_spawn(**kwargs) -> threading.Thread | None:
    """
    django-q2's ``post_spawn``: a worker started, with its cluster or in place of one that
    died (SIGKILL, OOM). Queue a task now if jobs are due (a cluster restarted with a fixed
    key starts at once), then watch the leases of jobs still *processing* for as long as
    the worker lives (``watch_leases``): a dead worker's batch, or a whole dead cluster's,
    is claimed again soon after ``LEASE_SECONDS`` by any cluster still running, the
    scheduler's or not.

    The database is read from a thread of its own: the worker was forked, and must not
    use the connections it inherited from the cluster's main process.

    In django-q2's sync mode every task passes through its worker function inside the
    caller's process (an editor's request), which sends ``post_spawn`` too: no worker
    started there, and a thread left behind would process the queue later in that process,
    with whatever settings are active then. Nothing is done.
    """
    if Conf.SYNC:
        return None
    thread = threading.Thread(target=_after_spawn, name="enterspeed-spawn", daemon=True)
    thread.start()
    return thread


def _after_spawn() -> None:
    try:
        if EnterspeedJob.objects.due().exists():
            enqueue_processing()
    except Exception:
        logger.exception("Could not check the Enterspeed queue after a worker started")
    finally:
        connections.close_all()
    watch_leases()


def watch_leases(looks: int | None = None) -> None:
    """
    Look at the leases of jobs in *processing* until the process ends (or ``looks`` times):
    when one has run out, queue a processing task, whose run puts the jobs back and sends
    them. Every worker of every cluster watches, so recovery does not depend on the one
    cluster that runs django-q2's scheduler, nor on a commit or a minute schedule.
    """
    while looks is None or looks > 0:
        time.sleep(look_at_leases())
        if looks is not None:
            looks -= 1


def look_at_leases() -> float:
    """
    One look (one aggregate query): queue a task if a lease has run out. Returns the
    seconds until the next look: when the soonest lease runs out, and at most
    ``lease_watch_interval()``, so a batch claimed since this look is seen in time.
    """
    interval = lease_watch_interval()
    try:
        now = timezone.now()
        soonest = EnterspeedJob.objects.processing().aggregate(until=Min("leased_until"))["until"]
        if soonest is None:
            return interval
        if soonest <= now:
            enqueue_processing()
            return interval
        return min(interval, (soonest - now).total_seconds() + WAKE_UP_MARGIN)
    except Exception:
        logger.exception("Could not look at the Enterspeed job leases; looking again later")
        return interval
    finally:
        connections.close_all()  # hold no connection while asleep


def lease_watch_interval() -> float:
    """A third of ``LEASE_SECONDS``, at most 10 s: a dead batch waits its lease and this."""
    return max(WAKE_UP_MARGIN, min(conf.LEASE_SECONDS / 3, LEASE_WATCH_MAX_INTERVAL))


def _wake_up(when: datetime) -> None:
    """Sleep until ``when``, then queue a processing task."""
    try:
        delay = (when - timezone.now()).total_seconds() + WAKE_UP_MARGIN
        if delay > 0:
            connections.close_all()  # hold no connection while asleep
            time.sleep(delay)
        enqueue_processing()
    except Exception:
        logger.exception("Could not queue Enterspeed processing; the schedule will")
    finally:
        connections.close_all()
