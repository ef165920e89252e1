"""
One claimed batch: ask each job's handler for its operations (sharing lookups, see
``mapping.batch``), send them in as few requests as the account allows
(``delivery.bulk``), and record each job's outcome the moment its last answer arrives.
"""

from __future__ import annotations

import logging
import time
from collections import deque

from enterspeed_sync.conf import conf
from enterspeed_sync.delivery import gate as sending
from enterspeed_sync.delivery.bulk import Operation, Request, bulk_support, plan_requests
from enterspeed_sync.delivery.client import BulkNotAvailable, EnterspeedHTTPError
from enterspeed_sync.delivery.ledger import forget, last_sent_hashes, record_many
from enterspeed_sync.delivery.retries import Verdict
from enterspeed_sync.handlers import BaseJobHandler, prepare_batch, sendable_operations
from enterspeed_sync.mapping.batch import mapping_batch
from enterspeed_sync.models import EnterspeedJob
from enterspeed_sync.processing import post_sync
from enterspeed_sync.processing.claims import Lease
from enterspeed_sync.processing.failures import fail_jobs
from enterspeed_sync.processing.totals import BatchTally, failure_reason
from enterspeed_sync.processing.transitions import (
    Outcome,
    mark_failed,
    mark_succeeded_many,
    release_job,
    retry_later,
)

logger = logging.getLogger(__name__)

#: Outcomes after which the batch stops sending: the rest goes back to the queue.
STOPPING = (Outcome.RELEASED, Outcome.STOP)


def process_batch(
    jobs: list[EnterspeedJob],
    client,
    handlers: tuple[BaseJobHandler, ...],
    source: sending.Source,
    tally: BatchTally | None = None,
) -> dict[int, str]:
    """
    Map every job of a claimed batch, then send what their handlers asked for, in bulk
    requests, and record each job's outcome. Returns ``{job pk: Outcome}``; ``tally``
    collects the failures' reasons and the requests' latency for the metrics.
    """
    tally = tally if tally is not None else BatchTally()
    lease = Lease(jobs)
    with lease.heartbeat():
        outcomes, mapped = _map(jobs, handlers, source, lease, tally)
        if mapped:
            outcomes.update(_send(mapped, client, source, lease, tally))
    return outcomes


def _map(jobs, handlers, source, lease: Lease, tally: BatchTally) -> tuple[dict[int, str], list]:
    """``(outcomes of the jobs that failed already, [(job, its operations)] to send)``."""
    outcomes: dict[int, str] = {}
    mapped: list[tuple[EnterspeedJob, list[Operation]]] = []
    with mapping_batch():
        handler_of = prepare_batch(jobs, handlers, on_error=_prepare_failed)
        for index, (job, handler) in enumerate(zip(jobs, handler_of, strict=True)):
            lease.renew_if_due()
            if job.pk not in lease.held:
                logger.warning("Lost the lease on Enterspeed job %s; another worker has it", job.pk)
                outcomes[job.pk] = Outcome.LOST
                continue
            if handler is None:
                mark_failed(
                    job,
                    f"No handler in ENTERSPEED_SYNC['JOB_HANDLERS'] can handle a "
                    f"{job.job_type!r} job for a {job.entity_type!r} entity ({job.origin_id}).",
                )
                outcomes[job.pk] = Outcome.FAILED
                tally.failed([job.pk], "no_handler")
                continue
            try:
                operations = sendable_operations(handler, job)
            except Exception as exc:  # noqa: BLE001  (a handler error fails its job only)
                tally.failed([job.pk], failure_reason(exc))
                (outcomes[job.pk],) = fail_jobs([job], exc, source).values()
                if outcomes[job.pk] in STOPPING:
                    for rest in [job for job, _ in mapped] + jobs[index + 1 :]:
                        outcomes[rest.pk] = Outcome.RELEASED if release_job(rest) else Outcome.LOST
                    return outcomes, []
                continue
            for operation in operations:
                if operation.action == "delete" and operation.reason:
                    logger.info(
                        "Deleting %s from Enterspeed: %s", operation.origin_id, operation.reason
                    )
            mapped.append((job, operations))
    return outcomes, mapped


def _prepare_failed(handler: BaseJobHandler, jobs: list[EnterspeedJob], exc: Exception) -> None:
    logger.error(
        "%s.prepare failed; its jobs load one by one",
        type(handler).__name__,
        exc_info=(type(exc), exc, exc.__traceback__),
    )


def _send(mapped, client, source, lease: Lease, tally: BatchTally) -> dict[int, str]:
    """
    Send the operations the handlers asked for, in bulk where the account allows it, and
    resolve each job the moment the answer to its last operation arrives: succeeded when
    all its operations were accepted, else failed or retried by its first refusal.

    So a job Enterspeed accepted is deleted (and its payload is in the ledger) before the
    next request goes out, and a 429 or another worker's pause later in the batch puts
    back only the jobs that still had operations to send: nothing accepted is sent twice.
    """
    operations = [operation for _job, job_operations in mapped for operation in job_operations]
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
    progress = BatchProgress([job for job, _ in mapped], operations, unchanged, tally)
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
        # Until Enterspeed answers, what it holds is unknown: a request that times out (or
        # whose worker is killed) may still be applied. Without these entries, a later save
        # of the payload the ledger had is sent, not skipped as unchanged.
        forget(source, request.origin_ids)
        try:
            accepted, errors, unresolved = _timed_request(client, request, tally)
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
            if _fail_request(request, exc, source, outcomes, tally):
                break
            continue
        except Exception as exc:  # noqa: BLE001  (network errors, SendingPaused, bugs)
            if _fail_request(request, exc, source, outcomes, tally):
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
    _release_rest(progress)
    return outcomes


class BatchProgress:
    """
    The operations of a batch's jobs still waiting for an answer, and what the answers
    said, so each job is resolved (and recorded) as soon as its last answer arrives.
    """

    def __init__(
        self, jobs: list[EnterspeedJob], operations, unchanged: set[int], tally: BatchTally
    ) -> None:
        self.jobs = {job.pk: job for job in jobs}
        self.tally = tally
        self.unanswered = dict.fromkeys(self.jobs, 0)
        for op in operations:
            self.unanswered[op.job.pk] += 1
        self.unchanged = unchanged
        self.outcomes: dict[int, str] = {}
        #: Per job: (verdict, message, status) of its first refused operation.
        self.refusals: dict[int, tuple[str, str, int | None]] = {}
        #: Per job: (origin id, action) of each operation Enterspeed accepted.
        self.sent: dict[int, list[tuple[str, str]]] = {}

    def accepted(self, op: Operation) -> None:
        self.sent.setdefault(op.job.pk, []).append((op.origin_id, op.action))
        self.unanswered[op.job.pk] -= 1

    def refused(self, op: Operation, refusal: tuple[str, str, int | None]) -> None:
        self.refusals.setdefault(op.job.pk, refusal)
        status = refusal[2]
        # A bulk answer with no result for the entity has a success status.
        reason = f"http_{status}" if status and status >= 400 else "no_result"
        self.tally.failed([op.job.pk], reason)
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


def _timed_request(client, request: Request, tally: BatchTally):
    """``_send_request``, its latency (answered or not) added to ``tally``."""
    started = time.monotonic()
    try:
        answer = _send_request(client, request)
    except Exception as exc:
        tally.request(time.monotonic() - started, exc)
        raise
    tally.request(time.monotonic() - started)
    return answer


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
    # Enterspeed's error code (``errorCode``) is in the answer's body, not per entity.
    code = result.data.get("errorCode") if isinstance(result.data, dict) else None
    code = f", {code}" if isinstance(code, str) and code.strip() else ""
    errors = {
        origin_id: (
            Verdict.PERMANENT,
            f"Enterspeed rejected the entity (HTTP 422{code}) in a bulk request: {text}",
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


def _fail_request(
    request: Request, exc: BaseException, source, outcomes, tally: BatchTally
) -> bool:
    """Apply a failed request to its jobs; True when sending must stop for this batch."""
    jobs = list({op.job.pk: op.job for op in request.operations}.values())
    tally.failed([job.pk for job in jobs], failure_reason(exc))
    outcomes.update(fail_jobs(jobs, exc, source))
    return any(outcomes[job.pk] in STOPPING for job in jobs)


def _release_rest(progress: BatchProgress) -> None:
    """
    Sending stopped for this batch (a 429, a pause, an open breaker): hand back, unspent,
    the jobs with operations not yet sent. A job already refused is resolved by that.
    """
    open_jobs = [pk for pk in progress.jobs if pk not in progress.outcomes]
    progress.resolve([pk for pk in open_jobs if pk in progress.refusals])
    for pk in open_jobs:
        if pk not in progress.outcomes:
            job = progress.jobs[pk]
            progress.outcomes[pk] = Outcome.RELEASED if release_job(job) else Outcome.LOST
