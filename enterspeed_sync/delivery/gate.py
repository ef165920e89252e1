"""
Sending state shared by every worker on every machine, kept in one ``SourceState`` row per
Enterspeed source (API key + base URL) so it needs nothing but the database:

- a **rate limiter**: each request takes the next free slot, ``1 / target_rate()``
  seconds after the previous one (``RATE_LIMIT`` less ``RATE_LIMIT_HEADROOM``), under a
  row lock, and waits for it;
- a **rate-limit pause**: a 429 stops everyone until its ``Retry-After`` has passed;
- a **circuit breaker**: after ``BREAKER_THRESHOLD`` transient failures in a row nobody
  claims jobs for a cool-down; then one worker probes the API with a connection test;
- an **authentication stop**: a 401/403 stops sending until the key or URL changes (the
  row is keyed by them, so a new key starts clean), the next task's connection test finds
  the key accepted again, or ``resume_sending()`` is called.

Times come from each machine's clock; keep the machines' clocks in sync (NTP).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from enterspeed_sync.conf import PUBLISH, conf, get_api_key
from enterspeed_sync.delivery.client import EnterspeedClient, mask_api_key
from enterspeed_sync.delivery.retries import SendingPaused, stamp
from enterspeed_sync.exceptions import MAX_STATUS_ERROR_LENGTH, clip_error
from enterspeed_sync.models import SourceState

logger = logging.getLogger(__name__)

#: Slots a request may take when its worker keeps waking up too late for them.
MAX_SLOT_ATTEMPTS = 3
#: After a refused key, the next task tests it again, at most once per this many seconds.
AUTH_PROBE_INTERVAL = 5.0


@dataclass(frozen=True)
class Source:
    """One Enterspeed source as the sending state knows it: never the key itself."""

    key_hash: str
    key_hint: str


def source_for(api_key: str, base_url: str) -> Source:
    digest = hashlib.sha256(f"{base_url.rstrip('/')}\n{api_key}".encode()).hexdigest()
    return Source(key_hash=digest, key_hint=mask_api_key(api_key))


def current_source(destination: str = PUBLISH) -> Source:
    """The source a destination's settings point at now (each key is its own source)."""
    return source_for(get_api_key(destination), conf.BASE_URL)


def get_state(source: Source, *, for_update: bool = False) -> SourceState:
    """The source's row, created on first use. ``for_update`` locks it (call in atomic())."""
    queryset = SourceState.objects.filter(key_hash=source.key_hash)
    if for_update:
        queryset = queryset.select_for_update()
    state = queryset.first()
    if state is not None:
        return state
    try:
        with transaction.atomic():
            SourceState.objects.create(key_hash=source.key_hash, key_hint=source.key_hint)
    except IntegrityError:
        pass  # another worker created it first
    return queryset.get()


# Before every request ----------------------------------------------------------------


class SendGate:
    """
    The client's ``before_request`` hook: raises ``SendingPaused`` while sending is paused
    and waits for a free rate-limit slot. ``check_pauses=False`` is for the breaker's probe,
    which must get through an open breaker.
    """

    def __init__(self, source: Source, *, check_pauses: bool = True) -> None:
        self.source = source
        self.check_pauses = check_pauses

    def __call__(self) -> None:
        rate = target_rate()
        if rate <= 0:
            if self.check_pauses:
                raise_if_paused(get_state(self.source))
            return
        interval = timedelta(seconds=1 / rate)
        for _attempt in range(MAX_SLOT_ATTEMPTS):
            slot = self._reserve(interval)
            wait = (slot - timezone.now()).total_seconds()
            if wait > 0:
                time.sleep(wait)
            # Send only within the slot's own interval. A worker that woke up late (a busy
            # machine) would bunch with the next slots' requests and break the limit, so
            # it takes a new slot instead; after a few late wake-ups it sends anyway.
            if timezone.now() - slot <= interval:
                return

    def _reserve(self, interval: timedelta) -> datetime:
        with transaction.atomic():
            state = get_state(self.source, for_update=True)
            if self.check_pauses:
                raise_if_paused(state)
            slot = max(state.next_request_at, timezone.now())
            SourceState.objects.filter(pk=state.pk).update(next_request_at=slot + interval)
        return slot


def target_rate() -> float:
    """Requests per second the limiter spaces requests for: ``RATE_LIMIT`` less its
    headroom (0: no limit)."""
    return conf.RATE_LIMIT * (1 - conf.RATE_LIMIT_HEADROOM)


def raise_if_paused(state: SourceState, now: datetime | None = None) -> None:
    now = now or timezone.now()
    if state.auth_error:
        raise SendingPaused(f"Sending is stopped: {state.auth_error}")
    if state.paused_until and state.paused_until > now:
        raise SendingPaused(
            f"Sending is paused until {stamp(state.paused_until)}: {state.pause_reason}",
            until=state.paused_until,
        )
    if state.breaker_trips and state.breaker_open_until and state.breaker_open_until > now:
        raise SendingPaused(
            f"The circuit breaker is open until {stamp(state.breaker_open_until)}",
            until=state.breaker_open_until,
        )


# Recording outcomes -------------------------------------------------------------------


def pause_for_rate_limit(source: Source, seconds: float, reason: str) -> datetime:
    """Stop every worker from sending for ``seconds`` (a longer pause already set stays)."""
    until = timezone.now() + timedelta(seconds=seconds)
    with transaction.atomic():
        state = get_state(source, for_update=True)
        if state.paused_until is None or state.paused_until < until:
            SourceState.objects.filter(pk=state.pk).update(
                paused_until=until,
                pause_reason=clip_error(reason, MAX_STATUS_ERROR_LENGTH),
                updated_at=now(),
            )
            logger.warning("Enterspeed rate limit: sending paused for %.1f s", seconds)
        else:
            until = state.paused_until
    return until


def record_auth_failure(source: Source, message: str) -> None:
    """
    Stop sending until the key works again: the configuration changes (a new key or URL
    is a new source), a probe finds it accepted again, or ``resume_sending()``. Logged
    once per stop, however many workers saw the refusal. Also for a key that cannot be
    sent at all (``InvalidAPIKey``): a configuration error, not a job's.
    """
    get_state(source)
    rows = SourceState.objects.filter(key_hash=source.key_hash)
    changes = {"auth_error": clip_error(message, MAX_STATUS_ERROR_LENGTH), "auth_failed_at": now()}
    if rows.filter(auth_error="").update(**changes, updated_at=now()):
        logger.error("Enterspeed sending is stopped: %s", message)
    else:
        rows.update(**changes, updated_at=now())


def record_transient_failure(source: Source, message: str) -> bool:
    """Count a transient failure; returns True when this one opened the breaker."""
    with transaction.atomic():
        state = get_state(source, for_update=True)
        failures = state.consecutive_failures + 1
        changes = {
            "consecutive_failures": failures,
            "last_error": clip_error(message, MAX_STATUS_ERROR_LENGTH),
            "updated_at": now(),
        }
        if state.consecutive_failures == 0 or state.failing_since is None:
            changes["failing_since"] = changes["updated_at"]
        opened = not state.breaker_trips and failures >= conf.BREAKER_THRESHOLD
        if opened:
            changes["breaker_trips"] = 1
            changes["breaker_open_until"] = now() + timedelta(seconds=cooldown(1))
        SourceState.objects.filter(pk=state.pk).update(**changes)
    if opened:
        logger.warning(
            "Enterspeed circuit breaker opened after %d failures in a row; last: %s",
            failures,
            message,
        )
    return opened


def record_success(source: Source) -> None:
    """
    A request went through: the failure run is over and the breaker closes. "Closed" is
    logged only when the breaker was open, not after every single failure.
    """
    rows = SourceState.objects.filter(key_hash=source.key_hash)
    reset = {"consecutive_failures": 0, "failing_since": None, "updated_at": now()}
    if rows.filter(breaker_trips__gt=0).update(**reset, breaker_trips=0, breaker_open_until=None):
        logger.info("Enterspeed answers again; the circuit breaker is closed")
    else:
        rows.filter(consecutive_failures__gt=0).update(**reset)


def clear_auth_stop(source: Source) -> None:
    """The key works again (a probe was accepted): sending resumes; logged once."""
    stopped = SourceState.objects.filter(key_hash=source.key_hash).exclude(auth_error="")
    if stopped.update(auth_error="", auth_failed_at=None, updated_at=now()):
        logger.info("Enterspeed accepts the API key again; sending resumes")


def cooldown(trips: int) -> float:
    """The breaker's cool-down after its ``trips``-th opening in a row: doubling, capped."""
    return min(conf.BREAKER_COOLDOWN_MAX, conf.BREAKER_COOLDOWN * 2 ** max(0, min(trips - 1, 30)))


def resume_sending(source: Source | None = None) -> None:
    """Clear every pause of the source (an operator fixed the cause)."""
    source = source or current_source()
    get_state(source)
    SourceState.objects.filter(key_hash=source.key_hash).update(
        paused_until=None,
        pause_reason="",
        consecutive_failures=0,
        failing_since=None,
        breaker_trips=0,
        breaker_open_until=None,
        auth_error="",
        auth_failed_at=None,
        updated_at=now(),
    )


# Before claiming ----------------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    """May this worker claim jobs now? If not: why, and until when."""

    open: bool
    reason: str = ""
    until: datetime | None = None
    #: The breaker's cool-down is over and this worker won the right to probe the API.
    probe: bool = False


def check_gate(source: Source) -> Gate:
    """Whether a worker may claim now; in the breaker's half-open state, whether it probes."""
    state = get_state(source)
    current = now()
    if state.auth_error:
        # The key may have been fixed on Enterspeed's side (access granted again): the next
        # task tests it, so sending resumes without waiting for anyone. One worker per
        # AUTH_PROBE_INTERVAL wins the test (a conditional update), so a burst of tasks
        # does not become a burst of refused requests.
        failed_at = state.auth_failed_at
        if failed_at is None or (current - failed_at).total_seconds() >= AUTH_PROBE_INTERVAL:
            won = SourceState.objects.filter(pk=state.pk, auth_failed_at=failed_at).update(
                auth_failed_at=current
            )
            if won:
                return Gate(False, "auth", probe=True)
        return Gate(False, "auth")
    if state.paused_until and state.paused_until > current:
        return Gate(False, "rate_limited", state.paused_until)
    if state.breaker_trips:
        if state.breaker_open_until and state.breaker_open_until > current:
            return Gate(False, "breaker_open", state.breaker_open_until)
        # Half-open: exactly one worker wins the probe (a conditional update); should it
        # die while probing, the next one probes after another cool-down.
        probe_until = current + timedelta(seconds=cooldown(state.breaker_trips))
        won = SourceState.objects.filter(
            pk=state.pk, breaker_open_until=state.breaker_open_until
        ).update(breaker_open_until=probe_until)
        if not won:
            return Gate(False, "breaker_open", probe_until)
        return Gate(True, probe=True)
    return Gate(True)


def probe(source: Source, client: EnterspeedClient) -> Gate:
    """
    Test the connection without sending content (a 422 on an empty entity means the API
    and the key work). After an authentication stop: resumes sending when the key is
    accepted, else stays stopped. For the breaker: closes it on success, else reopens it
    for longer.
    """
    for_auth = bool(get_state(source).auth_error)
    test_connection = getattr(client, "test_connection", None)
    if test_connection is None:  # a test double: let the next job be the probe
        if for_auth:
            return Gate(False, "auth")
        record_success(source)
        return Gate(True)
    # The probe must get through the breaker it probes for; it is still rate limited.
    previous = getattr(client, "before_request", None)
    client.before_request = SendGate(source, check_pauses=False) if previous else None
    try:
        result = test_connection()
    finally:
        client.before_request = previous
    if result.ok:
        clear_auth_stop(source)
        record_success(source)
        return Gate(True)
    if result.status in (401, 403):
        record_auth_failure(source, result.message)
        return Gate(False, "auth")
    if for_auth:  # not refused, but not reachable either: stay stopped, test again later
        return Gate(False, "auth")
    with transaction.atomic():
        state = get_state(source, for_update=True)
        trips = state.breaker_trips + 1
        until = now() + timedelta(seconds=cooldown(trips))
        SourceState.objects.filter(pk=state.pk).update(
            breaker_trips=trips,
            breaker_open_until=until,
            last_error=clip_error(result.message, MAX_STATUS_ERROR_LENGTH),
            updated_at=now(),
        )
    logger.warning("Enterspeed probe failed (%s); next probe at %s", result.message, until)
    return Gate(False, "breaker_open", until)


def now() -> datetime:
    return timezone.now()
