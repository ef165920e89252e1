"""
What the operations API accepts and returns, as pydantic models: the OpenAPI document is
generated from them, and requests are validated by them. Query filters and the seed body
refuse names they do not know, so a misspelt filter never widens a bulk delete.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated, ClassVar, Literal

from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from ninja import Path, Schema
from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from enterspeed_sync.capture.seed_scope import FIELD_CHECKS, SeedScope, validate_seed_scope
from enterspeed_sync.capture.seeding import SEED_KINDS
from enterspeed_sync.models import Destination, EntityType, JobPriority, JobState, JobType

#: The largest id a 64-bit integer column holds; larger numbers name nothing.
MAX_ID = 2**63 - 1
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
ORDERINGS = ("created_at", "-created_at", "updated_at", "-updated_at", "id", "-id")
#: Strings a text filter accepts: the database refuses NUL characters.
TEXT = "^[^\\x00]*$"
#: A job's priority as the API names it: its claim lane (docs/jobs.md, "Priority lanes").
PriorityName = Literal["person", "bulk"]
PRIORITY_LOOKUPS = {
    "person": {"priority__gt": JobPriority.BULK},
    "bulk": {"priority__lte": JobPriority.BULK},
}

Instant = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
SeedKind = Literal[SEED_KINDS]
#: A job's id: a positive 64-bit integer (larger numbers name nothing).
JobId = Annotated[int, Path(ge=1, le=MAX_ID)]
#: A seed's id: the hex part of its django-q2 task name.
SeedId = Annotated[str, Path(pattern="^[0-9a-f]{32}$")]


def invalid(message: str) -> PydanticCustomError:
    return PydanticCustomError("invalid", message)  # type: ignore[arg-type]


# Queries --------------------------------------------------------------------------------


def parse_instant(value):
    """An RFC 3339 date-time, or a date (its midnight in the current time zone), as UTC."""
    message = "Enter an ISO 8601 date-time (2026-01-31T12:00:00Z) or a date (2026-01-31)."
    # RFC 3339 allows a lower-case "t" and "z"; Python's parser wants upper case.
    value = str(value).strip().upper()
    try:
        parsed = parse_datetime(value)
        if parsed is None and (day := parse_date(value)) is not None:
            parsed = datetime.combine(day, time.min)
    except ValueError:
        parsed = None
    if parsed is None:
        raise invalid(message)
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    try:
        # The database compares in UTC; an instant near year 1 or 9999 may not exist there.
        return parsed.astimezone(UTC)
    except OverflowError:
        raise invalid(message) from None


InstantFilter = Annotated[
    datetime,
    BeforeValidator(parse_instant),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
#: Text as a Django form field takes it: stripped, and without NUL characters (which the
#: database refuses).
Text = Annotated[
    str,
    StringConstraints(pattern=TEXT, strip_whitespace=True),
]


class JobFilters(Schema):
    """The filters shared by the job list and "retry/delete all failed"."""

    model_config = ConfigDict(extra="forbid")
    #: Parameters whose empty value is a real value (e.g. "jobs without a locale").
    empty_allowed: ClassVar[frozenset[str]] = frozenset({"locale", "origin_id"})

    job_type: Literal[tuple(JobType.values)] | None = Field(None, description="publish or delete.")
    entity_type: Literal[tuple(EntityType.values)] | None = Field(None, description="Entity kind.")
    destination: Literal[tuple(Destination.values)] | None = Field(None, description="Source.")
    priority: PriorityName | None = Field(None, description="A person's change, or bulk work.")
    locale: Text | None = Field(
        None,
        max_length=20,
        description="Locale, case-insensitive; empty: jobs without a locale.",
    )
    origin_id: Text | None = Field(
        None,
        max_length=255,
        description="Part of the origin id (case-insensitive search).",
    )
    created_after: InstantFilter | None = Field(
        None, description="Created at or after this time (a date means its midnight)."
    )
    created_before: InstantFilter | None = Field(
        None, description="Created before this time (a date means its midnight)."
    )

    @field_validator("*", mode="before")
    @classmethod
    def refuse_empty(cls, value, info):
        if value == "" and info.field_name not in cls.empty_allowed:
            raise PydanticCustomError("empty", "Give a value, or leave the parameter out.")
        return value

    def filter(self, queryset):
        for name in ("job_type", "entity_type", "destination"):
            if value := getattr(self, name):
                queryset = queryset.filter(**{name: value})
        if self.priority:
            queryset = queryset.filter(**PRIORITY_LOOKUPS[self.priority])
        # "" is a real locale value (entities without one), so only a given one filters.
        if self.locale is not None:
            queryset = queryset.filter(locale__iexact=self.locale)
        if self.origin_id:
            queryset = queryset.filter(origin_id__icontains=self.origin_id)
        if self.created_after:
            queryset = queryset.filter(created_at__gte=self.created_after)
        if self.created_before:
            queryset = queryset.filter(created_at__lt=self.created_before)
        return queryset


class JobListQuery(JobFilters):
    state: Literal[tuple(JobState.values)] | None = Field(None, description="Only this state.")
    ordering: Literal[ORDERINGS] = "-updated_at"
    page: int = Field(1, ge=1)
    page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)


# Seeding --------------------------------------------------------------------------------


class SeedRequest(Schema):
    """A seed's scope. Every key is optional: the default seeds everything."""

    model_config = ConfigDict(extra="forbid")

    kinds: list[SeedKind] | None = Field(
        None,
        min_length=1,
        description="What to seed; default: the kinds the scope narrows (pages with root "
        "pages, images and documents with collections, snippets with snippet models), or "
        "every kind.",
    )
    root_page: StrictInt | None = Field(
        None,
        ge=1,
        le=MAX_ID,
        description="Only this page (and its descendants); default: every page.",
    )
    root_pages: list[Annotated[StrictInt, Field(ge=1, le=MAX_ID)]] | None = Field(
        None,
        max_length=100,
        description="Several page subtrees (with root_page, if given).",
    )
    descendants: StrictBool = True
    locales: list[str] | None = Field(
        None, description="Only pages and translatable snippets in these locales."
    )
    collections: list[Annotated[StrictInt, Field(ge=1, le=MAX_ID)]] | None = Field(
        None,
        max_length=100,
        description="Only images and documents in these collections (ids).",
    )
    snippet_models: list[str] | None = Field(
        None,
        max_length=100,
        description="Only snippets of these synced models (labels such as 'blog.author').",
    )
    force: StrictBool = Field(
        False, description="Send entities Enterspeed already has unchanged, too."
    )
    destination: Literal[tuple(Destination.values)] = Field(
        Destination.PUBLISH.value,
        description="The Enterspeed source: published content, or drafts (needs PREVIEW_API_KEY).",
    )

    @field_validator(*FIELD_CHECKS)
    @classmethod
    def check_field(cls, value, info):
        # The rules are capture.seed_scope's; run here per field, so a body's type errors
        # and its unknown pages, locales... are reported together.
        if value is not None:
            try:
                FIELD_CHECKS[info.field_name](value)
            except ValueError as exc:
                raise invalid(str(exc)) from None
        return value

    def to_scope(self) -> SeedScope:
        """The seed's scope, checked (SeedScopeError) and its kinds filled in."""
        return validate_seed_scope(
            SeedScope(
                kinds=list(self.kinds or []),
                root_page=self.root_page,
                root_pages=sorted(set(self.root_pages or [])),
                descendants=self.descendants,
                locales=sorted(set(self.locales or [])),
                collections=sorted(set(self.collections or [])),
                snippet_models=list(self.snippet_models or []),
                force=self.force,
                destination=str(self.destination),
            )
        )


class SeedScopeOut(Schema):
    kinds: list[SeedKind]
    root_page: int | None
    root_pages: list[int]
    descendants: bool
    locales: list[str]
    collections: list[int]
    snippet_models: list[str]
    force: bool
    destination: Destination


class SeedStarted(Schema):
    id: str
    url: str = Field(description="Where to follow the seed.")
    scope: SeedScopeOut


class Seed(Schema):
    id: str
    state: Literal["queued", "succeeded", "failed"]
    scope: dict
    counts: dict[str, int] | None = Field(
        description="Jobs queued per kind, once the seed task succeeded."
    )
    error: str | None


# Jobs -----------------------------------------------------------------------------------

JOB_FIELDS = (
    "id",
    "origin_id",
    "entity_type",
    "entity_id",
    "locale",
    "destination",
    "job_type",
    "state",
    "priority",
    "attempts",
    "error",
    "last_status",
    "next_attempt_at",
    "claimed_at",
    "leased_until",
    "locked_by",
    "created_at",
    "updated_at",
)


def isoformat(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def serialize_job(job) -> dict:
    """A job as the API shows it (the lease token stays private)."""
    data = {}
    for name in JOB_FIELDS:
        value = job.pk if name == "id" else getattr(job, name)
        data[name] = isoformat(value) if isinstance(value, datetime) else value
    data["priority"] = "person" if job.priority > JobPriority.BULK else "bulk"
    data["url"] = reverse("enterspeed_sync_api:job", args=[job.pk])
    data["admin_url"] = reverse("enterspeed_sync:job", args=[job.pk])
    return data


class Job(Schema):
    id: int = Field(ge=1)
    origin_id: str = Field(description="The entity's id in Enterspeed.")
    entity_type: EntityType
    entity_id: str
    locale: str
    destination: Destination
    job_type: JobType
    state: JobState
    priority: PriorityName = Field(description="A person's change, or bulk work.")
    attempts: int = Field(ge=0)
    error: str
    last_status: int | None
    next_attempt_at: Instant
    claimed_at: Instant | None
    leased_until: Instant | None
    locked_by: str
    created_at: Instant
    updated_at: Instant
    url: str = Field(description="This job in the API.")
    admin_url: str = Field(description="This job in the Wagtail admin.")


class StateCounts(Schema):
    pending: int = Field(ge=0)
    processing: int = Field(ge=0)
    failed: int = Field(ge=0)


class JobList(Schema):
    count: int = Field(ge=0, description="Jobs matching.")
    page: int = Field(ge=1)
    page_size: int = Field(ge=1)
    num_pages: int = Field(ge=1)
    next: str | None
    previous: str | None
    counts: StateCounts = Field(description="Jobs per state matching every filter except `state`.")
    results: list[Job]


class Deleted(Schema):
    deleted: int = Field(ge=0)


class Retried(Schema):
    retried: bool
    job: Job | None = Field(description="The pending job that will be sent.")


class SentNow(Schema):
    moved: int = Field(ge=0, le=1)
    job: Job


class BulkSentNow(Schema):
    moved: int = Field(ge=0, description="Waiting jobs moved to now.")


class BulkRetried(Schema):
    matched: int = Field(ge=0)
    queued: int | None = Field(ge=0, description="None when background tasks retry them.")
    background: bool


# Health and errors ----------------------------------------------------------------------

HealthState = Literal[
    "ok",
    "auth_failed",
    "breaker_open",
    "unreachable",
    "no_api_key",
    "disabled",
    "stuck",
    "no_cluster",
    "stalled",
    "rate_limited",
]


class HealthCluster(Schema):
    cluster_id: str
    host: str
    pid: int
    status: str = Field(description="django-q2's word: Starting, Working, Idle.")
    workers: int = Field(ge=0)
    started_at: Instant | None
    last_beat_at: Instant = Field(description="When its sentinel last saved its statistic.")


class HealthClusters(Schema):
    needed: bool = Field(description="False when tasks run inline (Q_CLUSTER['sync']).")
    visible: bool = Field(
        description="False when django-q2 keeps its statistics in a per-process cache "
        "(check enterspeed_sync.W030): then no cluster can be seen."
    )
    live: list[HealthCluster]


class Health(Schema):
    status: Literal["ok", "degraded", "failing"] = Field(
        description="failing (HTTP 503) when nothing reaches Enterspeed; degraded when "
        "any other reason applies."
    )
    http_status: Literal[200, 503]
    reasons: list[Literal[HealthState, "failed_jobs"]]
    state: HealthState
    message: str
    pending: int = Field(ge=0, description="Queue depth.")
    due: int = Field(ge=0, description="Pending and due now.")
    processing: int = Field(ge=0)
    failed: int = Field(ge=0)
    oldest_pending_age_seconds: float | None = Field(ge=0)
    last_successful_ingest_at: Instant | None
    sending_paused: bool
    paused_until: Instant | None
    last_error: str
    enabled: bool
    clusters: HealthClusters
    checked_at: Instant


class Error(Schema):
    error: str = Field(description="A code: invalid, not_found, …")
    message: str = Field(description="What went wrong, for people.")
    fields: dict[str, list[str]] = Field(
        None, description="Per field (or non_field_errors): what is wrong with it."
    )
