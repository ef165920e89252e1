"""
The django-q2 clusters that are running, as django-q2 itself sees them: every cluster's
sentinel saves a ``django_q.status.Stat`` to django-q2's cache every guard cycle (0.5 s)
with a 3-second expiry, so a cluster that starts is seen within a second, and one that
stops (or is killed) is gone within 3 seconds.

The statistics are only as shared as the cache that holds them (``Q_CLUSTER["cache"]``,
``"default"`` unless set). A local-memory or dummy cache is private to each process, so
the web process cannot see any cluster: then ``Clusters.visible`` is False, the status
never says "no cluster" from it, and the system check ``enterspeed_sync.W030`` says how to
share it (a database or Redis cache).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django_q.conf import Conf
from django_q.status import Stat

logger = logging.getLogger(__name__)

#: Cache backends whose entries only the process that wrote them can read.
PER_PROCESS_CACHES = frozenset(
    {
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
    }
)
#: A statistic older than this is a cluster that stopped saving it (its cache entry expires
#: after 3 s; a database cache may return it a little longer).
BEAT_FRESHNESS = timedelta(seconds=5)


@dataclass(frozen=True)
class Cluster:
    """One running cluster: django-q2's ``Stat`` of it."""

    cluster_id: str
    host: str
    #: The cluster's main process.
    pid: int
    #: django-q2's word: Starting, Working, Idle, Stopping.
    status: str
    workers: int
    started_at: datetime | None
    #: When its sentinel last saved the statistic.
    last_beat: datetime


@dataclass(frozen=True)
class Clusters:
    """The clusters alive now, and whether this process can know."""

    #: False: django-q2 keeps its statistics in a per-process cache, so none can be seen.
    visible: bool
    #: False: tasks run inline (``Q_CLUSTER["sync"]``).
    needed: bool
    live: list[Cluster] = field(default_factory=list)

    @property
    def alive(self) -> bool:
        return bool(self.live)

    @property
    def missing(self) -> bool:
        """A cluster is needed, this process could see one, and none is running."""
        return self.needed and self.visible and not self.live

    @property
    def workers(self) -> int:
        return sum(cluster.workers for cluster in self.live)


def cluster_statistics_cache() -> tuple[str, str]:
    """(alias, backend) of the cache django-q2 keeps its cluster statistics in."""
    alias = Conf.CACHE
    backend = settings.CACHES.get(alias, {}).get("BACKEND", "")
    return alias, backend


def statistics_are_shared() -> bool:
    """Whether another process's cluster statistics reach this one."""
    _alias, backend = cluster_statistics_cache()
    return bool(backend) and backend not in PER_PROCESS_CACHES


def get_clusters(now: datetime | None = None) -> Clusters:
    """The clusters whose sentinel saved its statistic in the last few seconds."""
    if Conf.SYNC:
        return Clusters(visible=statistics_are_shared(), needed=False)
    if not statistics_are_shared():
        return Clusters(visible=False, needed=True)
    # django-q2's Redis broker keeps the statistics in Redis: when it is down, no cluster
    # can be seen (and none can be asked for work), which is not "no cluster running".
    # Imported here: capture.enqueue imports this module.
    from enterspeed_sync.capture.enqueue import broker_is_down, fast_broker, note_broker_down

    if broker_is_down():
        return Clusters(visible=False, needed=True)
    try:
        stats = Stat.get_all(broker=fast_broker())
    except Exception:  # noqa: BLE001 (a broker that cannot be read must not stop a page)
        note_broker_down()
        logger.warning("Could not read the django-q2 clusters' statistics from its broker")
        return Clusters(visible=False, needed=True)
    now = now or timezone.now()
    stopped = {str(Conf.STOPPING), str(Conf.STOPPED)}
    live = [
        Cluster(
            cluster_id=str(stat.cluster_id),
            host=stat.host,
            pid=stat.pid,
            status=str(stat.status),
            workers=len(stat.workers),
            started_at=stat.tob,
            last_beat=stat.timestamp,
        )
        for stat in stats
        if str(stat.status) not in stopped and now - stat.timestamp < BEAT_FRESHNESS
    ]
    live.sort(key=lambda cluster: (cluster.host, cluster.pid))
    return Clusters(visible=True, needed=True, live=live)
