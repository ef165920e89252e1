"""
Asking the django-q2 cluster to process the queue, once the transaction that wrote jobs
commits. The job rows are the source of truth: a lost or failed request only delays them
until the minute schedule (``processing.schedules``) picks them up.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django_q import tasks as django_q_tasks
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import OrmQ

from enterspeed_sync.conf import conf
from enterspeed_sync.models import EnterspeedJob
from enterspeed_sync.status.clusters import get_clusters

logger = logging.getLogger(__name__)


def request_processing(*, parallel: bool = False) -> None:
    """
    Ask the django-q2 cluster to process the queue once the current transaction commits.
    One request per transaction is enough: the task drains every pending job. With
    ``parallel`` (more jobs than one batch, e.g. a seed) every worker gets a task, so one
    maps the next batch while another waits for Enterspeed's answer.
    """
    if not conf.PROCESS_ON_COMMIT:
        return
    connection = transaction.get_connection()
    requested = {func for _sids, func, _robust in connection.run_on_commit}
    if enqueue_processing not in requested:
        transaction.on_commit(enqueue_processing, robust=True)
    if parallel and enqueue_helper_tasks not in requested:
        transaction.on_commit(enqueue_helper_tasks, robust=True)


def enqueue_helper_tasks() -> None:
    """
    One more processing task for each other worker of every live cluster (claims never
    clash), not only of the cluster configured in this process: with three clusters each
    of them gets work.
    """
    for _worker in range(max(0, live_workers() - 1)):
        enqueue_processing()


def enqueue_for_idle_workers() -> None:
    """
    For a run that ends with jobs left, beside its own follow-up: one task for each other
    live worker that holds no claim (a cluster that started during a seed, or one the
    seed's tasks missed), so every cluster takes part until the queue is empty. Nothing in
    django-q2's sync mode, where tasks run inline.
    """
    if Conf.SYNC:
        return
    for _worker in range(max(0, live_workers() - busy_workers() - 1)):
        enqueue_processing()


def live_workers() -> int:
    """
    The workers of every cluster running now (django-q2's ``Stat``, see
    ``status.clusters``); when none can be seen (statistics in a per-process cache, a
    cluster still starting, the cache unreachable), this process's ``Q_CLUSTER["workers"]``.
    """
    fallback = int(Conf.WORKERS or 1)
    try:
        clusters = get_clusters()
    except Exception:  # noqa: BLE001 (a cache that cannot be read must not stop the queueing)
        logger.warning("Could not read the django-q2 clusters; counting %d workers", fallback)
        return fallback
    return clusters.workers if clusters.live else fallback


def busy_workers() -> int:
    """Worker processes holding claimed jobs now (their ``locked_by``)."""
    return EnterspeedJob.objects.processing().values("locked_by").distinct().count()


def enqueue_processing() -> None:
    """Queue one django-q2 task that drains the job queue. Never raises."""
    try:
        django_q_tasks.async_task(
            "enterspeed_sync.tasks.process_pending_jobs",
            task_name="enterspeed_sync.process_pending_jobs",
            group="enterspeed_sync",
            # Retry state lives in our job rows; django-q2 must never re-run a failure.
            ack_failure=True,
            broker=_connection_keeping_broker(),
        )
    except Exception:
        # The job rows are committed; the minute schedule will pick them up.
        logger.exception("Could not queue Enterspeed processing; the schedule will retry")


class ConnectionKeepingORM(ORM):
    """
    django-q2's ORM broker, minus one habit: outside a transaction it closes the database
    connections before each use (twice per task), which with ``CONN_MAX_AGE = 0`` means
    reconnecting in the middle of the editor's request.
    """

    @staticmethod
    def get_connection(list_key=None):
        return OrmQ.objects.using(Conf.ORM)


def _connection_keeping_broker() -> ConnectionKeepingORM | None:
    """``ConnectionKeepingORM`` where django-q2 would use its ORM broker; else None (django-q2
    picks the broker)."""
    # The ORM broker is what django_q.brokers.get_broker picks when none of these is set.
    if not Conf.ORM or Conf.BROKER_CLASS or Conf.IRON_MQ or isinstance(Conf.SQS, dict):
        return None
    return ConnectionKeepingORM()
