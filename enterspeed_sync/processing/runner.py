"""
The run loop: process the queue's due jobs, batch after batch, destination after
destination, until none is due or the time budget is spent.

Runner-agnostic: the django-q2 tasks in ``tasks.py`` and ``manage.py enterspeed_process``
both call ``process_pending_jobs``. The steps live next door: ``claims`` (claiming and
leases), ``batch`` (map and send one batch), ``failures`` (the retry policy applied to a
failure), ``transitions`` (every state change of a claimed job).

A database fault (a lock held too long, a lost connection) is never the job's fault: the
runner's writes ride it out (``database_faults.py``), and when the database stays away
the run stops and leaves the rows as they are.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, connections
from django.db.models import Min
from django.utils import timezone

from enterspeed_sync.conf import conf, get_api_key, get_destinations
from enterspeed_sync.delivery import gate as sending
from enterspeed_sync.delivery.client import EnterspeedClient
from enterspeed_sync.delivery.clients import get_client
from enterspeed_sync.delivery.retries import DATABASE_FAULTS
from enterspeed_sync.handlers import get_handlers
from enterspeed_sync.models import Destination, EnterspeedJob
from enterspeed_sync.processing import counters, post_sync, totals
from enterspeed_sync.processing.batch import STOPPING, process_batch
from enterspeed_sync.processing.claims import claim_jobs, recover_expired_leases, tracking_claims
from enterspeed_sync.processing.database_faults import (
    reconnect,
    retry_database_faults,
    wait_for_database,
)
from enterspeed_sync.processing.seed_tally import count_outcomes
from enterspeed_sync.processing.transitions import Outcome, held, mark_failed, release_job

logger = logging.getLogger(__name__)

#: The shortest wait for a job that becomes due, so a waiting task does not spin.
MIN_WAIT_SECONDS = 0.05
#: How long a run without a time budget waits for the database after a fault (and how
#: often it does), before it stops and leaves the rest to the next task.
DATABASE_WAIT_SECONDS = 30.0
DATABASE_WAIT_ROUNDS = 3


@dataclass
class ProcessResult:
    succeeded: int = 0
    failed: int = 0
    #: Transient failures put back in the queue with a backoff.
    retried: int = 0
    #: Jobs put back without spending an attempt (sending paused mid-batch).
    released: int = 0
    #: Saves skipped because Enterspeed already had the identical payload.
    unchanged: int = 0
    #: Expired leases of other (dead) workers put back in the queue.
    recovered: int = 0
    #: False when the run stopped at its time budget with jobs possibly left.
    drained: bool = True
    #: Why the run stopped claiming early: "", "rate_limited", "breaker_open", "auth",
    #: "no_api_key" (nothing is sent without a key; the jobs wait, unspent) or "database"
    #: (a database fault outlasted the retries; see process_pending_jobs).
    stopped: str = ""
    #: Destinations in which Enterspeed received a change (not only unchanged skips).
    changed_destinations: set[str] = field(default_factory=set)
    #: When a stop this run ran into ends (the circuit breaker it opened or reopened after
    #: a failed probe, a rate-limit pause that put its batch back): the runner should
    #: process again then, not at the next schedule.
    resume_at: datetime | None = None

    @property
    def processed(self) -> int:
        return self.succeeded + self.failed

    def add(self, other: ProcessResult) -> None:
        """Count in what ``other`` (another thread's run of the same destination) did."""
        for name in ("succeeded", "failed", "retried", "released", "unchanged", "recovered"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.drained = self.drained and other.drained
        self.stopped = self.stopped or other.stopped
        self.changed_destinations |= other.changed_destinations
        self.resume_at = min(filter(None, (self.resume_at, other.resume_at)), default=None)


def process_pending_jobs(
    *,
    batch_size: int | None = None,
    max_seconds: float | None = None,
    client: EnterspeedClient | None = None,
    wait_seconds: float | None = None,
) -> ProcessResult:
    """
    Process batches of pending jobs until none is due, or until ``max_seconds`` have
    passed (then ``drained`` is False). Jobs that become due within ``wait_seconds``
    (default ``RETRY_WAIT_SECONDS``) are waited for. Never raises for a failing job: it is
    recorded.

    Each destination (the published source, and the preview source when configured) is its
    own Enterspeed source, processed in turn with its own client, rate limiter, pauses and
    breaker. ``client`` replaces the published source's client (tests pass a fake). A
    destination with more than a batch due is drained by ``WORKER_THREADS`` threads at once
    (``HelperThreads``), except with a ``client`` or inside a transaction.

    A database fault that outlasts the retries of one write stops sending (outside a
    transaction it never raises). The run then waits for the database to answer again
    (within ``max_seconds``, else ``DATABASE_WAIT_SECONDS``), puts back the jobs it had
    claimed and not finished, without spending an attempt, and goes on: processing resumes
    within a second of the database coming back. When it does not come back in time the
    run stops (``stopped`` is "database") and those jobs stay as they are until their
    lease runs out.
    """
    check_settings()
    result = ProcessResult()
    started = time.monotonic()
    with tracking_claims() as tokens:
        for _round in range(DATABASE_WAIT_ROUNDS):
            left = None if max_seconds is None else max_seconds - (time.monotonic() - started)
            try:
                return _process_pending_jobs(result, batch_size, left, client, wait_seconds)
            except DATABASE_FAULTS as exc:
                if not reconnect():  # inside the caller's transaction: the error is theirs
                    raise
                _stopped_by_database(exc, result, tokens)
            waited = time.monotonic()
            budget = DATABASE_WAIT_SECONDS
            if max_seconds is not None:
                budget = max_seconds - (waited - started)
            if not wait_for_database(budget):
                break
            result.released += _release_unfinished(tokens)
            result.stopped = ""
            logger.warning(
                "The database answers again after %.1f s; Enterspeed processing goes on",
                time.monotonic() - waited,
            )
        post_sync.after_processing(result.changed_destinations)
        return result


def _stopped_by_database(exc: Exception, result: ProcessResult, tokens: list[uuid.UUID]) -> None:
    result.stopped = "database"
    logger.warning(
        "The database failed during Enterspeed processing (%s); stopped",
        str(exc).strip() or type(exc).__name__,
    )
    result.released += _release_unfinished(tokens)


def _release_unfinished(tokens: list[uuid.UUID]) -> int:
    """
    Put back, unspent, the jobs a run stopped by a database fault still holds (claimed,
    outcome not recorded). Never raises: while the database stays away they are left as
    they are, and their lease running out brings them back.
    """
    try:
        return _release_held(tokens)
    except DATABASE_FAULTS as exc:
        reconnect()
        logger.warning(
            "The database is still away (%s); the jobs this run claimed stay as they are "
            "and are picked up again when their lease runs out",
            str(exc).strip() or type(exc).__name__,
        )
        return 0


@retry_database_faults
def _release_held(tokens: list[uuid.UUID]) -> int:
    released = sum(release_job(job) for job in held(*tokens))
    if released:
        logger.warning("Put %d claimed Enterspeed jobs back in the queue, unspent", released)
    return released


def _process_pending_jobs(result, batch_size, max_seconds, client, wait_seconds) -> ProcessResult:
    batch_size = batch_size or conf.BATCH_SIZE
    wait_seconds = conf.RETRY_WAIT_SECONDS if wait_seconds is None else wait_seconds
    started = time.monotonic()
    deadline = None if max_seconds is None else started + max_seconds
    # Resolve handlers before claiming: a broken JOB_HANDLERS setting must not strand
    # claimed jobs in "processing".
    handlers = get_handlers()
    fail_unconfigured_destinations(batch_size)
    stopped = []
    for index, destination in enumerate(get_destinations()):
        # Like one destination alone, each gets at least one batch before the deadline counts.
        if index and deadline is not None and time.monotonic() >= deadline:
            result.drained = not _due_jobs().exists()
            break
        changed_before = result.succeeded - result.unchanged
        given = client if destination == Destination.PUBLISH else None
        # A given client (a test's) may not be safe to share, and a caller's transaction
        # cannot be shared: then one batch at a time.
        shared = given is None and not connection.in_atomic_block
        helpers = HelperThreads(
            conf.WORKER_THREADS - 1 if shared else 0,
            lambda helper_result, destination=destination: _process_destination(
                destination, None, handlers, batch_size, deadline, wait_seconds, helper_result
            ),
        )
        try:
            _process_destination(
                destination,
                given,
                handlers,
                batch_size,
                deadline,
                wait_seconds,
                result,
                on_full_batch=helpers.start,
            )
        finally:
            helpers.join_into(result)
        if result.stopped:
            stopped.append(result.stopped)
        if result.succeeded - result.unchanged > changed_before:
            result.changed_destinations.add(destination)
        if not result.drained:
            break
    result.stopped = stopped[0] if stopped else ""
    post_sync.after_processing(result.changed_destinations)

    if result.processed or result.retried or result.released:
        logger.info(
            "Processed %d Enterspeed jobs: %d succeeded (%d unchanged), %d failed, "
            "%d to retry, %d put back",
            result.processed,
            result.succeeded,
            result.unchanged,
            result.failed,
            result.retried,
            result.released,
        )
    if result.stopped:
        # The pause itself was logged once, where it began (sending.py); every run that
        # finds it still on says so only at debug level.
        logger.debug("Enterspeed sending is paused (%s); jobs wait in the queue", result.stopped)
    return result


def _process_destination(
    destination, client, handlers, batch_size, deadline, wait_seconds, result, on_full_batch=None
) -> None:
    """
    Drain one destination's jobs through its own client and sending state.
    ``on_full_batch`` is called once, when a claim fills a whole batch (more are likely).
    """
    if not get_api_key(destination) and client is None:
        # A site may run without a key (check W032): its jobs are kept, with no attempt
        # spent, and sent once the key is set. The status model says `no_api_key`. (A
        # given client, a test's, brings its own key.)
        if _due_jobs().filter(destination=destination).exists():
            logger.warning(
                "No Enterspeed API key is configured (ENTERSPEED_SYNC[%r]): %s jobs wait "
                "in the queue until it is set",
                "PREVIEW_API_KEY" if destination == Destination.PREVIEW else "API_KEY",
                destination,
            )
        result.stopped = "no_api_key"
        return
    source = sending.current_source(destination)
    own_client = client is None
    if own_client:
        client = get_client(before_request=sending.SendGate(source), destination=destination)
    result.stopped = ""
    #: This run stopped sending (it opened the breaker, its probe failed, or a 429 or pause
    #: put its batch back): it knows when to look again, and arranges it (resume_at).
    tripped = False
    try:
        while True:
            result.recovered += recover_expired_leases()
            gate = sending.check_gate(source)
            if gate.probe:
                gate = sending.probe(source, client)
                tripped = gate.reason == "breaker_open"
            if not gate.open:
                result.stopped = gate.reason
                if gate.reason != "auth" and _wait_for_due(
                    gate.until, deadline, wait_seconds, destination
                ):
                    continue
                if tripped and gate.until is not None:
                    result.resume_at = min(filter(None, (result.resume_at, gate.until)))
                break
            result.stopped = ""
            looked_at = timezone.now()
            jobs = claim_jobs(batch_size, destination=destination)
            if on_full_batch is not None and len(jobs) >= batch_size:
                on_full_batch()
                on_full_batch = None
            if not jobs:
                if _wait_for_due(None, deadline, wait_seconds, destination, looked_at):
                    continue
                break
            tally = totals.BatchTally()
            outcomes = process_batch(jobs, client, handlers, source, tally)
            _count(outcomes, result)
            counters.record_outcomes(destination, outcomes)
            totals.record_totals(destination, outcomes, tally)
            count_outcomes(jobs, outcomes)
            tripped = not set(STOPPING).isdisjoint(outcomes.values())
            if deadline is not None and time.monotonic() >= deadline:
                result.drained = not _due_jobs().exists()
                break
    finally:
        if own_client:
            client.close()


class HelperThreads:
    """
    Threads that join a run while a destination has a queue (``WORKER_THREADS``), each
    draining it as the run's own thread does (``drain(result)``): claiming its own batches,
    with its own lease, client and database connection. While one batch waits for
    Enterspeed's answer, another is mapped, so a worker is not idle for the network; the
    rate limit is shared through the database. Each helper's counts join the run's result.
    """

    def __init__(self, count: int, drain: Callable[[ProcessResult], None]) -> None:
        self.count = count
        self.drain = drain
        self.threads: list[threading.Thread] = []
        self.results: list[ProcessResult] = []

    def start(self) -> None:
        if self.threads:
            return
        for number in range(1, self.count + 1):
            result = ProcessResult()
            thread = threading.Thread(
                target=self._run, args=(result,), name=f"enterspeed-batches-{number}"
            )
            self.results.append(result)
            self.threads.append(thread)
            thread.start()

    def _run(self, result: ProcessResult) -> None:
        try:
            with tracking_claims() as tokens:
                try:
                    self.drain(result)
                except DATABASE_FAULTS as exc:
                    reconnect()
                    _stopped_by_database(exc, result, tokens)
                except Exception:
                    # Nobody would see this thread's exception: log it, and hand back
                    # the jobs it claimed, unspent, for the other threads and runs.
                    logger.exception("An Enterspeed processing thread failed")
                    result.released += _release_unfinished(tokens)
        finally:
            connections.close_all()  # this thread's own connections only

    def join_into(self, result: ProcessResult) -> None:
        """Wait for the helpers, and add what they did to ``result``."""
        for thread in self.threads:
            thread.join()
        for helper in self.results:
            result.add(helper)
        self.results.clear()


def _due_jobs():
    """Due jobs of the configured destinations (others are failed, never waited for)."""
    return EnterspeedJob.objects.due().filter(destination__in=get_destinations())


def fail_unconfigured_destinations(batch_size: int) -> int:
    """
    Fail the due jobs of a destination that has no API key (the preview key was removed
    after they were queued), with a reason that says so, instead of leaving them waiting.
    """
    failed = 0
    for destination in Destination.values:
        if destination in get_destinations():
            continue
        while jobs := claim_jobs(batch_size, destination=destination):
            for job in jobs:
                mark_failed(
                    job,
                    f"The {Destination(destination).label.lower()} is not configured "
                    f"(no API key for the {destination!r} destination); set its key in "
                    f"ENTERSPEED_SYNC, then retry the job, or delete it.",
                )
                failed += 1
    return failed


def check_settings() -> None:
    """Refuse to run on a malformed setting: every job stays pending (see conf)."""
    conf.raise_if_invalid()


def _wait_for_due(
    until: datetime | None,
    deadline: float | None,
    wait_seconds: float,
    destination: str | None = None,
    looked_at: datetime | None = None,
) -> bool:
    """
    Sleep until the next job becomes due (a retry, a pause ending) if that is within
    ``wait_seconds`` and the time budget. Returns False when there is nothing to wait for:
    the once-a-minute schedule or the next commit picks it up.

    ``looked_at`` is when the queue was last looked at for due jobs: a retry that became
    due since then (on a slow database, between that look and this one) is still waited
    for, briefly, instead of being left for the schedule.
    """
    if wait_seconds <= 0:
        return False
    if until is None:
        # Only retries: a live worker renews its lease, so waiting for leases would mostly
        # wait for nothing; a dead worker's jobs are recovered by the next run.
        # Due jobs that could not be claimed wait for their entity's job in flight; the
        # worker holding it claims them next, so only future retries are worth a wait.
        waiting = EnterspeedJob.objects.pending().filter(
            next_attempt_at__gt=looked_at or timezone.now()
        )
        if destination is not None:
            waiting = waiting.filter(destination=destination)
        until = waiting.aggregate(due=Min("next_attempt_at"))["due"]
        if until is None:
            return False
    delay = max(MIN_WAIT_SECONDS, (until - timezone.now()).total_seconds() + 0.01)
    if delay > wait_seconds:
        return False
    if deadline is not None and time.monotonic() + delay > deadline:
        return False
    time.sleep(delay)
    return True


def _count(outcomes: dict[int, str], result: ProcessResult) -> None:
    for outcome in outcomes.values():
        if outcome in (Outcome.SUCCEEDED, Outcome.UNCHANGED):
            result.succeeded += 1
            result.unchanged += outcome == Outcome.UNCHANGED
        elif outcome == Outcome.FAILED:
            result.failed += 1
        elif outcome in (Outcome.RETRY, Outcome.STOP):
            result.retried += 1
        elif outcome == Outcome.RELEASED:
            result.released += 1
