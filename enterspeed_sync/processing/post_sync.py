"""
What happens after Enterspeed accepted changes:

- ``announce_synced``: the ``entity_synced`` signal, once per accepted save or delete;
- ``after_processing``: the post-sync hooks (``POST_SYNC_HOOKS``), URLs called once after a
  processing run that changed something, e.g. a static site's build hook. They run as a
  django-q2 task of their own, so a slow or failing hook never holds up or fails a job;
  each call is retried, and how the last one went is kept in ``PostSyncHookStatus`` for
  the admin dashboard.

Processing calls each of the two with one line.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django_q.tasks import async_task

from enterspeed_sync import __version__
from enterspeed_sync.conf import PREVIEW, PUBLISH, conf
from enterspeed_sync.exceptions import MAX_STATUS_ERROR_LENGTH, clip_error
from enterspeed_sync.models import EnterspeedJob, PostSyncHookStatus
from enterspeed_sync.signals import entity_synced

logger = logging.getLogger(__name__)

HOOK_TASK = "enterspeed_sync.processing.post_sync.call_post_sync_hooks"
HOOK_METHODS = ("POST", "PUT", "GET", "PATCH")
#: Keys of one POST_SYNC_HOOKS entry, and their defaults (``url`` is required).
HOOK_DEFAULTS: dict[str, Any] = {
    "url": "",
    "name": "",
    "method": "POST",
    "headers": {},
    # JSON body; None sends {"event": "enterspeed_sync.synced", "destinations": [...]}.
    "body": None,
    "timeout": 10.0,
    "attempts": 3,
    # Seconds before the second attempt; doubles after each further failure.
    "retry_delay": 2.0,
    # The destinations whose changes call the hook: a site build wants published changes.
    "destinations": [PUBLISH],
}


# The signal ------------------------------------------------------------------------------


def announce_synced(job: EnterspeedJob, sent: Iterable[tuple[str, str]]) -> None:
    """Send ``entity_synced`` for each request of ``job`` Enterspeed accepted. Never raises."""
    for origin_id, action in sent:
        responses = entity_synced.send_robust(
            sender=EnterspeedJob,
            origin_id=origin_id,
            action=action,
            destination=job.destination,
            job=job,
        )
        for receiver, response in responses:
            if isinstance(response, Exception):
                logger.error(
                    "An entity_synced receiver (%s) raised for %s (job %s): %s",
                    getattr(receiver, "__qualname__", receiver),
                    origin_id,
                    job.pk,
                    response,
                    exc_info=response,
                )


# Hooks -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hook:
    url: str
    name: str
    method: str
    headers: dict[str, str]
    body: Any
    timeout: float
    attempts: int
    retry_delay: float
    destinations: tuple[str, ...]

    @property
    def key_hash(self) -> str:
        return hashlib.sha256(f"{self.method} {self.url}".encode()).hexdigest()

    @property
    def url_hint(self) -> str:
        return mask_url(self.url)

    @property
    def label(self) -> str:
        return self.name or self.url_hint


def mask_url(url: str) -> str:
    """Scheme and host only: a build hook's path or query is its secret."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return "(invalid URL)"
    rest = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{rest}"


def hook_problems(entry: Any) -> list[str]:
    """What is wrong with one ``POST_SYNC_HOOKS`` entry (the system check reports these)."""
    if not isinstance(entry, dict):
        return [f"should be a dict with at least a 'url', not {entry!r}"]
    problems = []
    if unknown := sorted(set(entry) - set(HOOK_DEFAULTS)):
        problems.append(f"has unknown keys {', '.join(map(repr, unknown))}")
    url = entry.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append("needs a 'url' that is an http(s) URL with a host")
    method = entry.get("method", "POST")
    if not isinstance(method, str) or method.upper() not in HOOK_METHODS:
        problems.append(f"has 'method' {method!r}; use one of {', '.join(HOOK_METHODS)}")
    headers = entry.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        problems.append("needs 'headers' to be a dict of strings")
    # (key, smallest allowed value, whether it must be whole)
    for key, minimum, whole in (("timeout", 0.001, False), ("attempts", 1, True)):
        value = entry.get(key, HOOK_DEFAULTS[key])
        if not _is_number(value) or value < minimum or (whole and not isinstance(value, int)):
            kind = "a whole number of at least 1" if whole else "a positive number"
            problems.append(f"has {key!r} {value!r}; use {kind}")
    retry_delay = entry.get("retry_delay", HOOK_DEFAULTS["retry_delay"])
    if not _is_number(retry_delay) or retry_delay < 0:
        problems.append(f"has 'retry_delay' {retry_delay!r}; use a number of seconds >= 0")
    destinations = entry.get("destinations", HOOK_DEFAULTS["destinations"])
    if not isinstance(destinations, list | tuple) or not set(destinations) <= {PUBLISH, PREVIEW}:
        problems.append(f"has 'destinations' {destinations!r}; use a list of 'publish'/'preview'")
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def get_hooks() -> list[Hook]:
    """The valid ``POST_SYNC_HOOKS`` entries; invalid ones are logged and left out."""
    hooks = []
    for index, entry in enumerate(conf.POST_SYNC_HOOKS):
        if problems := hook_problems(entry):
            logger.error(
                "ENTERSPEED_SYNC['POST_SYNC_HOOKS'][%d] is not called: it %s.",
                index,
                "; it ".join(problems),
            )
            continue
        values = {**HOOK_DEFAULTS, **entry}
        hooks.append(
            Hook(
                url=values["url"],
                name=str(values["name"] or ""),
                method=values["method"].upper(),
                headers=dict(values["headers"]),
                body=values["body"],
                timeout=float(values["timeout"]),
                attempts=int(values["attempts"]),
                retry_delay=float(values["retry_delay"]),
                destinations=tuple(values["destinations"]),
            )
        )
    return hooks


def after_processing(changed_destinations: Iterable[str]) -> bool:
    """
    Queue one task that calls the hooks of ``changed_destinations`` (nothing when nothing
    changed, or no hook wants these destinations). Never raises. Returns whether queued.
    """
    changed = sorted(set(changed_destinations))
    try:
        if not changed or not any(set(hook.destinations) & set(changed) for hook in get_hooks()):
            return False
        async_task(
            HOOK_TASK,
            changed,
            task_name="enterspeed_sync.post_sync_hooks",
            group="enterspeed_sync",
            # The task retries each hook itself and records the outcome.
            ack_failure=True,
        )
        return True
    except Exception:
        logger.exception("Could not queue the Enterspeed post-sync hooks for %s", changed)
        return False


def call_post_sync_hooks(destinations: list[str]) -> dict[str, bool]:
    """The django-q2 task: call every hook that wants one of ``destinations``."""
    outcome = {}
    for hook in get_hooks():
        if set(hook.destinations) & set(destinations):
            outcome[hook.label] = call_hook(hook, destinations)
    return outcome


def call_hook(hook: Hook, destinations: list[str]) -> bool:
    """Call one hook, retrying failures; record how it went. Returns whether it succeeded."""
    body = hook.body
    if body is None:
        body = {"event": "enterspeed_sync.synced", "destinations": sorted(destinations)}
    headers = {"User-Agent": f"enterspeed-sync/{__version__}", **hook.headers}
    delay = hook.retry_delay
    status, error = None, ""
    for attempt in range(1, hook.attempts + 1):
        status, error = _send(hook, headers, body)
        if not error:
            record_hook_success(hook)
            if attempt > 1:
                logger.info("Post-sync hook %s succeeded on attempt %d", hook.label, attempt)
            return True
        logger.warning(
            "Post-sync hook %s failed (attempt %d of %d): %s",
            hook.label,
            attempt,
            hook.attempts,
            error,
        )
        if attempt < hook.attempts:
            time.sleep(delay)
            delay *= 2
    record_hook_failure(hook, f"Failed after {hook.attempts} attempts. Last error: {error}", status)
    return False


def _send(hook: Hook, headers: dict[str, str], body: Any) -> tuple[int | None, str]:
    """One request: (HTTP status or None, "" on success or the reason it failed)."""
    try:
        response = requests.request(
            hook.method,
            hook.url,
            headers=headers,
            json=None if hook.method == "GET" else body,
            timeout=hook.timeout,
        )
    except requests.RequestException as e:
        return None, f"Could not reach the hook: {type(e).__name__}: {e}"
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    text = response.text[:300].strip()
    return response.status_code, f"HTTP {response.status_code}" + (f": {text}" if text else "")


# Recording -----------------------------------------------------------------------------


def get_hook_status(hook: Hook) -> PostSyncHookStatus:
    defaults = {"name": hook.name[:255], "url_hint": hook.url_hint[:255]}
    try:
        with transaction.atomic():
            status, _ = PostSyncHookStatus.objects.get_or_create(
                key_hash=hook.key_hash, defaults=defaults
            )
    except IntegrityError:  # another worker created it first
        status = PostSyncHookStatus.objects.get(key_hash=hook.key_hash)
    return status


def record_hook_success(hook: Hook) -> None:
    now = timezone.now()
    get_hook_status(hook)
    PostSyncHookStatus.objects.filter(key_hash=hook.key_hash).update(
        name=hook.name[:255],
        url_hint=hook.url_hint[:255],
        last_called_at=now,
        last_success_at=now,
        consecutive_failures=0,
        last_status=None,
        last_error="",
    )


def record_hook_failure(hook: Hook, error: str, status: int | None) -> None:
    now = timezone.now()
    get_hook_status(hook)
    PostSyncHookStatus.objects.filter(key_hash=hook.key_hash).update(
        name=hook.name[:255],
        url_hint=hook.url_hint[:255],
        last_called_at=now,
        last_failure_at=now,
        consecutive_failures=F("consecutive_failures") + 1,
        total_failures=F("total_failures") + 1,
        last_status=status,
        last_error=clip_error(error, MAX_STATUS_ERROR_LENGTH),
    )
    logger.error("Post-sync hook %s failed: %s", hook.label, error)
