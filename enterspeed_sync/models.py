from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class EntityType(models.TextChoices):
    PAGE = "page", _("Page")
    IMAGE = "image", _("Image")
    DOCUMENT = "document", _("Document")
    SNIPPET = "snippet", _("Snippet")
    CUSTOM = "custom", _("Custom")


class JobType(models.TextChoices):
    PUBLISH = "publish", _("Publish")
    DELETE = "delete", _("Delete")


class Destination(models.TextChoices):
    PUBLISH = "publish", _("Published source")
    PREVIEW = "preview", _("Preview source")


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
    error = models.TextField(_("error"), blank=True, default="")
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    lease_token = models.UUIDField(_("lease token"), null=True, blank=True, editable=False)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now, editable=False)

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
            # Coalescing and "is this entity being processed?" look-ups.
            models.Index(fields=[*ENTITY_KEY_FIELDS, "state"], name="enterspeed_entity_state"),
        ]

    def __str__(self) -> str:
        return f"{self.get_job_type_display()} {self.origin_id} ({self.get_state_display()})"

    @property
    def entity_key(self) -> tuple[str, str, str, str]:
        return (self.entity_type, self.entity_id, self.locale, self.destination)
