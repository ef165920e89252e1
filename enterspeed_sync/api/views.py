"""The operations API's endpoints (routes: enterspeed_sync/api/urls.py; docs/api.md)."""

from __future__ import annotations

from django.core.paginator import EmptyPage, Paginator
from django.db import transaction
from django.db.models import Count
from django.http import JsonResponse
from django.urls import reverse
from wagtail.log_actions import log
from wagtail.models import ModelLogEntry

from enterspeed_sync import admin_tasks, permissions
from enterspeed_sync.admin_area.views.base import QUEUE_TITLE
from enterspeed_sync.admin_area.views.jobs import INLINE_RETRY_LIMIT
from enterspeed_sync.api.base import APIError, APIView, NotFound, ValidationFailed
from enterspeed_sync.api.forms import (
    MAX_ID,
    SEED_FIELDS,
    JobFilterForm,
    JobListForm,
    clean_seed_request,
)
from enterspeed_sync.api.health import get_health_report
from enterspeed_sync.api.openapi import get_openapi_document
from enterspeed_sync.api.serializers import STATES, serialize_job
from enterspeed_sync.models import EnterspeedJob, JobState

#: Failed jobs per background retry task when "retry all failed" is too large for a request.
RETRY_TASK_CHUNK = 1000
SEED_TASK_KIND = "seed"


class AuditMixin:
    """Write actions go to Wagtail's audit log, as in the admin, noting the API and token."""

    def audit_data(self, **data) -> dict:
        token = self.credentials.token
        data["via"] = "api"
        if token is not None:
            data["token"] = token.prefix
        return data

    def log_job(self, job: EnterspeedJob, action: str, **kwargs) -> None:
        log(
            job,
            action,
            user=self.credentials.user,
            title=job.origin_id,
            data=self.audit_data(origin_id=job.origin_id),
            **kwargs,
        )

    def log_queue(self, action: str, **data) -> None:
        log(
            EnterspeedJob(pk=0, origin_id="queue"),
            action,
            user=self.credentials.user,
            title=str(QUEUE_TITLE),
            data=self.audit_data(**data),
        )


def validated(form):
    if not form.is_valid():
        errors = {field: [str(e) for e in errs] for field, errs in form.errors.items()}
        if "__all__" in errors:
            errors["non_field_errors"] = errors.pop("__all__")
        raise ValidationFailed(errors, "Some parameters are not valid; see 'fields'.")
    return form


def given_filters(form) -> dict:
    """The filters as the caller sent them (strings), for the audit log."""
    return {name: form.data[name] for name in form.fields if name in form.data}


def get_job(pk: int) -> EnterspeedJob:
    job = None
    if 0 < pk <= MAX_ID:
        job = EnterspeedJob.objects.defer("lease_token").filter(pk=pk).first()
    if job is None:
        raise NotFound(f"There is no job {pk}.")
    return job


class OpenAPIView(APIView):
    def get(self, request):
        return JsonResponse(get_openapi_document(), json_dumps_params={"ensure_ascii": False})


class HealthView(APIView):
    def get(self, request):
        return JsonResponse(get_health_report())


class JobListView(APIView):
    def get(self, request):
        form = validated(JobListForm(request.GET.dict()))
        data = form.cleaned_data
        matching = form.filter(EnterspeedJob.objects.defer("lease_token"))
        # Counts per state of the jobs every other filter matches, so one request shows
        # e.g. how many of a locale's jobs are pending and failed.
        counts = dict.fromkeys(STATES, 0)
        for row in matching.values("state").annotate(n=Count("pk")).order_by():
            counts[row["state"]] = row["n"]
        if data.get("state"):
            matching = matching.filter(state=data["state"])
        descending = data["ordering"].startswith("-")
        field = data["ordering"].lstrip("-")
        field = "pk" if field == "id" else field
        # The primary key breaks ties, so pages never repeat or skip a job.
        ordered = matching.order_by(*(f"-{f}" if descending else f for f in (field, "pk")))
        paginator = Paginator(ordered, data["page_size"])
        try:
            page = paginator.page(data["page"])
        except EmptyPage:
            raise NotFound(
                f"Page {data['page']} is past the last page ({paginator.num_pages})."
            ) from None
        return JsonResponse(
            {
                "count": paginator.count,
                "page": page.number,
                "page_size": data["page_size"],
                "num_pages": paginator.num_pages,
                "next": self.page_url(request, page.next_page_number())
                if page.has_next()
                else None,
                "previous": self.page_url(request, page.previous_page_number())
                if page.has_previous()
                else None,
                "counts": counts,
                "results": [serialize_job(job) for job in page.object_list],
            }
        )

    def page_url(self, request, number: int) -> str:
        query = request.GET.copy()
        query["page"] = str(number)
        return f"{request.path}?{query.urlencode()}"


class JobDetailView(AuditMixin, APIView):
    permission_tests = {"delete": permissions.can_manage}

    def get(self, request, pk):
        return JsonResponse(serialize_job(get_job(pk)))

    def delete(self, request, pk):
        with transaction.atomic():
            job = get_job(pk)
            self.log_job(job, "wagtail.delete", deleted=True)
            job.delete()
        return JsonResponse({"deleted": 1})


class JobRetryView(AuditMixin, APIView):
    permission_tests = {"post": permissions.can_manage}

    def post(self, request, pk):
        from enterspeed_sync.processing.transitions import retry_failed_jobs

        job = get_job(pk)
        if job.state != JobState.FAILED:
            raise APIError(
                409, "not_failed", f"Job {pk} is {job.state}, not failed: only failed jobs retry."
            )
        with transaction.atomic():
            self.log_job(job, "enterspeed_sync.retry")
        retried = retry_failed_jobs([job.pk]) == 1
        # A newer pending job of the same entity supersedes a failed one (which is then
        # dropped): that pending job is what will be sent.
        pending = EnterspeedJob.objects.for_entity(*job.entity_key).pending().first()
        return JsonResponse(
            {"retried": retried, "job": serialize_job(pending) if pending else None}
        )


class FailedJobsView(AuditMixin, APIView):
    """DELETE every failed job (those matching the filters, if any): one statement."""

    permission_tests = {"delete": permissions.can_manage}

    def delete(self, request):
        form = validated(JobFilterForm(request.GET.dict()))
        with transaction.atomic():
            deleted, _rows = form.filter(EnterspeedJob.objects.failed()).delete()
            self.log_queue(
                "enterspeed_sync.delete_failed", count=deleted, filters=given_filters(form)
            )
        return JsonResponse({"deleted": deleted})


class FailedJobsRetryView(AuditMixin, APIView):
    """
    POST: queue every failed job again (those matching the filters, if any). Up to
    INLINE_RETRY_LIMIT jobs are retried in the request (200); more in the background (202).
    """

    permission_tests = {"post": permissions.can_manage}

    def post(self, request):
        from enterspeed_sync.processing.transitions import retry_failed_jobs

        form = validated(JobFilterForm(request.GET.dict()))
        self.read_json_body(request)  # no body fields; but refuse a malformed one
        ids = list(form.filter(EnterspeedJob.objects.failed()).values_list("pk", flat=True))
        background = len(ids) > INLINE_RETRY_LIMIT
        with transaction.atomic():
            self.log_queue(
                "enterspeed_sync.retry_failed", count=len(ids), filters=given_filters(form)
            )
            if background:
                for start in range(0, len(ids), RETRY_TASK_CHUNK):
                    admin_tasks.queue_on_commit(
                        admin_tasks.RETRY_TASK,
                        admin_tasks.new_task_name("retry"),
                        ids=ids[start : start + RETRY_TASK_CHUNK],
                    )
        if background:
            return JsonResponse(
                {"matched": len(ids), "queued": None, "background": True}, status=202
            )
        queued = retry_failed_jobs(ids) if ids else 0
        return JsonResponse({"matched": len(ids), "queued": queued, "background": False})


def seed_task_name(seed_id: str) -> str:
    return f"enterspeed_sync.{SEED_TASK_KIND}.{seed_id}"


class SeedListView(AuditMixin, APIView):
    """POST: start a seed of a scope; one background task queues the jobs."""

    permission_tests = {"post": permissions.can_seed}

    def post(self, request):
        scope, errors = clean_seed_request(self.read_json_body(request))
        if errors:
            raise ValidationFailed(errors, "The seed request is not valid; see 'fields'.")
        task_name = admin_tasks.new_task_name(SEED_TASK_KIND)
        seed_id = task_name.rsplit(".", 1)[1]
        with transaction.atomic():
            self.log_queue("enterspeed_sync.seed", task=task_name, **scope)
            admin_tasks.queue_on_commit(
                admin_tasks.SEED_TASK,
                task_name,
                kinds=scope["kinds"],
                root_page_id=scope["root_page"],
                locales=scope["locales"],
                descendants=scope["descendants"],
                force=scope["force"],
            )
        return JsonResponse(
            {
                "id": seed_id,
                "url": reverse("enterspeed_sync_api:seed", args=[seed_id]),
                "scope": scope,
            },
            status=202,
        )


class SeedDetailView(APIView):
    """GET: how a seed started through the API went (from django-q2's task result)."""

    def get(self, request, seed_id):
        task_name = seed_task_name(seed_id)
        started = ModelLogEntry.objects.filter(
            action="enterspeed_sync.seed", data__task=task_name
        ).first()
        if started is None:
            raise NotFound(f"No seed {seed_id} was started through the API.")
        finished, success, result = admin_tasks.get_task_result(task_name)
        if not finished:
            state = "queued"
        else:
            state = "succeeded" if success else "failed"
        counts = result if finished and success and isinstance(result, dict) else None
        return JsonResponse(
            {
                "id": seed_id,
                "state": state,
                "scope": {key: started.data.get(key) for key in SEED_FIELDS},
                "counts": counts,
                "error": str(result) if finished and not success else None,
            }
        )
