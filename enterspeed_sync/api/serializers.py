"""Jobs as the operations API shows them (the lease token stays private)."""

from __future__ import annotations

from datetime import datetime

from django.urls import reverse

from enterspeed_sync.models import EnterspeedJob, JobState

JOB_FIELDS = (
    "id",
    "origin_id",
    "entity_type",
    "entity_id",
    "locale",
    "destination",
    "job_type",
    "state",
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

STATES = tuple(JobState.values)


def isoformat(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def serialize_job(job: EnterspeedJob) -> dict:
    data = {}
    for name in JOB_FIELDS:
        value = job.pk if name == "id" else getattr(job, name)
        data[name] = isoformat(value) if isinstance(value, datetime) else value
    data["url"] = reverse("enterspeed_sync_api:job", args=[job.pk])
    data["admin_url"] = reverse("enterspeed_sync:job", args=[job.pk])
    return data
