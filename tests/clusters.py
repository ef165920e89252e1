"""A django-q2 cluster as the status model sees it, without starting one: the statistic its
sentinel saves to django-q2's cache every guard cycle (``django_q.status.Stat``)."""

import os

from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.signing import SignedPackage
from django_q.status import Stat, Status


def cluster_beats(cluster_id="test-cluster", *, workers=2, status=None, when=None) -> None:
    """Save the statistic a running cluster's sentinel saves (with its 3-second expiry)."""
    stat = Status(pid=os.getpid(), cluster_id=cluster_id)
    stat.status = status or Conf.IDLE
    stat.workers = list(range(workers))
    stat.tob = timezone.now()
    stat.timestamp = when or timezone.now()
    # A longer expiry than a sentinel's 3 s, so a slow test does not lose it.
    get_broker().set_stat(Stat.get_key(cluster_id), SignedPackage.dumps(stat, True), 60)


def cluster_stops(cluster_id="test-cluster") -> None:
    """Its statistic expires (a cluster killed, or stopped)."""
    get_broker().cache.delete(Stat.get_key(cluster_id))
