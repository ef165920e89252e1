"""
The operations API on django-ninja: jobs, seeds, health and metrics. The OpenAPI document
(``v1/openapi.json``) is generated from these functions and ``api/schemas.py``; the write
operations call ``enterspeed_sync.actions``, as the admin views do.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from functools import cache

from django.core.paginator import EmptyPage, Paginator
from django.db.models import Count
from django.http import HttpResponse
from django.urls import reverse
from ninja import NinjaAPI, Status
from ninja.responses import NinjaJSONEncoder
from wagtail.models import Locale, ModelLogEntry

from enterspeed_sync import __version__, actions, permissions
from enterspeed_sync.api import schemas
from enterspeed_sync.api.auth import requires
from enterspeed_sync.api.errors import (
    APIError,
    NotFound,
    ValidationFailed,
    read_json_body,
    refuse_malformed_json,
    register_exception_handlers,
    validate,
)
from enterspeed_sync.api.health import get_health_report
from enterspeed_sync.capture.seed_scope import SeedScopeError
from enterspeed_sync.conf import get_destinations
from enterspeed_sync.exceptions import ClusterUnreachable
from enterspeed_sync.models import EnterspeedJob, JobState
from enterspeed_sync.status.metrics import CONTENT_TYPE as METRICS_TYPE
from enterspeed_sync.status.metrics import render_metrics

JSON = "application/json"
VIEW = requires(permissions.can_view)
MANAGE = requires(permissions.can_manage, permissions.MANAGE)
SEED = requires(permissions.can_seed, permissions.SEED)

#: Every operation can answer these, besides what it declares.
COMMON_ERRORS = {401: schemas.Error, 403: schemas.Error}


class OperationsAPI(NinjaAPI):
    def get_content_type(self) -> str:
        return JSON  # as before ninja: no charset parameter (JSON is UTF-8 by definition)


api = OperationsAPI(
    title="enterspeed_sync operations API",
    version=__version__,
    description=(
        "Jobs, seeding and health of the Wagtail → Enterspeed sync. Authenticate with "
        "`Authorization: Bearer <token>` (`manage.py enterspeed_api_token create`) or the "
        "Wagtail admin session (CSRF token required for writes). Permissions are those of "
        "the Enterspeed admin area."
    ),
    urls_namespace="enterspeed_sync_api",
    openapi_url=None,
    docs_url=None,
)
register_exception_handlers(api)


def responses(**by_status) -> dict:
    return {**COMMON_ERRORS, **{int(code[1:]): model for code, model in by_status.items()}}


def query_parameters(model) -> dict:
    """
    ``openapi_extra`` documenting ``model`` as query parameters. The endpoints validate
    the query string with the model themselves, because ninja drops names it does not
    know, and a misspelt filter must be refused, not ignored.
    """
    schema = model.model_json_schema()
    parameters = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        # Optional parameters are left out, never sent as null.
        options = [o for o in prop.pop("anyOf", []) if o.get("type") != "null"]
        if options:
            prop.update(options[0])
        if prop.get("default") is None:
            prop.pop("default", None)
        description = prop.pop("description", "")
        prop.pop("title", None)
        parameters.append(
            {"name": name, "in": "query", "required": False, "schema": prop}
            | ({"description": description} if description else {})
        )
    return {"parameters": parameters}


def request_body(model) -> dict:
    schema = model.model_json_schema()
    schema.pop("title", None)
    return {"requestBody": {"required": False, "content": {JSON: {"schema": schema}}}}


def audit(request) -> dict:
    token = request.auth.token
    return {"via": "api", **({"token": token.prefix} if token is not None else {})}


def get_job(pk: int) -> EnterspeedJob:
    # ``pk`` is in range: ninja validated it (``schemas.JobId``).
    job = EnterspeedJob.objects.defer("lease_token").filter(pk=pk).first()
    if job is None:
        raise NotFound(f"There is no job {pk}.")
    return job


def validate_query(request, model):
    return validate(
        model,
        request.GET.dict(),
        unknown="Unknown parameter '{}'.",
        message="Some parameters are not valid; see 'fields'.",
    )


def failed_jobs(request):
    """The failed jobs the query string's filters match, and those filters (for the log)."""
    filters = validate_query(request, schemas.JobFilters)
    return filters.filter(EnterspeedJob.objects.failed()), request.GET.dict()


# The document ---------------------------------------------------------------------------


@api.get(
    "openapi.json",
    auth=VIEW,
    url_name="openapi",
    operation_id="getOpenAPI",
    summary="This document",
    response=responses(_200=dict),
)
def openapi(request):
    """The OpenAPI description of this API, generated from its code."""
    return get_openapi_document()


@cache
def generated_document() -> str:
    """What ninja generates from the code, as JSON (it never changes while the code runs)."""
    return json.dumps(api.get_openapi_schema(path_prefix=""), cls=NinjaJSONEncoder)


def get_openapi_document() -> dict:
    """
    The document, with the server URL where the project mounted the API, and the site's
    locales and the configured sources as the seed request's choices.
    """
    document = json.loads(generated_document())
    document["servers"] = [{"url": reverse("enterspeed_sync_api:health").removesuffix("/health/")}]
    locales = list(Locale.objects.order_by("language_code").values_list("language_code", flat=True))
    body = document["paths"]["/seeds/"]["post"]["requestBody"]["content"][JSON]["schema"]
    body["properties"]["locales"]["anyOf"][0]["items"]["enum"] = locales
    body["properties"]["destination"]["enum"] = list(get_destinations())
    return document


# Health ---------------------------------------------------------------------------------


@api.get(
    "health/",
    auth=VIEW,
    url_name="health",
    operation_id="getHealth",
    summary="Health of the sync, for monitoring",
    response=responses(_200=schemas.Health, _503=schemas.Health),
)
def health(request):
    """
    The sync's state, queue depth and age, failed and processing jobs, whether sending is
    paused, the clusters running and when Enterspeed last accepted something. 200 while
    the sync works; 503 when nothing reaches Enterspeed (``state`` says why).
    """
    report = get_health_report()
    return Status(report["http_status"], report)


@api.get(
    "metrics/",
    auth=VIEW,
    url_name="metrics",
    operation_id="getMetrics",
    summary="Metrics for Prometheus",
    response=COMMON_ERRORS,
    openapi_extra={
        "responses": {
            200: {
                "description": "Prometheus text exposition format 0.0.4",
                "content": {METRICS_TYPE: {"schema": {"type": "string"}}},
            }
        }
    },
)
def metrics(request):
    """
    The health endpoint's verdict and queue per destination, the totals sent and failed
    by reason, request latency and 429s, as Prometheus text (docs/production.md has a
    scrape configuration and alert rules). Always 200: alert on the values.
    """
    return HttpResponse(render_metrics(), content_type=METRICS_TYPE)


# Jobs -----------------------------------------------------------------------------------


@api.get(
    "jobs/",
    auth=VIEW,
    url_name="jobs",
    operation_id="listJobs",
    summary="List jobs",
    response=responses(_200=schemas.JobList, _400=schemas.Error, _404=schemas.Error),
    openapi_extra=query_parameters(schemas.JobListQuery),
)
def list_jobs(request):
    """A page of jobs, with the counts per state of the jobs every other filter matches."""
    query = validate_query(request, schemas.JobListQuery)
    matching = query.filter(EnterspeedJob.objects.defer("lease_token"))
    # Counts per state of the jobs every other filter matches, so one request shows
    # e.g. how many of a locale's jobs are pending and failed.
    counts = dict.fromkeys(JobState.values, 0)
    for row in matching.values("state").annotate(n=Count("pk")).order_by():
        counts[row["state"]] = row["n"]
    if query.state:
        matching = matching.filter(state=query.state)
    descending = query.ordering.startswith("-")
    field = query.ordering.lstrip("-")
    field = "pk" if field == "id" else field
    # The primary key breaks ties, so pages never repeat or skip a job.
    ordered = matching.order_by(*(f"-{f}" if descending else f for f in (field, "pk")))
    paginator = Paginator(ordered, query.page_size)
    try:
        page = paginator.page(query.page)
    except EmptyPage:
        raise NotFound(
            f"Page {query.page} is past the last page ({paginator.num_pages})."
        ) from None

    def page_url(number: int) -> str:
        params = request.GET.copy()
        params["page"] = str(number)
        return f"{request.path}?{params.urlencode()}"

    return {
        "count": paginator.count,
        "page": page.number,
        "page_size": query.page_size,
        "num_pages": paginator.num_pages,
        "next": page_url(page.next_page_number()) if page.has_next() else None,
        "previous": page_url(page.previous_page_number()) if page.has_previous() else None,
        "counts": counts,
        "results": [schemas.serialize_job(job) for job in page.object_list],
    }


@api.get(
    "jobs/{int:id}/",
    auth=VIEW,
    url_name="job",
    operation_id="getJob",
    summary="One job",
    response=responses(_200=schemas.Job, _404=schemas.Error),
)
def get_one_job(request, id: schemas.JobId):
    return schemas.serialize_job(get_job(id))


@api.delete(
    "jobs/{int:id}/",
    auth=MANAGE,
    url_name="job",
    operation_id="deleteJob",
    summary="Delete a job",
    response=responses(
        _200=schemas.Deleted,
        _400=schemas.Error,
        _404=schemas.Error,
        _413=schemas.Error,
        _415=schemas.Error,
    ),
)
def delete_job(request, id: schemas.JobId):
    refuse_malformed_json(request)  # no body fields; but refuse malformed JSON
    deleted = actions.delete_jobs([get_job(id)], user=request.auth.user, audit=audit(request))
    return {"deleted": deleted}


@api.post(
    "jobs/{int:id}/retry/",
    auth=MANAGE,
    url_name="job_retry",
    operation_id="retryJob",
    summary="Retry a failed job",
    response=responses(
        _200=schemas.Retried,
        _400=schemas.Error,
        _404=schemas.Error,
        _409=schemas.Error,
        _413=schemas.Error,
        _415=schemas.Error,
    ),
)
def retry_job(request, id: schemas.JobId):
    """
    Queued again (``retried``), or a newer job of the same entity (pending or being sent)
    supersedes it; ``job`` is the job that will be sent. 409 when the job is not failed.
    """
    refuse_malformed_json(request)  # no body fields; but refuse malformed JSON
    job = get_job(id)
    if job.state != JobState.FAILED:
        raise APIError(
            409, "not_failed", f"Job {id} is {job.state}, not failed: only failed jobs retry."
        )
    retried = actions.retry_jobs([job], user=request.auth.user, audit=audit(request)) == 1
    # A newer job of the same entity, pending or in flight, supersedes a failed one (which
    # is then dropped): that job is what will be sent.
    jobs = EnterspeedJob.objects.for_entity(*job.entity_key)
    newer = jobs.exclude(state=JobState.FAILED).first()
    return {"retried": retried, "job": schemas.serialize_job(newer) if newer else None}


@api.post(
    "jobs/{int:id}/send-now/",
    auth=MANAGE,
    url_name="job_send_now",
    operation_id="sendJobNow",
    summary="Send a waiting job now",
    response=responses(
        _200=schemas.SentNow,
        _400=schemas.Error,
        _404=schemas.Error,
        _409=schemas.Error,
        _413=schemas.Error,
        _415=schemas.Error,
    ),
)
def send_job_now(request, id: schemas.JobId):
    """
    A pending job waiting for its next attempt (a retry's backoff) is moved to now and
    processing is requested. 409 when the job is not waiting.
    """
    refuse_malformed_json(request)  # no body fields; but refuse malformed JSON
    job = get_job(id)
    if not actions.is_waiting(job):
        raise APIError(
            409,
            "not_waiting",
            f"Job {id} is {job.state} and not waiting for a later attempt: nothing to move.",
        )
    actions.send_jobs_now([job], user=request.auth.user, audit=audit(request))
    return {"moved": 1, "job": schemas.serialize_job(get_job(id))}


@api.post(
    "jobs/waiting/send-now/",
    auth=MANAGE,
    url_name="waiting_jobs_send_now",
    operation_id="sendWaitingJobsNow",
    summary="Send every waiting job now",
    response=responses(
        _200=schemas.BulkSentNow, _400=schemas.Error, _413=schemas.Error, _415=schemas.Error
    ),
)
def send_waiting_jobs_now(request):
    """Every pending job waiting for its next attempt, moved to now in one statement."""
    read_json_body(request)  # no body fields; but refuse a malformed one
    moved = actions.send_all_waiting_now(user=request.auth.user, audit=audit(request))
    return {"moved": moved}


@api.delete(
    "jobs/failed/",
    auth=MANAGE,
    url_name="failed_jobs",
    operation_id="deleteFailedJobs",
    summary="Delete all failed jobs (matching the filters)",
    response=responses(
        _200=schemas.Deleted, _400=schemas.Error, _413=schemas.Error, _415=schemas.Error
    ),
    openapi_extra=query_parameters(schemas.JobFilters),
)
def delete_failed_jobs(request):
    """Every failed job the filters match (all without filters), in one statement."""
    refuse_malformed_json(request)  # no body fields; but refuse malformed JSON
    failed, filters = failed_jobs(request)
    deleted = actions.delete_all_failed(
        failed, user=request.auth.user, audit=audit(request), filters=filters
    )
    return {"deleted": deleted}


@api.post(
    "jobs/failed/retry/",
    auth=MANAGE,
    url_name="failed_jobs_retry",
    operation_id="retryFailedJobs",
    summary="Retry all failed jobs (matching the filters)",
    response=responses(
        _200=schemas.BulkRetried,
        _202=schemas.BulkRetried,
        _400=schemas.Error,
        _413=schemas.Error,
        _415=schemas.Error,
    ),
    openapi_extra=query_parameters(schemas.JobFilters),
)
def retry_failed_jobs(request):
    """
    Up to ``actions.INLINE_RETRY_LIMIT`` jobs are retried in the request (200); more
    by background tasks (202).
    """
    failed, filters = failed_jobs(request)
    read_json_body(request)  # no body fields; but refuse a malformed one
    retried = actions.retry_all_failed(
        failed, user=request.auth.user, audit=audit(request), filters=filters
    )
    return Status(202 if retried.background else 200, asdict(retried))


# Seeds ----------------------------------------------------------------------------------


@api.post(
    "seeds/",
    auth=SEED,
    url_name="seeds",
    operation_id="startSeed",
    summary="Start a seed",
    response=responses(
        _202=schemas.SeedStarted,
        _400=schemas.Error,
        _413=schemas.Error,
        _415=schemas.Error,
        _503=schemas.Error,
    ),
    openapi_extra=request_body(schemas.SeedRequest),
)
def start_seed(request):
    """A seed of a scope, queued as one background task; follow it at ``url``."""
    body = validate(
        schemas.SeedRequest,
        read_json_body(request),
        unknown="Unknown field '{}'.",
        message="The seed request is not valid; see 'fields'.",
    )
    try:
        scope = body.to_scope()
    except SeedScopeError as exc:
        raise ValidationFailed(exc.errors, "The seed request is not valid; see 'fields'.") from None
    try:
        task_name = actions.start_seed(scope, user=request.auth.user, audit=audit(request))
    except ClusterUnreachable as exc:
        raise APIError(503, "cluster_unreachable", str(exc)) from None
    seed_id = task_name.rsplit(".", 1)[1]
    url = reverse("enterspeed_sync_api:seed", args=[seed_id])
    return Status(202, {"id": seed_id, "url": url, "scope": asdict(scope)})


@api.get(
    "seeds/{seed_id}/",
    auth=VIEW,
    url_name="seed",
    operation_id="getSeed",
    summary="How a seed went",
    response=responses(_200=schemas.Seed, _404=schemas.Error),
)
def get_seed(request, seed_id: schemas.SeedId):
    """How a seed started through the API went (from django-q2's task result)."""
    task_name = f"enterspeed_sync.seed.{seed_id}"
    started = ModelLogEntry.objects.filter(
        action="enterspeed_sync.seed", data__task=task_name, data__via="api"
    ).first()
    if started is None:
        raise NotFound(f"No seed {seed_id} was started through the API.")
    finished, success, result = actions.get_task_result(task_name)
    if not finished:
        state = "queued"
    else:
        state = "succeeded" if success else "failed"
    return {
        "id": seed_id,
        "state": state,
        "scope": {key: started.data.get(key) for key in schemas.SeedRequest.model_fields},
        "counts": result if finished and success and isinstance(result, dict) else None,
        "error": str(result) if finished and not success else None,
    }
