"""
Processing the job queue: claim a batch, hand each job to its handler, record the outcome.

Runner-agnostic: the django-q2 tasks in ``tasks.py`` and ``manage.py enterspeed_process``
both call ``process_pending_jobs``.

Claiming is safe with several workers and several clusters at once: a job moves from
pending to processing only through a conditional UPDATE (``WHERE state = 'pending'``), so
exactly one claimer gets it. The claim is a lease: the worker renews it while it works, and
a job whose lease ran out (its worker was killed) is put back in the queue. Every later
write is fenced by the claim's lease token, so a worker that lost its lease cannot
overwrite a newer outcome.

Failures follow the retry policy in ``retries.py``: transient errors come back with
backoff, a 429 pauses every worker, 401/403 stop sending, anything else fails at once.
A database fault (a lock held too long, a lost connection) is never the job's fault: the
runner's writes ride it out (``database_faults.py``), and when the database stays away
the run stops and leaves the rows as they are.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import DatabaseError, IntegrityError, connection, connections, transaction
from django.db.models import Exists, F, Min, OuterRef, Q
from django.utils import timezone

from enterspeed_sync.capture.enqueue import request_processing
from enterspeed_sync.conf import conf, get_client, get_destinations
from enterspeed_sync.delivery import gate as sending
from enterspeed_sync.delivery.bulk import OperationCollector, Request, bulk_support, plan_requests
from enterspeed_sync.delivery.client import (
    BulkNotAvailable,
    EnterspeedClient,
    EnterspeedError,
    EnterspeedHTTPError,
)
from enterspeed_sync.delivery.ledger import last_sent_hashes, record_many
from enterspeed_sync.delivery.retries import (
    DATABASE_FAULTS,
    Verdict,
    backoff_delay,
    clamp_retry_after,
    classify,
    is_database_fault,
)
from enterspeed_sync.exceptions import EntityValidationError
from enterspeed_sync.handlers import find_handler, get_handlers
from enterspeed_sync.mapping.batch import mapping_batch
from enterspeed_sync.models import ENTITY_KEY_FIELDS, Destination, EnterspeedJob, JobState
from enterspeed_sync.processing import post_sync
from enterspeed_sync.processing.database_faults import reconnect, retry_database_faults

logger = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 10_000
#: The shortest wait for a job that becomes due, so a waiting task does not spin.
MIN_WAIT_SECONDS = 0.05
#: ``tokens``: the lease tokens of the batches the current run (in this thread) claimed.
_run = threading.local()


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
    #: Why the run stopped claiming early: "", "rate_limited", "breaker_open", "auth" or
    #: "database" (a database fault outlasted the retries; see process_pending_jobs).
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


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@retry_database_faults
def claim_jobs(limit: int, destination: str | None = None) -> list[EnterspeedJob]:
    """
    Move up to ``limit`` of the oldest due pending jobs (of one ``destination``, or of
    every destination) to processing, leased to this worker for ``LEASE_SECONDS``, and
    return them.

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
    candidates = due.filter(~Exists(busy)).order_by("created_at", "pk").values_list("pk", flat=True)
    token = uuid.uuid4()
    if (claimed_in_run := getattr(_run, "tokens", None)) is not None:
        claimed_in_run.append(token)
    with transaction.atomic():
        if connection.features.has_select_for_update_skip_locked:
            # PostgreSQL: another worker's candidate rows are skipped, not waited for.
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        ids = list(candidates[:limit])
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
    return list(EnterspeedJob.objects.filter(lease_token=token).order_by("created_at", "pk"))


@retry_database_faults
def renew_lease(token: uuid.UUID) -> set[int]:
    """Extend the lease of the jobs still held under ``token``; returns their ids."""
    held = EnterspeedJob.objects.filter(lease_token=token, state=JobState.PROCESSING)
    held.update(leased_until=timezone.now() + timedelta(seconds=conf.LEASE_SECONDS))
    return set(held.values_list("pk", flat=True))


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
    breaker. ``client`` replaces the published source's client (tests pass a fake).

    A database fault that outlasts the retries of one write stops the run (``stopped``
    is "database"; outside a transaction it never raises). The jobs it had claimed and not
    finished go back to the queue without spending an attempt once the database answers
    again; while it does not, they stay as they are until their lease runs out.
    """
    check_settings()
    result = ProcessResult()
    _run.tokens = []
    try:
        return _process_pending_jobs(result, batch_size, max_seconds, client, wait_seconds)
    except DATABASE_FAULTS as exc:
        if not reconnect():  # inside the caller's transaction: the error is theirs
            raise
        result.stopped = "database"
        logger.warning(
            "The database failed during Enterspeed processing (%s); stopped",
            str(exc).strip() or type(exc).__name__,
        )
        result.released += _release_unfinished(_run.tokens)
        post_sync.after_processing(result.changed_destinations)
        return result
    finally:
        _run.tokens = None


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
    held = EnterspeedJob.objects.filter(lease_token__in=tokens, state=JobState.PROCESSING)
    released = sum(release_job(job) for job in held)
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
        _process_destination(
            destination, given, handlers, batch_size, deadline, wait_seconds, result
        )
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
    destination, client, handlers, batch_size, deadline, wait_seconds, result
) -> None:
    """Drain one destination's jobs through its own client and sending state."""
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
            if not jobs:
                if _wait_for_due(None, deadline, wait_seconds, destination, looked_at):
                    continue
                break
            outcomes = _process_batch(jobs, client, handlers, source, result)
            tripped = not {Outcome.STOP, Outcome.RELEASED}.isdisjoint(outcomes.values())
            if deadline is not None and time.monotonic() >= deadline:
                result.drained = not _due_jobs().exists()
                break
    finally:
        if own_client:
            client.close()


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
        held = set(
            EnterspeedJob.objects.filter(
                pk__in=[job.pk for job in jobs],
                lease_token=self.token,
                state=JobState.PROCESSING,
            ).values_list("pk", flat=True)
        )
        for job in jobs:
            if job.pk not in held:
                logger.warning(
                    "Lost the lease on Enterspeed job %s (%s); not sent", job.pk, job.origin_id
                )
        return held


def _process_batch(jobs, client, handlers, source, result: ProcessResult) -> dict[int, str]:
    """
    Map every job of the batch (sharing lookups, see ``mapping.batch``), then send what
    they produced in bulk requests, and record each job's outcome. Returns the outcomes.
    """
    lease = Lease(jobs)
    with lease.heartbeat():
        return _map_and_send(jobs, client, handlers, source, result, lease)


def _map_and_send(jobs, client, handlers, source, result, lease: Lease) -> dict[int, str]:
    outcomes: dict[int, str] = {}
    collected: list[OperationCollector] = []
    handler_of = {job.pk: find_handler(job, handlers) for job in jobs}
    with mapping_batch():
        _prepare(jobs, handler_of)
        for index, job in enumerate(jobs):
            lease.renew_if_due()
            if job.pk not in lease.held:
                logger.warning("Lost the lease on Enterspeed job %s; another worker has it", job.pk)
                outcomes[job.pk] = Outcome.LOST
                continue
            handler = handler_of[job.pk]
            if handler is None:
                mark_failed(
                    job,
                    f"No handler in ENTERSPEED_SYNC['JOB_HANDLERS'] can handle a "
                    f"{job.job_type!r} job for a {job.entity_type!r} entity ({job.origin_id}).",
                )
                outcomes[job.pk] = Outcome.FAILED
                continue
            collector = OperationCollector(client, job)
            try:
                handler.handle(job, collector)
            except Exception as exc:  # noqa: BLE001  (a handler error fails its job only)
                outcomes[job.pk] = handle_failure(job, exc, source)
                if outcomes[job.pk] in (Outcome.RELEASED, Outcome.STOP):
                    for rest in [c.job for c in collected] + jobs[index + 1 :]:
                        outcomes[rest.pk] = Outcome.RELEASED if release_job(rest) else Outcome.LOST
                    collected = []
                    break
                continue
            collected.append(collector)
    if collected:
        outcomes.update(_send_batch(collected, client, source, lease))
    _count(outcomes, result)
    return outcomes


def _prepare(jobs: list[EnterspeedJob], handler_of: dict[int, object]) -> None:
    """Let each handler load what its jobs need in bulk; a failure only costs speed."""
    by_handler: dict[int, tuple[object, list[EnterspeedJob]]] = {}
    for job in jobs:
        handler = handler_of[job.pk]
        if handler is not None:
            by_handler.setdefault(id(handler), (handler, []))[1].append(job)
    for handler, handler_jobs in by_handler.values():
        try:
            handler.prepare(handler_jobs)
        except Exception:
            logger.exception("%s.prepare failed; its jobs load one by one", type(handler).__name__)


def _send_batch(collected, client, source, lease: Lease) -> dict[int, str]:
    """
    Send the operations the handlers asked for, in bulk where the account allows it, and
    resolve each job the moment the answer to its last operation arrives: succeeded when
    all its operations were accepted, else failed or retried by its first refusal.

    So a job Enterspeed accepted is deleted (and its payload is in the ledger) before the
    next request goes out, and a 429 or another worker's pause later in the batch puts
    back only the jobs that still had operations to send: nothing accepted is sent twice.
    """
    operations = [op for c in collected for op in c.operations]
    unchanged: set[int] = set()
    if conf.SKIP_UNCHANGED:
        saves = [op for op in operations if op.action == "save" and not op.force_type]
        last = last_sent_hashes(source, [op.origin_id for op in saves])
        skipped = {id(op) for op in saves if last.get(op.origin_id) == op.digest}
        operations = [op for op in operations if id(op) not in skipped]
        # Jobs whose every operation was a skipped save.
        unchanged = {op.job.pk for op in saves if id(op) in skipped} - {
            op.job.pk for op in operations
        }
    progress = BatchProgress([c.job for c in collected], operations, unchanged)
    outcomes = progress.outcomes
    progress.resolve_answered()  # jobs with nothing to send
    # A client without bulk calls (a project's own, a test double) sends one at a time.
    bulk = bulk_support.available(source.key_hash) and hasattr(client, "save_bulk")
    pending = deque(plan_requests(operations, bulk=bulk, max_bytes=conf.MAX_PAYLOAD_BYTES))
    while pending:
        request = pending.popleft()
        lease.renew_if_due()
        live = [op for op in request.operations if op.job.pk not in outcomes]
        held = lease.still_held(list({op.job.pk: op.job for op in live}.values()))
        for op in live:
            if op.job.pk not in held:
                outcomes[op.job.pk] = Outcome.LOST
        request.operations = [op for op in live if op.job.pk in held]
        if not request.operations:
            continue
        try:
            accepted, errors, unresolved = _send_request(client, request)
        except BulkNotAvailable as exc:
            logger.warning(
                "Enterspeed refused a bulk request (%s); sending one entity per request", exc
            )
            bulk_support.refused(source.key_hash)
            pending.extendleft(reversed(request.singles()))
            continue
        except EnterspeedHTTPError as exc:
            if exc.status == 413 and len(request.operations) > 1:
                pending.extendleft(reversed(request.singles()))  # find the oversized one
                continue
            if _fail_request(request, exc, source, outcomes):
                break
            continue
        except Exception as exc:  # noqa: BLE001  (network errors, SendingPaused, bugs)
            if _fail_request(request, exc, source, outcomes):
                break
            continue
        sending.record_success(source)
        record_many(
            source,
            (
                (op.origin_id, op.digest if op.action == "save" else "", op.job)
                for op in request.operations
                if op.origin_id in accepted
            ),
        )
        if unresolved:
            logger.warning(
                "Enterspeed answered a bulk request with an error that names no entity; "
                "sending its %d unconfirmed entities one per request",
                len(unresolved),
            )
            again = [op for op in request.operations if op.origin_id in unresolved]
            pending.extendleft(reversed(Request(request.action, again).singles()))
        for op in request.operations:
            if op.origin_id in accepted:
                progress.accepted(op)
            elif op.origin_id in errors:
                progress.refused(op, errors[op.origin_id])
        progress.resolve_answered()
    # Normally every job has its outcome here; when sending stopped, the rest go back.
    _release_rest(pending, progress)
    return outcomes


class BatchProgress:
    """
    The operations of a batch's jobs still waiting for an answer, and what the answers
    said, so each job is resolved (and recorded) as soon as its last answer arrives.
    """

    def __init__(self, jobs: list[EnterspeedJob], operations, unchanged: set[int]) -> None:
        self.jobs = {job.pk: job for job in jobs}
        self.unanswered = dict.fromkeys(self.jobs, 0)
        for op in operations:
            self.unanswered[op.job.pk] += 1
        self.unchanged = unchanged
        self.outcomes: dict[int, str] = {}
        #: Per job: (verdict, message, status) of its first refused operation.
        self.refusals: dict[int, tuple[str, str, int | None]] = {}
        #: Per job: (origin id, action) of each operation Enterspeed accepted.
        self.sent: dict[int, list[tuple[str, str]]] = {}

    def accepted(self, op) -> None:
        self.sent.setdefault(op.job.pk, []).append((op.origin_id, op.action))
        self.unanswered[op.job.pk] -= 1

    def refused(self, op, refusal: tuple[str, str, int | None]) -> None:
        self.refusals.setdefault(op.job.pk, refusal)
        self.unanswered[op.job.pk] -= 1

    def resolve_answered(self) -> None:
        """Record the outcome of every job whose operations all have their answer."""
        self.resolve(
            [pk for pk, count in self.unanswered.items() if not count and pk not in self.outcomes]
        )

    def resolve(self, pks: list[int]) -> None:
        """Record the outcome of the jobs ``pks`` from the answers they got."""
        succeeded = []
        for pk in pks:
            job = self.jobs[pk]
            if pk not in self.refusals:
                succeeded.append(job)
                continue
            verdict, message, status = self.refusals[pk]
            if verdict == Verdict.PERMANENT:
                logger.warning("Enterspeed job %s (%s) failed: %s", pk, job.origin_id, message)
                mark_failed(job, message, status=status)
                self.outcomes[pk] = Outcome.FAILED
            else:
                self.outcomes[pk] = retry_later(job, message, status=status)
        for job in succeeded:
            self.outcomes[job.pk] = Outcome.LOST  # unless deleted below
        for job in mark_succeeded_many(succeeded):
            self.outcomes[job.pk] = (
                Outcome.UNCHANGED if job.pk in self.unchanged else Outcome.SUCCEEDED
            )
            post_sync.announce_synced(job, self.sent.get(job.pk, ()))


def _send_request(client, request: Request) -> tuple[set[str], dict[str, tuple], set[str]]:
    """
    Send one request. Returns the accepted origin ids; per refused origin id,
    ``(verdict, message, status)``; and the origin ids the answer left unresolved (to be
    sent one per request). Raises when the request as a whole failed.
    """
    if not request.bulk:
        (op,) = request.operations
        if op.action == "save":
            client.save(op.origin_id, op.entity, force_type=op.force_type)
        else:
            client.delete(op.origin_id)
        return {op.origin_id}, {}, set()
    if request.action == "save":
        result = client.save_bulk([(op.origin_id, op.entity) for op in request.operations])
    else:
        result = client.delete_bulk(request.origin_ids)
    errors = {
        origin_id: (
            Verdict.PERMANENT,
            f"Enterspeed rejected the entity (HTTP 422, in a bulk request): {text}",
            422,
        )
        for origin_id, text in result.errors.items()
    }
    for origin_id in result.unreported:
        errors[origin_id] = (
            Verdict.TRANSIENT,
            f"Enterspeed answered the bulk request (HTTP {result.status}) without a result "
            f"for {origin_id}",
            result.status,
        )
    return set(result.accepted), errors, set(result.unresolved)


def _fail_request(request: Request, exc: BaseException, source, outcomes) -> bool:
    """Apply a failed request to its jobs; True when sending must stop for this batch."""
    jobs = list({op.job.pk: op.job for op in request.operations}.values())
    for pk, outcome in fail_jobs(jobs, exc, source).items():
        outcomes[pk] = outcome
    return any(outcomes[job.pk] in (Outcome.RELEASED, Outcome.STOP) for job in jobs)


def _release_rest(pending: deque, progress: BatchProgress) -> None:
    """
    Sending stopped for this batch (a 429, a pause, an open breaker): hand back, unspent,
    the jobs with operations not yet sent. A job already refused is resolved by that.
    """
    pending.clear()
    open_jobs = [pk for pk in progress.jobs if pk not in progress.outcomes]
    progress.resolve([pk for pk in open_jobs if pk in progress.refusals])
    for pk in open_jobs:
        if pk not in progress.outcomes:
            job = progress.jobs[pk]
            progress.outcomes[pk] = Outcome.RELEASED if release_job(job) else Outcome.LOST


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


class Outcome:
    SUCCEEDED = "succeeded"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    RETRY = "retry"
    #: Put back without spending an attempt; sending is paused, stop the batch.
    RELEASED = "released"
    #: Retried, and the failure opened the circuit breaker: stop the batch.
    STOP = "stop"
    #: Another worker holds the job now (our lease ran out); nothing recorded.
    LOST = "lost"


def process_job(job: EnterspeedJob, client: EnterspeedClient, handlers=None) -> bool:
    """Run one claimed job through its handler. Returns True on success."""
    outcome = run_job(job, client, handlers, sending.current_source(job.destination))
    return outcome in (Outcome.SUCCEEDED, Outcome.UNCHANGED)


def run_job(job: EnterspeedJob, client, handlers, source: sending.Source) -> str:
    """Run one claimed job (a batch of one) and record what happened; returns an ``Outcome``."""
    handlers = get_handlers() if handlers is None else handlers
    return _process_batch([job], client, handlers, source, ProcessResult())[job.pk]


def handle_failure(job: EnterspeedJob, exc: BaseException, source: sending.Source) -> str:
    """Apply the retry policy to a failed attempt of one job."""
    return fail_jobs([job], exc, source)[job.pk]


def fail_jobs(
    jobs: list[EnterspeedJob], exc: BaseException, source: sending.Source
) -> dict[int, str]:
    """
    Apply the retry policy to the jobs of one failed request (or one failed job). What the
    failure means for the source (a 429 pause, an auth stop, a breaker count) is recorded
    once, whatever the number of jobs.
    """
    verdict = classify(exc)
    message = describe_error(exc)
    names = ", ".join(job.origin_id for job in jobs[:5]) + (" …" if len(jobs) > 5 else "")
    if verdict.verdict == Verdict.THROTTLED:
        if verdict.status == 429:
            seconds = clamp_retry_after(
                verdict.retry_after, default=conf.RATE_LIMIT_PAUSE, maximum=conf.RETRY_AFTER_MAX
            )
            until = sending.pause_for_rate_limit(source, seconds, message)
        else:  # SendingPaused: another worker paused sending
            until = getattr(exc, "until", None)
        logger.info("Enterspeed jobs put back (%s): %s", names, exc)
        return {
            job.pk: Outcome.RELEASED if release_job(job, until=until) else Outcome.LOST
            for job in jobs
        }
    if verdict.verdict == Verdict.AUTH:
        sending.record_auth_failure(source, message)
        return {
            job.pk: Outcome.RELEASED
            if release_job(job, error=message, status=verdict.status)
            else Outcome.LOST
            for job in jobs
        }
    if verdict.verdict == Verdict.PERMANENT:
        logger.warning("Enterspeed jobs failed (%s): %s", names, exc)
        for job in jobs:
            mark_failed(job, message, status=verdict.status)
        return {job.pk: Outcome.FAILED for job in jobs}
    if is_database_fault(exc):
        # The database failed while the job was mapped, not the job: back off without
        # spending an attempt or counting against Enterspeed's circuit breaker.
        logger.warning("Enterspeed jobs put back after a database error (%s): %s", names, exc)
        return {job.pk: _put_back_after_database_fault(job, message) for job in jobs}
    logger.warning("Enterspeed jobs will be retried (%s): %s", names, exc)
    retry_after = verdict.retry_after
    if verdict.status is None:
        # A timeout or dropped connection: Enterspeed may still be working on the request
        # and apply it later. Waiting one more full TIMEOUT lets it land before the retry,
        # so the retry (the newest state) is what stays.
        retry_after = max(retry_after or 0.0, conf.TIMEOUT_TOTAL)
    outcomes = {
        job.pk: retry_later(job, message, status=verdict.status, retry_after=retry_after)
        for job in jobs
    }
    if sending.record_transient_failure(source, message):
        outcomes = {pk: Outcome.STOP if o == Outcome.RETRY else o for pk, o in outcomes.items()}
    return outcomes


def _put_back_after_database_fault(job: EnterspeedJob, error: str) -> str:
    delay = backoff_delay(job.attempts + 1, base=conf.RETRY_BASE_DELAY, cap=conf.RETRY_MAX_DELAY)
    when = timezone.now() + timedelta(seconds=delay)
    text = f"A database error stopped this attempt; next attempt at {when:%H:%M:%S}. {error}"
    return Outcome.RETRY if release_job(job, until=when, error=text) else Outcome.LOST


def describe_error(exc: BaseException) -> str:
    """
    The reason stored on a failed job: one readable line, plus a traceback for bugs. An
    entity refused before sending (pre-flight validation) is bad content, not a bug: its
    message names the field, and a traceback would only hide it.
    """
    if isinstance(exc, EnterspeedError | EntityValidationError):
        return str(exc)[:MAX_ERROR_LENGTH]
    trace = "".join(traceback.format_exception(exc))
    return f"{type(exc).__name__}: {exc}\n\n{trace}"[:MAX_ERROR_LENGTH]


def mark_succeeded(job: EnterspeedJob) -> None:
    """Delete the job and the entity's failed row: Enterspeed now has the newest state."""
    mark_succeeded_many([job])


@retry_database_faults
def mark_succeeded_many(jobs: list[EnterspeedJob]) -> list[EnterspeedJob]:
    """``mark_succeeded`` for many claimed jobs, in a few queries; returns those still ours."""
    if not jobs:
        return []
    with transaction.atomic():
        claimed = Q()
        for job in jobs:
            claimed |= Q(pk=job.pk, lease_token=job.lease_token)
        deleted = set(EnterspeedJob.objects.filter(claimed).values_list("pk", flat=True))
        EnterspeedJob.objects.filter(pk__in=deleted).delete()
        for job in jobs:
            if job.pk not in deleted:
                logger.warning("Lost the claim on Enterspeed job %s; leaving it alone", job.pk)
        done = [job for job in jobs if job.pk in deleted]
        if done and EnterspeedJob.objects.failed().exists():
            failed = Q()
            for job in done:
                failed |= Q(**dict(zip(ENTITY_KEY_FIELDS, job.entity_key, strict=True)))
            EnterspeedJob.objects.failed().filter(failed).delete()
    return done


@retry_database_faults
def retry_later(
    job: EnterspeedJob,
    error: str,
    *,
    status: int | None = None,
    retry_after: float | None = None,
    backoff: bool = True,
    extra_filter: Q | None = None,
) -> str:
    """
    A transient failure: spend an attempt and put the job back in the queue after a
    backoff, or fail it when it has used ``MAX_ATTEMPTS``. A newer pending instruction for
    the entity supersedes the job instead, so a retry never reorders instructions.
    """
    claimed = EnterspeedJob.objects.filter(pk=job.pk, lease_token=job.lease_token)
    if extra_filter is not None:
        claimed = claimed.filter(extra_filter)
    attempts = (claimed.values_list("attempts", flat=True).first() or 0) + 1
    if attempts >= conf.MAX_ATTEMPTS:
        mark_failed(
            job,
            f"Gave up after {attempts} attempts. Last error: {error}",
            status=status,
            attempts=attempts,
            extra_filter=extra_filter,
        )
        return Outcome.FAILED
    delay = 0.0
    if backoff:
        delay = backoff_delay(attempts, base=conf.RETRY_BASE_DELAY, cap=conf.RETRY_MAX_DELAY)
    if retry_after is not None:  # e.g. a 503 that says when to come back
        delay = max(delay, min(retry_after, conf.RETRY_AFTER_MAX))
    when = timezone.now() + timedelta(seconds=delay)
    text = f"Attempt {attempts} of {conf.MAX_ATTEMPTS} failed; next attempt at {when:%H:%M:%S}"
    requeued = _return_to_queue(
        job,
        claimed,
        next_attempt_at=when,
        attempts=attempts,
        error=f"{text}. {error}"[:MAX_ERROR_LENGTH],
        last_status=status,
    )
    return Outcome.RETRY if requeued else Outcome.LOST


@retry_database_faults
def release_job(
    job: EnterspeedJob,
    *,
    until: datetime | None = None,
    error: str | None = None,
    status: int | None = None,
) -> bool:
    """Put a claimed job back without spending an attempt (sending is paused)."""
    claimed = EnterspeedJob.objects.filter(pk=job.pk, lease_token=job.lease_token)
    fields = {"next_attempt_at": until or timezone.now()}
    if error is not None:
        fields.update(error=error[:MAX_ERROR_LENGTH], last_status=status)
    return _return_to_queue(job, claimed, **fields)


def _return_to_queue(job: EnterspeedJob, claimed, **fields) -> bool:
    """
    Turn the claimed row back into the entity's pending job, or drop it when the entity
    already has a newer pending one. Returns False when the claim was lost.
    """
    for _attempt in range(3):
        try:
            with transaction.atomic():
                if not claimed.select_for_update().exists():
                    logger.warning("Lost the claim on Enterspeed job %s; leaving it alone", job.pk)
                    return False
                newer = EnterspeedJob.objects.for_entity(*job.entity_key).pending()
                if newer.exists():
                    # Newest instruction wins: the pending job replaces this one. It waits
                    # as long as this one would have: a request that timed out may still
                    # be applied, and must not land after the newer one.
                    if until := fields.get("next_attempt_at"):
                        settle = timezone.now() + timedelta(seconds=conf.TIMEOUT_TOTAL)
                        until = min(until, settle)
                        newer.filter(next_attempt_at__lt=until).update(next_attempt_at=until)
                    claimed.delete()
                    return True
                claimed.update(
                    state=JobState.PENDING,
                    lease_token=None,
                    leased_until=None,
                    claimed_at=None,
                    locked_by="",
                    updated_at=timezone.now(),
                    **fields,
                )
                return True
        except IntegrityError:
            # A new pending job for the entity was inserted meanwhile; the next round
            # sees it and drops this one.
            continue
    logger.error("Could not put Enterspeed job %s back in the queue", job.pk)
    return False


@retry_database_faults
def mark_failed(
    job: EnterspeedJob,
    error: str,
    *,
    status: int | None = None,
    attempts: int | None = None,
    extra_filter: Q | None = None,
) -> None:
    """
    Keep one failed row per entity and destination: merge into an existing failed row
    (newest instruction and error, attempts + 1) or turn the claimed row into it.
    """
    for _attempt in range(3):
        try:
            with transaction.atomic():
                _record_failure(job, error[:MAX_ERROR_LENGTH], status, attempts, extra_filter)
            return
        except IntegrityError:
            # Another worker created the failed row between our read and write.
            continue
    logger.error("Could not record the failure of Enterspeed job %s: %s", job.pk, error)


def _record_failure(
    job: EnterspeedJob,
    error: str,
    status: int | None,
    attempts: int | None,
    extra_filter: Q | None,
) -> None:
    now = timezone.now()
    claimed = EnterspeedJob.objects.filter(pk=job.pk, lease_token=job.lease_token)
    if extra_filter is not None:
        claimed = claimed.filter(extra_filter)
    if not claimed.select_for_update().exists():
        logger.warning("Lost the claim on Enterspeed job %s; not recording its failure", job.pk)
        return
    existing = (
        EnterspeedJob.objects.for_entity(*job.entity_key)
        .failed()
        .exclude(pk=job.pk)
        .select_for_update()
        .first()
    )
    if existing is None:
        claimed.update(
            state=JobState.FAILED,
            error=error,
            last_status=status,
            attempts=F("attempts") + 1 if attempts is None else attempts,
            lease_token=None,
            leased_until=None,
            locked_by="",
            updated_at=now,
        )
        return
    EnterspeedJob.objects.filter(pk=existing.pk).update(
        job_type=job.job_type,
        origin_id=job.origin_id,
        content_type_id=job.content_type_id,
        error=error,
        last_status=status,
        attempts=F("attempts") + 1,
        updated_at=now,
    )
    claimed.delete()


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


def fail_stale_jobs(minutes: int | None = None) -> int:
    """Mark jobs processing for longer than ``minutes`` as failed. Returns how many."""
    minutes = conf.STALE_PROCESSING_MINUTES if minutes is None else minutes
    count = 0
    for job in EnterspeedJob.objects.stale(minutes).iterator():
        mark_failed(
            job,
            f"Processing did not finish within {minutes} minutes; the worker processing it "
            "probably stopped. Retry the job to send it again.",
        )
        count += 1
    if count:
        logger.warning("Marked %d stale Enterspeed jobs as failed", count)
    return count


def retry_failed_jobs(ids: list[int] | None = None) -> int:
    """
    Put failed jobs back in the queue (all, or those with the given ids). A failed job
    whose entity already has a newer pending job is dropped: the pending one supersedes it.
    Returns how many jobs are queued again.
    """
    queued = 0
    failed = EnterspeedJob.objects.failed()
    if ids is not None:
        failed = failed.filter(pk__in=ids)
    for job in failed.iterator():
        with transaction.atomic():
            if EnterspeedJob.objects.for_entity(*job.entity_key).pending().exists():
                EnterspeedJob.objects.filter(pk=job.pk, state=JobState.FAILED).delete()
                continue
            # A manual retry gets the whole retry policy again.
            now = timezone.now()
            queued += EnterspeedJob.objects.filter(pk=job.pk, state=JobState.FAILED).update(
                state=JobState.PENDING,
                lease_token=None,
                claimed_at=None,
                leased_until=None,
                attempts=0,
                next_attempt_at=now,
                updated_at=now,
            )
    if queued:
        request_processing()
    return queued
