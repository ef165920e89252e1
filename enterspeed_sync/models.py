from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class EntityType(models.TextChoices):
    PAGE = "page", _("Page")
    IMAGE = "image", _("Image")
    DOCUMENT = "document", _("Document")
    SNIPPET = "snippet", _("Snippet")
    #: One entity per set of translated pages (``TRANSLATION_GROUPS``); id = translation key.
    TRANSLATION_GROUP = "translation_group", _("Translation group")
    CUSTOM = "custom", _("Custom")


class JobType(models.TextChoices):
    PUBLISH = "publish", _("Publish")
    DELETE = "delete", _("Delete")


class Destination(models.TextChoices):
    PUBLISH = "publish", _("Published source")
    PREVIEW = "preview", _("Preview source")


class JobPriority(models.IntegerChoices):
    """
    Who is waiting: a person's change is claimed before bulk work (docs/jobs.md, "Priority
    lanes"). Higher is sooner; a pending job keeps the highest priority coalesced into it.
    """

    BULK = 0, _("Bulk")
    PERSON = 10, _("Person")


class JobState(models.TextChoices):
    PENDING = "pending", _("Pending")
    PROCESSING = "processing", _("Processing")
    FAILED = "failed", _("Failed")


# The fields that identify "the same entity in the same source"; jobs coalesce on them.
ENTITY_KEY_FIELDS = ("entity_type", "entity_id", "locale", "destination")


class EnterspeedJobQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(state=JobState.PENDING)

    def processing(self):
        return self.filter(state=JobState.PROCESSING)

    def failed(self):
        return self.filter(state=JobState.FAILED)

    def for_entity(self, entity_type, entity_id, locale="", destination=Destination.PUBLISH):
        """Jobs of one entity in one source: an exact match on every key field."""
        return self.filter(
            entity_type=entity_type,
            entity_id=str(entity_id),
            locale=locale,
            destination=destination,
        )

    def due(self, now=None):
        """Pending jobs whose retry delay (if any) has passed."""
        return self.pending().filter(next_attempt_at__lte=now or timezone.now())

    def lease_expired(self, now=None):
        """Processing jobs whose worker stopped renewing the lease (it crashed or hung)."""
        return self.processing().filter(leased_until__lt=now or timezone.now())

    def stale(self, minutes: int):
        """Jobs claimed more than ``minutes`` ago and still processing."""
        cutoff = timezone.now() - timedelta(minutes=minutes)
        return self.processing().filter(claimed_at__lt=cutoff)


class EnterspeedJob(models.Model):
    """
    One instruction to bring an entity in Enterspeed up to date: publish it or delete it.

    A row lives until the instruction succeeds (the row is deleted) or fails (the row is
    kept as the one failed row of its entity, with the reason). There is at most one
    pending and at most one failed row per entity and destination.
    """

    entity_type = models.CharField(_("entity type"), max_length=50, choices=EntityType.choices)
    entity_id = models.CharField(_("entity id"), max_length=255)
    locale = models.CharField(_("locale"), max_length=20, blank=True, default="")
    destination = models.CharField(
        _("destination"), max_length=20, choices=Destination.choices, default=Destination.PUBLISH
    )
    job_type = models.CharField(_("job type"), max_length=20, choices=JobType.choices)
    state = models.CharField(
        _("state"), max_length=20, choices=JobState.choices, default=JobState.PENDING
    )
    origin_id = models.CharField(_("Enterspeed origin id"), max_length=255)
    content_type = models.ForeignKey(
        "contenttypes.ContentType",
        verbose_name=_("content type"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    #: Who is waiting for it: a person's change (publish, "Sync now", a retry) or bulk work.
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=JobPriority.choices, default=JobPriority.PERSON
    )
    error = models.TextField(_("error"), blank=True, default="")
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    #: HTTP status of the last failed attempt (None for network errors and local errors).
    last_status = models.PositiveSmallIntegerField(_("last HTTP status"), null=True, blank=True)
    #: A pending job is not claimed before this time (retry backoff, rate-limit pause).
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    lease_token = models.UUIDField(_("lease token"), null=True, blank=True, editable=False)
    #: The claiming worker renews this while it works; once it passes, the job is reclaimed.
    leased_until = models.DateTimeField(_("leased until"), null=True, blank=True, editable=False)
    #: host:pid of the claiming worker, for people reading the table.
    locked_by = models.CharField(_("locked by"), max_length=255, blank=True, default="")
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now, editable=False)
    #: The seed that queued this job (its task name), so processing counts its outcome
    #: against that seed (``SeedTally``); empty for an editor's change.
    seed = models.CharField(_("seed"), max_length=100, blank=True, default="", editable=False)

    objects = EnterspeedJobQuerySet.as_manager()

    class Meta:
        verbose_name = _("Enterspeed job")
        verbose_name_plural = _("Enterspeed jobs")
        # The admin area (docs/admin.md): viewing it is Django's "view" permission.
        permissions = [
            ("seed_enterspeedjob", _("Can seed Enterspeed")),
            ("manage_enterspeedjob", _("Can retry and delete Enterspeed jobs")),
        ]
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=ENTITY_KEY_FIELDS,
                condition=Q(state=JobState.PENDING),
                name="enterspeed_sync_one_pending_job_per_entity",
            ),
            models.UniqueConstraint(
                fields=ENTITY_KEY_FIELDS,
                condition=Q(state=JobState.FAILED),
                name="enterspeed_sync_one_failed_job_per_entity",
            ),
        ]
        indexes = [
            # Claiming: the oldest pending jobs first; counting per state.
            models.Index(fields=["state", "created_at"], name="enterspeed_state_created"),
            # Claiming by lane: the highest priority first, the oldest within it.
            models.Index(
                fields=["state", "-priority", "created_at"], name="enterspeed_state_priority"
            ),
            # Finding due retries and expired leases.
            models.Index(fields=["state", "next_attempt_at"], name="enterspeed_state_next"),
            # Coalescing and "is this entity being processed?" look-ups.
            models.Index(fields=[*ENTITY_KEY_FIELDS, "state"], name="enterspeed_entity_state"),
        ]

    def __str__(self) -> str:
        return f"{self.get_job_type_display()} {self.origin_id} ({self.get_state_display()})"

    @property
    def entity_key(self) -> tuple[str, str, str, str]:
        return (self.entity_type, self.entity_id, self.locale, self.destination)


class SourceState(models.Model):
    """
    Shared sending state of one Enterspeed source (one API key and base URL), one row each:
    the rate limiter's next free request slot, a rate-limit pause, the circuit breaker and
    an authentication failure. Every worker on every machine reads and updates the same
    row, so they act as one client towards Enterspeed. The API key itself is not stored.
    """

    key_hash = models.CharField(_("key hash"), max_length=64, unique=True, editable=False)
    key_hint = models.CharField(_("key"), max_length=40, blank=True, default="")
    #: The rate limiter hands out request slots from here on, 1/rate apart.
    next_request_at = models.DateTimeField(_("next request slot"), default=timezone.now)
    #: Set from a 429's Retry-After: nobody sends before then.
    paused_until = models.DateTimeField(_("paused until"), null=True, blank=True)
    pause_reason = models.TextField(_("pause reason"), blank=True, default="")
    consecutive_failures = models.PositiveIntegerField(_("consecutive failures"), default=0)
    #: When the current run of failures began (the first of ``consecutive_failures``).
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True)
    #: The circuit breaker is open until then; after that one worker probes the API.
    breaker_open_until = models.DateTimeField(_("breaker open until"), null=True, blank=True)
    #: How often in a row the breaker opened (its cool-down doubles each time); 0 = closed.
    breaker_trips = models.PositiveIntegerField(_("breaker trips"), default=0)
    last_error = models.TextField(_("last error"), blank=True, default="")
    #: Enterspeed refused the key (401/403): nothing is sent until the key or URL changes.
    auth_error = models.TextField(_("authentication error"), blank=True, default="")
    auth_failed_at = models.DateTimeField(_("authentication failed at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("Enterspeed source state")
        verbose_name_plural = _("Enterspeed source states")

    def __str__(self) -> str:
        return self.key_hint or self.key_hash[:12]


class SyncCounter(models.Model):
    """
    What processing did in one minute for one destination, for the dashboard's charts:
    entities sent, unchanged (skipped by the ledger), retried and failed, plus the jobs
    waiting in the queue after the minute's last batch. One row per minute, incremented
    by each batch (``processing.counters``); rows older than ``KEEP_COUNTERS`` go.
    """

    destination = models.CharField(
        _("destination"), max_length=20, choices=Destination.choices, default=Destination.PUBLISH
    )
    minute = models.DateTimeField(_("minute"))
    sent = models.PositiveIntegerField(_("sent"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    retried = models.PositiveIntegerField(_("retried"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    #: Jobs pending after the minute's last batch (a level, not a sum).
    queued = models.PositiveIntegerField(_("queued"), default=0)

    class Meta:
        verbose_name = _("Enterspeed sync counter")
        verbose_name_plural = _("Enterspeed sync counters")
        constraints = [
            models.UniqueConstraint(
                fields=["minute", "destination"], name="enterspeed_counter_minute"
            )
        ]

    def __str__(self) -> str:
        return f"{self.destination} {self.minute:%Y-%m-%d %H:%M}"


class DeliveryTotal(models.Model):
    """
    A running total since the install, for the metrics endpoint: jobs sent, unchanged,
    retried and failed (by reason), requests answered 429, and the request latency
    histogram's buckets, sum and count. Unlike ``SyncCounter`` it only grows, as
    Prometheus counters must. Each batch adds to its rows in one statement
    (``processing.totals``).
    """

    destination = models.CharField(
        _("destination"), max_length=20, choices=Destination.choices, default=Destination.PUBLISH
    )
    #: The metric's name without the ``enterspeed_sync_`` prefix.
    name = models.CharField(_("name"), max_length=60)
    #: The metric's labels besides the destination, in exposition form (``reason="http_422"``).
    labels = models.CharField(_("labels"), max_length=200, blank=True, default="")
    value = models.FloatField(_("value"), default=0.0)

    class Meta:
        verbose_name = _("Enterspeed delivery total")
        verbose_name_plural = _("Enterspeed delivery totals")
        constraints = [
            models.UniqueConstraint(
                fields=["destination", "name", "labels"], name="enterspeed_one_delivery_total"
            )
        ]

    def __str__(self) -> str:
        return f"{self.destination} {self.name}{{{self.labels}}} {self.value:g}"


class LedgerEntry(models.Model):
    """
    What Enterspeed last accepted for one entity of one source: the hash of the payload
    sent (empty after a delete). Lets the sync skip re-sending unchanged entities and lets
    ``enterspeed_verify`` find drift between the site and Enterspeed.
    """

    key_hash = models.CharField(_("source key hash"), max_length=64, editable=False)
    origin_id = models.CharField(_("Enterspeed origin id"), max_length=255)
    entity_type = models.CharField(_("entity type"), max_length=50, blank=True, default="")
    entity_id = models.CharField(_("entity id"), max_length=255, blank=True, default="")
    locale = models.CharField(_("locale"), max_length=20, blank=True, default="")
    destination = models.CharField(
        _("destination"), max_length=20, choices=Destination.choices, default=Destination.PUBLISH
    )
    #: sha256 of the canonical JSON sent; "" when the last successful call was a delete.
    payload_hash = models.CharField(_("payload hash"), max_length=64, blank=True, default="")
    sent_at = models.DateTimeField(_("sent at"), default=timezone.now)

    class Meta:
        verbose_name = _("Enterspeed ledger entry")
        verbose_name_plural = _("Enterspeed ledger entries")
        constraints = [
            models.UniqueConstraint(
                fields=["key_hash", "origin_id"], name="enterspeed_sync_one_ledger_entry"
            )
        ]
        indexes = [
            # "When did Enterspeed last accept anything?" (the health endpoint) reads the
            # newest entry of a source from this index instead of scanning the ledger.
            models.Index(fields=["key_hash", "sent_at"], name="enterspeed_ledger_sent"),
        ]

    def __str__(self) -> str:
        return f"{self.origin_id}: {self.payload_hash[:12] or 'deleted'}"

    @property
    def is_present(self) -> bool:
        return bool(self.payload_hash)


class APITokenQuerySet(models.QuerySet):
    def active(self, now=None):
        """Tokens that authenticate: not revoked and not expired."""
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )


class APIToken(models.Model):
    """
    A bearer token for the operations API (docs/api.md). It acts as its user, with that
    user's permissions. Only a hash of the token is stored: the token itself is shown once,
    when it is created (``manage.py enterspeed_api_token create``).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="enterspeed_api_tokens",
    )
    name = models.CharField(_("name"), max_length=100, blank=True, default="")
    #: The token's visible start ("esync_<prefix>_…"), to tell tokens apart in listings.
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    #: sha256 of the whole token, hex.
    key_hash = models.CharField(_("key hash"), max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    #: Updated at most once a minute (see enterspeed_sync.api.tokens), not on every request.
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    objects = APITokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("Enterspeed API token")
        verbose_name_plural = _("Enterspeed API tokens")
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"esync_{self.prefix}_… ({self.name or self.user})"

    def is_active(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class PostSyncHookStatus(models.Model):
    """
    How the calls of one post-sync hook (``POST_SYNC_HOOKS``) went, one row per hook: the
    admin dashboard shows the hooks whose last call failed. The URL is kept masked, as
    build-hook URLs carry their secret in the path.
    """

    key_hash = models.CharField(_("hook hash"), max_length=64, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=255, blank=True, default="")
    #: Scheme and host of the hook's URL; the path may be a secret.
    url_hint = models.CharField(_("URL"), max_length=255, blank=True, default="")
    last_called_at = models.DateTimeField(_("last called at"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last success at"), null=True, blank=True)
    last_failure_at = models.DateTimeField(_("last failure at"), null=True, blank=True)
    #: Calls in a row that failed after every attempt; 0 once a call succeeds.
    consecutive_failures = models.PositiveIntegerField(_("failures in a row"), default=0)
    #: Every call that failed after every attempt, ever.
    total_failures = models.PositiveIntegerField(_("failures"), default=0)
    last_status = models.PositiveSmallIntegerField(_("last HTTP status"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True, default="")

    class Meta:
        verbose_name = _("Enterspeed post-sync hook status")
        verbose_name_plural = _("Enterspeed post-sync hook statuses")
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name or self.url_hint

    @property
    def is_failing(self) -> bool:
        return self.consecutive_failures > 0


class SeedTally(models.Model):
    """
    What became of one seed's jobs of one entity type: how many the seed queued, and, as
    processing resolves each, how many were sent, skipped as unchanged (the ledger) or
    failed. The dashboard's "Recent seeds" shows it.
    """

    seed = models.CharField(_("seed"), max_length=100, editable=False)
    entity_type = models.CharField(_("entity type"), max_length=50, choices=EntityType.choices)
    queued = models.PositiveIntegerField(_("queued"), default=0)
    sent = models.PositiveIntegerField(_("sent"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("Enterspeed seed tally")
        verbose_name_plural = _("Enterspeed seed tallies")
        constraints = [
            models.UniqueConstraint(fields=["seed", "entity_type"], name="enterspeed_seed_tally")
        ]

    def __str__(self) -> str:
        return f"{self.seed} {self.entity_type}"
