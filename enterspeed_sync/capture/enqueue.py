"""
Asking the django-q2 cluster to process the queue, once the transaction that wrote jobs
commits. The job rows are the source of truth: a lost or failed request only delays them
until the minute schedule (``processing.schedules``) picks them up. A broker that cannot
be reached (Redis down) costs the caller at most ``REDIS_CONNECT_TIMEOUT`` once, then
nothing for ``BROKER_RETRY_SECONDS`` (``queue_task``).
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time

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
    # The job rows are committed: if the broker cannot take the task, the minute
    # schedule (or a later task) picks them up.
    queue_task(
        "enterspeed_sync.tasks.process_pending_jobs",
        task_name="enterspeed_sync.process_pending_jobs",
        group="enterspeed_sync",
    )


#: After a broker failed to take a task, this process does not ask it again for this long
#: (seconds): every editor's publish would otherwise wait for it.
BROKER_RETRY_SECONDS = 10.0
#: The longest queueing a task waits for Redis to accept a connection, or to answer
#: (seconds), without retrying: redis-py's default retries take about 4.5 s to fail.
REDIS_CONNECT_TIMEOUT = 1.0
REDIS_SOCKET_TIMEOUT = 2.0

_broker_down_lock = threading.Lock()
#: (broker settings, monotonic time until which it is not asked) after a failure.
_broker_down_until: tuple[tuple, float] = ((), 0.0)


def queue_task(func: str, **options) -> bool:
    """
    ``async_task(func, **options)`` with ``ack_failure`` (retry state lives in our rows;
    django-q2 must never re-run a failure), through a broker that fails fast. Returns
    False, logged and never raised, when the broker cannot take the task: then, and for
    ``BROKER_RETRY_SECONDS`` after, nothing is queued by this process.
    """
    if broker_is_down():
        logger.warning("Not queueing %s: the django-q2 broker did not answer just now", func)
        return False
    try:
        django_q_tasks.async_task(func, ack_failure=True, broker=fast_broker(), **options)
    except Exception:
        note_broker_down()
        logger.exception(
            "Could not queue Enterspeed processing (%s): the django-q2 broker did not take "
            "it; the jobs wait in the database for the cluster's schedule",
            func,
        )
        return False
    return True


def broker_is_down() -> bool:
    """Whether django-q2's broker failed this process in the last ``BROKER_RETRY_SECONDS``."""
    settings, until = _broker_down_until
    return settings == _broker_settings() and time.monotonic() < until


def note_broker_down() -> None:
    """
    The broker did not answer: not asked again for a while. Not for the ORM broker (it is
    the database, whose faults are retried where they happen) nor in sync mode.
    """
    global _broker_down_until
    uses_orm = Conf.ORM and not (Conf.BROKER_CLASS or Conf.IRON_MQ or isinstance(Conf.SQS, dict))
    if Conf.SYNC or uses_orm:
        return
    with _broker_down_lock:
        _broker_down_until = (_broker_settings(), time.monotonic() + BROKER_RETRY_SECONDS)


def _broker_settings() -> tuple:
    return (Conf.ORM, str(Conf.REDIS), Conf.BROKER_CLASS, Conf.DJANGO_REDIS, Conf.CLUSTER_NAME)


def fast_broker():
    """
    The broker django-q2 would use, made to fail fast where it would not (Redis); None
    where django-q2 picks it as it is.
    """
    return _connection_keeping_broker() or _fast_failing_redis_broker()


def _fast_failing_redis_broker():
    """django-q2's Redis broker, failing fast, where django-q2 would use it; else None."""
    if Conf.BROKER_CLASS or Conf.IRON_MQ or isinstance(Conf.SQS, dict) or Conf.ORM:
        return None
    if Conf.MONGO or Conf.DJANGO_REDIS:
        return None
    return _fast_failing_redis_class()()


@functools.cache
def _fast_failing_redis_class():
    # Imported here: django-q2's Redis broker needs the redis package, which only sites
    # that use Redis install.
    from django_q.brokers.redis_broker import Redis

    class FastFailingRedis(Redis):
        """django-q2's Redis broker with a bounded connect and answer time, no retries."""

        @staticmethod
        def get_connection(list_key=None):
            return _fast_failing_redis_connection()

    return FastFailingRedis


def _fast_failing_redis_connection():
    """A client as django-q2 makes it from ``Q_CLUSTER["redis"]``, with shorter timeouts."""
    # The redis package as django-q2's Redis broker imports it (only sites on Redis have it).
    from django_q.brokers.redis_broker import redis

    given = {} if isinstance(Conf.REDIS, str) else dict(Conf.REDIS or {})
    connect = given.get("socket_connect_timeout") or math.inf
    answer = given.get("socket_timeout") or math.inf
    options = {
        "socket_connect_timeout": min(connect, REDIS_CONNECT_TIMEOUT),
        "socket_timeout": min(answer, REDIS_SOCKET_TIMEOUT),
        "retry": redis.retry.Retry(redis.backoff.NoBackoff(), 0),
    }
    if isinstance(Conf.REDIS, str):
        return redis.from_url(Conf.REDIS, **options)
    return redis.StrictRedis(**{**given, **options})


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
