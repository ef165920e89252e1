"""The django-q2 schedules that keep the queue moving when no commit kicks it."""

from __future__ import annotations

from django.db import transaction

#: name → (function, minutes between runs)
SCHEDULES = {
    "enterspeed_sync.process_pending_jobs": ("enterspeed_sync.tasks.process_pending_jobs", 1),
    "enterspeed_sync.fail_stale_jobs": ("enterspeed_sync.tasks.fail_stale_jobs", 5),
}


def ensure_schedules(using: str = "default") -> list[str]:
    """Create or update our schedules; idempotent, safe to run on every migrate."""
    from django_q.models import Schedule

    touched = []
    with transaction.atomic(using=using):
        for name, (func, minutes) in SCHEDULES.items():
            existing = Schedule.objects.using(using).filter(name=name).order_by("pk")
            # Remove duplicates a concurrent migrate may have created.
            for duplicate in existing[1:]:
                duplicate.delete()
            Schedule.objects.using(using).update_or_create(
                name=name,
                defaults={
                    "func": func,
                    "schedule_type": Schedule.MINUTES,
                    "minutes": minutes,
                    "repeats": -1,
                },
            )
            touched.append(name)
    return touched
