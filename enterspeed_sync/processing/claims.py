"""
Claiming jobs, and the leases that keep them claimed.

Claiming is safe with several workers and several clusters at once: a job moves from
pending to processing only through a conditional UPDATE (``WHERE state = 'pending'``), so
exactly one claimer gets it; on PostgreSQL ``SELECT … FOR UPDATE SKIP LOCKED`` keeps
claimers from waiting on each other. The claim is a lease: the worker renews it while it
works, and a job whose lease ran out (its worker was killed) is put back in the queue.
Every later write is fenced by the claim's lease token (``transitions.claimed``).

Claims come in two lanes (``PRIORITY_LANES``, docs/jobs.md): a person's changes first, the
highest priority and then the oldest, and bulk work (seeds, repairs, fan-out) oldest first.
A fifth of every batch's places is kept for bulk work (``BULK_SHARE``), so a steady stream
of editors' changes cannot starve a seed. A batch with people's changes in it takes no more
bulk work than that share, so it is mapped and sent quickly; without people's changes, bulk
work fills the batch.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from fractions import Fraction

from django.db import DatabaseError, connection, connections, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from enterspeed_sync.conf import conf
from enterspeed_sync.models import ENTITY_KEY_FIELDS, EnterspeedJob, JobPriority, JobState
from enterspeed_sync.processing.database_faults import retry_database_faults
from enterspeed_sync.processing.transitions import Outcome, held, retry_later

logger = logging.getLogger(__name__)

#: ``tokens``: the lease tokens of the batches the current run (in this thread) claimed.
_run = threading.local()

#: The share of claimed places kept for bulk work while people's changes wait (per batch on
#: average: 10 of 50; with batches under 5 jobs, one place in every few batches).
BULK_SHARE = Fraction(1, 5)
#: Batches this process claimed, to spread ``BULK_SHARE`` over batches of any size.
_batches = itertools.count()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@contextmanager
def tracking_claims() -> Iterator[list[uuid.UUID]]:
    """Collect the lease token of every batch claimed in this thread while the block runs."""
    _run.tokens = []
    try:
        yield _run.tokens
    finally:
        _run.tokens = None


@retry_database_faults
def claim_jobs(limit: int, destination: str | None = None) -> list[EnterspeedJob]:
    """
    Move up to ``limit`` due pending jobs (of one ``destination``, or of every destination)
    to processing, leased to this worker for ``LEASE_SECONDS``, and return them: people's
    changes first and bulk work in its share (``bulk_places``), each lane oldest first;
    without ``PRIORITY_LANES``, simply the oldest.

    An entity whose previous job is still processing is skipped, so an entity's
    instructions are never sent out of order or by two workers at once.
    """
    now = timezone.now()
    busy = EnterspeedJob.objects.processing().filter(
        **{field: OuterRef(field) for field in ENTITY_KEY_FIELDS}
    )
    due = EnterspeedJob.objects.due(now)
    if destination is not None:
        due = due.filter(destination=destination)
    candidates = due.filter(~Exists(busy))
    if connection.features.has_select_for_update_skip_locked:
        # PostgreSQL: another worker's candidate rows are skipped, not waited for.
        candidates = candidates.select_for_update(skip_locked=True, of=("self",))
    token = uuid.uuid4()
    if (claimed_in_run := getattr(_run, "tokens", None)) is not None:
        claimed_in_run.append(token)
    with transaction.atomic():
        if conf.PRIORITY_LANES:
            ids = _ids_by_lane(candidates, limit)
        else:
            ids = _first_ids(candidates.order_by("created_at", "pk"), limit)
        if not ids:
            return []
        EnterspeedJob.objects.filter(pk__in=ids, state=JobState.PENDING).update(
            state=JobState.PROCESSING,
            lease_token=token,
            claimed_at=now,
            leased_until=now + timedelta(seconds=conf.LEASE_SECONDS),
            locked_by=worker_name()[:255],
            updated_at=now,
        )
    claimed = EnterspeedJob.objects.filter(lease_token=token)
    return list(claimed.order_by("-priority", "created_at", "pk"))


def bulk_places(limit: int, batch_number: int) -> int:
    """
    Places of batch ``batch_number`` (of ``limit`` jobs) kept for bulk work: ``BULK_SHARE``
    of all places so far, rounded down, minus those kept before (10 of 50 every batch; 1 of
    1 every fifth batch).
    """
    return int(limit * (batch_number + 1) * BULK_SHARE) - int(limit * batch_number * BULK_SHARE)


def _ids_by_lane(candidates, limit: int) -> list[int]:
    """
    Bulk work's places first (so they are not taken), then people's changes, highest
    priority and oldest first; with no person's change due, bulk work in every place. Each
    query locks only rows it claims.
    """
    people = candidates.filter(priority__gt=JobPriority.BULK).order_by(
        "-priority", "created_at", "pk"
    )
    bulk = candidates.filter(priority__lte=JobPriority.BULK).order_by("created_at", "pk")
    bulk_ids = _first_ids(bulk, bulk_places(limit, next(_batches)))
    people_ids = _first_ids(people, limit - len(bulk_ids))
    if people_ids:
        # A person waits for this batch: keep it small, to be mapped and sent quickly.
        return bulk_ids + people_ids
    return bulk_ids + _first_ids(bulk.exclude(pk__in=bulk_ids), limit - len(bulk_ids))


def _first_ids(candidates, count: int) -> list[int]:
    return list(candidates.values_list("pk", flat=True)[:count]) if count > 0 else []


@retry_database_faults
def renew_lease(token: uuid.UUID) -> set[int]:
    """Extend the lease of the jobs still held under ``token``; returns their ids."""
    jobs = held(token)
    jobs.update(leased_until=timezone.now() + timedelta(seconds=conf.LEASE_SECONDS))
    return set(jobs.values_list("pk", flat=True))


class Lease:
    """
    A claimed batch's lease: renewed every third of ``LEASE_SECONDS`` while the worker
    works, and checked before each request.

    Inside ``heartbeat()`` a background thread renews it, so a batch keeps its lease however
    long one request, one mapping or a rate-limit wait takes: the lease can be short (a
    killed worker's jobs come back quickly) without a slow batch ever losing it. Between
    requests the worker renews it too (``renew_if_due``), which is all there is when the
    batch runs inside a transaction (a test's): another connection would wait on its locks.
    """

    def __init__(self, jobs: list[EnterspeedJob]) -> None:
        self.token = jobs[0].lease_token
        self.held = {job.pk for job in jobs}
        self.renewed_at = time.monotonic()
        self.renew_every = conf.LEASE_SECONDS / 3
        self._stopped = threading.Event()

    def renew_if_due(self) -> None:
        if time.monotonic() - self.renewed_at >= self.renew_every:
            self.renew()

    def renew(self) -> None:
        self.held = renew_lease(self.token)
        self.renewed_at = time.monotonic()

    @contextmanager
    def heartbeat(self) -> Iterator[None]:
        """Renew the lease from a background thread while the block runs."""
        if connection.in_atomic_block:
            yield
            return
        beat = threading.Thread(target=self._beat, name="enterspeed-lease", daemon=True)
        beat.start()
        try:
            yield
        finally:
            self._stopped.set()
            beat.join()

    def _beat(self) -> None:
        try:
            while not self._stopped.wait(self.renew_every):
                try:
                    self.renew()
                except DatabaseError:
                    # The next beat tries again; the lease has two more thirds to go.
                    logger.warning("Could not renew an Enterspeed lease", exc_info=True)
        finally:
            connections.close_all()  # this thread's own connections only

    @retry_database_faults
    def still_held(self, jobs: list[EnterspeedJob]) -> set[int]:
        """
        Which of ``jobs`` are still ours, asked right before a request (fencing): a worker
        frozen past its lease (a paused VM, a long GC) must not send what it mapped before,
        because the job's new owner sends a newer state.
        """
        ours = held(self.token).filter(pk__in=[job.pk for job in jobs])
        pks = set(ours.values_list("pk", flat=True))
        for job in jobs:
            if job.pk not in pks:
                logger.warning(
                    "Lost the lease on Enterspeed job %s (%s); not sent", job.pk, job.origin_id
                )
        return pks


@retry_database_faults
def recover_expired_leases() -> int:
    """
    Put jobs whose lease ran out (their worker was killed or hung) back in the queue,
    spending one attempt. Returns how many.
    """
    now = timezone.now()
    lease = timedelta(seconds=conf.LEASE_SECONDS)
    expired = EnterspeedJob.objects.processing().filter(
        Q(leased_until__lt=now) | Q(leased_until__isnull=True, claimed_at__lt=now - lease)
    )
    count = 0
    for job in expired.iterator():
        # Fenced twice: the same token, and still expired (the worker may have renewed).
        still_expired = Q(leased_until__lt=timezone.now()) | Q(leased_until__isnull=True)
        outcome = retry_later(
            job,
            f"The worker {job.locked_by or '(unknown)'} stopped renewing its lease "
            "(it was probably killed); the job was claimed again.",
            backoff=False,
            extra_filter=still_expired,
        )
        count += outcome == Outcome.RETRY
    if count:
        logger.warning("Put %d Enterspeed jobs of a stopped worker back in the queue", count)
    return count
