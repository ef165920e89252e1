"""
The OpenAPI 3.1 description of the operations API, served at ``v1/openapi.json``. Written
by hand next to the views; ``tests/test_api_schema.py`` checks that it lists exactly the
routes and methods of ``enterspeed_sync/api/urls.py`` and runs schemathesis against it.
"""

from __future__ import annotations

import copy
from typing import Any

from django.conf import settings
from django.urls import reverse

from enterspeed_sync import __version__
from enterspeed_sync.api.forms import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ORDERINGS
from enterspeed_sync.api.serializers import JOB_FIELDS
from enterspeed_sync.capture.seeding import SEED_KINDS
from enterspeed_sync.models import Destination, EntityType, JobState, JobType

JSON = "application/json"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _response(ref: str) -> dict:
    return {"$ref": f"#/components/responses/{ref}"}


def _json(description: str, schema: dict) -> dict:
    return {"description": description, "content": {JSON: {"schema": schema}}}


# Strings a form field accepts: Django refuses NUL characters in text.
TEXT = "^[^\\x00]*$"
DATE_TIME = {"type": ["string", "null"], "format": "date-time"}

JOB_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": [*JOB_FIELDS, "url", "admin_url"],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "origin_id": {"type": "string", "description": "The entity's id in Enterspeed."},
        "entity_type": {"type": "string", "enum": list(EntityType.values)},
        "entity_id": {"type": "string"},
        "locale": {"type": "string"},
        "destination": {"type": "string", "enum": list(Destination.values)},
        "job_type": {"type": "string", "enum": list(JobType.values)},
        "state": {"type": "string", "enum": list(JobState.values)},
        "attempts": {"type": "integer", "minimum": 0},
        "error": {"type": "string"},
        "last_status": {"type": ["integer", "null"]},
        "next_attempt_at": {"type": "string", "format": "date-time"},
        "claimed_at": DATE_TIME,
        "leased_until": DATE_TIME,
        "locked_by": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "url": {"type": "string", "description": "This job in the API."},
        "admin_url": {"type": "string", "description": "This job in the Wagtail admin."},
    },
}

STATE_COUNTS = {
    "type": "object",
    "additionalProperties": False,
    "required": list(JobState.values),
    "properties": {state: {"type": "integer", "minimum": 0} for state in JobState.values},
}

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "A code: invalid, not_found, …"},
        "message": {"type": "string", "description": "What went wrong, for people."},
        "fields": {
            "type": "object",
            "description": "Per field (or non_field_errors): what is wrong with it.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
}

HEALTH_SCHEMA = {
    "type": "object",
    "required": [
        "status",
        "reasons",
        "state",
        "message",
        "pending",
        "due",
        "processing",
        "failed",
        "oldest_pending_age_seconds",
        "last_successful_ingest_at",
        "sending_paused",
        "paused_until",
        "last_error",
        "enabled",
        "checked_at",
    ],
    "properties": {
        "status": {
            "type": "string",
            "enum": ["ok", "degraded"],
            "description": "degraded when any reason applies.",
        },
        "reasons": {
            "type": "array",
            "items": {
                "type": "string",
                "enum": [
                    "no_api_key",
                    "auth_failed",
                    "breaker_open",
                    "rate_limited",
                    "disabled",
                    "stalled",
                    "failed_jobs",
                ],
            },
        },
        "state": {
            "type": "string",
            "enum": [
                "ok",
                "auth_failed",
                "breaker_open",
                "rate_limited",
                "disabled",
                "stalled",
            ],
        },
        "message": {"type": "string"},
        "pending": {"type": "integer", "minimum": 0, "description": "Queue depth."},
        "due": {"type": "integer", "minimum": 0, "description": "Pending and due now."},
        "processing": {"type": "integer", "minimum": 0},
        "failed": {"type": "integer", "minimum": 0},
        "oldest_pending_age_seconds": {"type": ["number", "null"], "minimum": 0},
        "last_successful_ingest_at": DATE_TIME,
        "sending_paused": {"type": "boolean"},
        "paused_until": DATE_TIME,
        "last_error": {"type": "string"},
        "enabled": {"type": "boolean"},
        "checked_at": {"type": "string", "format": "date-time"},
    },
}

SEED_SCOPE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "kinds": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "enum": list(SEED_KINDS)},
            "description": "What to seed; default: every kind.",
        },
        "root_page": {
            "type": ["integer", "null"],
            "minimum": 1,
            "description": "Only this page (and its descendants); default: every page.",
        },
        "descendants": {"type": "boolean", "default": True},
        "locales": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Only pages and translatable snippets in these locales.",
        },
        "force": {
            "type": "boolean",
            "default": False,
            "description": "Send entities Enterspeed already has unchanged, too.",
        },
    },
}

SEED_SCHEMA = {
    "type": "object",
    "required": ["id", "state", "scope", "counts", "error"],
    "properties": {
        "id": {"type": "string"},
        "state": {"type": "string", "enum": ["queued", "succeeded", "failed"]},
        "scope": {"type": "object"},
        "counts": {
            "type": ["object", "null"],
            "additionalProperties": {"type": "integer"},
            "description": "Jobs queued per kind, once the seed task succeeded.",
        },
        "error": {"type": ["string", "null"]},
    },
}


def _filter_parameters(*, with_state: bool) -> list[dict]:
    def query(name, schema, description):
        return {"name": name, "in": "query", "required": False, "schema": schema,
                "description": description}  # fmt: skip

    parameters = []
    if with_state:
        parameters.append(
            query("state", {"type": "string", "enum": list(JobState.values)}, "Only this state.")
        )
    parameters += [
        query("job_type", {"type": "string", "enum": list(JobType.values)}, "publish or delete."),
        query("entity_type", {"type": "string", "enum": list(EntityType.values)}, "Entity kind."),
        query("destination", {"type": "string", "enum": list(Destination.values)}, "Source."),
        query(
            "locale",
            {"type": "string", "maxLength": 20, "pattern": TEXT},
            "Locale, case-insensitive; empty: jobs without a locale.",
        ),
        query(
            "origin_id",
            {"type": "string", "maxLength": 255, "pattern": TEXT},
            "Part of the origin id (case-insensitive search).",
        ),
        query(
            "created_after",
            {"type": "string", "format": "date-time"},
            "Created at or after this time (a date means its midnight).",
        ),
        query(
            "created_before",
            {"type": "string", "format": "date-time"},
            "Created before this time (a date means its midnight).",
        ),
    ]
    return parameters


ID_PARAMETER = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "format": "int64"},
}

READ = {"401": _response("Unauthenticated"), "403": _response("Forbidden")}


def _operation(summary: str, responses: dict, *, permission: str, **extra) -> dict:
    description = extra.pop("description", "")
    needs = f"Needs Wagtail admin access and `enterspeed_sync.{permission}`."
    return {
        "summary": summary,
        "description": f"{description}\n\n{needs}".strip(),
        "responses": {**responses, **READ},
        **extra,
    }


VIEW = "view_enterspeedjob"
MANAGE = "view_enterspeedjob` and `enterspeed_sync.manage_enterspeedjob"
SEED = "view_enterspeedjob` and `enterspeed_sync.seed_enterspeedjob"

#: Path (relative to the v1 root) → method → operation. The route names are the keys of
#: ``ROUTE_NAMES``, so the test can compare the document with the URLconf.
PATHS: dict[str, dict[str, Any]] = {
    "/openapi.json": {
        "get": _operation(
            "This document",
            {"200": {"description": "The OpenAPI description.", "content": {JSON: {}}}},
            permission=VIEW,
            operationId="getOpenAPI",
        )
    },
    "/health/": {
        "get": _operation(
            "Health of the sync, for monitoring",
            {"200": _json("Always 200; read `status`.", _ref("Health"))},
            permission=VIEW,
            operationId="getHealth",
            description="Queue depth and age, failed and processing jobs, whether sending is "
            "paused and when Enterspeed last accepted something. Three database queries.",
        )
    },
    "/jobs/": {
        "get": _operation(
            "List jobs",
            {
                "200": _json("A page of jobs.", _ref("JobList")),
                "400": _response("Invalid"),
                "404": _response("NotFound"),
            },
            permission=VIEW,
            operationId="listJobs",
            parameters=[
                *_filter_parameters(with_state=True),
                {
                    "name": "ordering",
                    "in": "query",
                    "schema": {"type": "string", "enum": list(ORDERINGS), "default": "-updated_at"},
                },
                {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                {
                    "name": "page_size",
                    "in": "query",
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_PAGE_SIZE,
                        "default": DEFAULT_PAGE_SIZE,
                    },
                },
            ],
        )
    },
    "/jobs/{id}/": {
        "parameters": [ID_PARAMETER],
        "get": _operation(
            "One job",
            {"200": _json("The job.", _ref("Job")), "404": _response("NotFound")},
            permission=VIEW,
            operationId="getJob",
        ),
        "delete": _operation(
            "Delete a job",
            {
                "200": _json("Deleted.", _ref("Deleted")),
                "404": _response("NotFound"),
            },
            permission=MANAGE,
            operationId="deleteJob",
        ),
    },
    "/jobs/{id}/retry/": {
        "parameters": [ID_PARAMETER],
        "post": _operation(
            "Retry a failed job",
            {
                "200": _json(
                    "Queued again (`retried`), or a newer pending job of the same entity "
                    "supersedes it; `job` is the pending job that will be sent.",
                    _ref("Retried"),
                ),
                "404": _response("NotFound"),
                "409": _json("The job is not failed.", _ref("Error")),
            },
            permission=MANAGE,
            operationId="retryJob",
        ),
    },
    "/jobs/failed/": {
        "delete": _operation(
            "Delete all failed jobs (matching the filters)",
            {"200": _json("Deleted.", _ref("Deleted")), "400": _response("Invalid")},
            permission=MANAGE,
            operationId="deleteFailedJobs",
            parameters=_filter_parameters(with_state=False),
        )
    },
    "/jobs/failed/retry/": {
        "post": _operation(
            "Retry all failed jobs (matching the filters)",
            {
                "200": _json("Retried in the request.", _ref("BulkRetried")),
                "202": _json(
                    "Too many for one request: retried in the background.", _ref("BulkRetried")
                ),  # fmt: skip
                "400": _response("Invalid"),
                "413": _response("TooLarge"),
                "415": _response("UnsupportedMediaType"),
            },
            permission=MANAGE,
            operationId="retryFailedJobs",
            parameters=_filter_parameters(with_state=False),
        )
    },
    "/seeds/": {
        "post": _operation(
            "Start a seed",
            {
                "202": _json("Queued as one background task.", _ref("SeedStarted")),
                "400": _response("Invalid"),
                "413": _response("TooLarge"),
                "415": _response("UnsupportedMediaType"),
            },
            permission=SEED,
            operationId="startSeed",
            requestBody={"required": False, "content": {JSON: {"schema": _ref("SeedScope")}}},
        )
    },
    "/seeds/{seed_id}/": {
        "parameters": [
            {
                "name": "seed_id",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
            }
        ],
        "get": _operation(
            "How a seed went",
            {"200": _json("The seed.", _ref("Seed")), "404": _response("NotFound")},
            permission=VIEW,
            operationId="getSeed",
        ),
    },
}

#: The URL name of each path in ``enterspeed_sync/api/urls.py``.
ROUTE_NAMES = {
    "/openapi.json": "openapi",
    "/health/": "health",
    "/jobs/": "jobs",
    "/jobs/{id}/": "job",
    "/jobs/{id}/retry/": "job_retry",
    "/jobs/failed/": "failed_jobs",
    "/jobs/failed/retry/": "failed_jobs_retry",
    "/seeds/": "seeds",
    "/seeds/{seed_id}/": "seed",
}

SCHEMAS = {
    "Job": JOB_SCHEMA,
    "JobList": {
        "type": "object",
        "required": [
            "count",
            "page",
            "page_size",
            "num_pages",
            "next",
            "previous",
            "counts",
            "results",
        ],  # fmt: skip
        "properties": {
            "count": {"type": "integer", "minimum": 0, "description": "Jobs matching."},
            "page": {"type": "integer", "minimum": 1},
            "page_size": {"type": "integer", "minimum": 1},
            "num_pages": {"type": "integer", "minimum": 1},
            "next": {"type": ["string", "null"]},
            "previous": {"type": ["string", "null"]},
            "counts": {
                **STATE_COUNTS,
                "description": "Jobs per state matching every filter except `state`.",
            },
            "results": {"type": "array", "items": _ref("Job")},
        },
    },
    "Deleted": {
        "type": "object",
        "required": ["deleted"],
        "properties": {"deleted": {"type": "integer", "minimum": 0}},
    },
    "Retried": {
        "type": "object",
        "required": ["retried", "job"],
        "properties": {
            "retried": {"type": "boolean"},
            "job": {"oneOf": [_ref("Job"), {"type": "null"}]},
        },
    },
    "BulkRetried": {
        "type": "object",
        "required": ["matched", "queued", "background"],
        "properties": {
            "matched": {"type": "integer", "minimum": 0},
            "queued": {"type": ["integer", "null"], "minimum": 0},
            "background": {"type": "boolean"},
        },
    },
    "SeedScope": SEED_SCOPE,
    "SeedStarted": {
        "type": "object",
        "required": ["id", "url", "scope"],
        "properties": {
            "id": {"type": "string"},
            "url": {"type": "string"},
            "scope": {"type": "object"},
        },
    },
    "Seed": SEED_SCHEMA,
    "Health": HEALTH_SCHEMA,
    "Error": ERROR_SCHEMA,
}

RESPONSES = {
    "Invalid": _json("Invalid parameters or body; `fields` says which.", _ref("Error")),
    "Unauthenticated": {
        **_json("No credentials, or a token that is unknown, revoked or expired.", _ref("Error")),
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    },
    "Forbidden": _json(
        "The user lacks a permission, or a session request failed the CSRF check.", _ref("Error")
    ),
    "NotFound": _json("No such object (or page of results).", _ref("Error")),
    "TooLarge": _json("The body is too large.", _ref("Error")),
    "UnsupportedMediaType": _json("The body is not application/json.", _ref("Error")),
}


def get_openapi_document() -> dict:
    """
    The document, with the server URL where the project mounted the API and the site's
    locales as the seed request's choices.
    """
    from wagtail.models import Locale

    v1_root = reverse("enterspeed_sync_api:health").removesuffix("health/").rstrip("/")
    locales = list(Locale.objects.order_by("language_code").values_list("language_code", flat=True))
    seed_scope = copy.deepcopy(SEED_SCOPE)
    seed_scope["properties"]["locales"]["items"]["enum"] = locales
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "enterspeed_sync operations API",
            "version": __version__,
            "description": (
                "Jobs, seeding and health of the Wagtail → Enterspeed sync. Authenticate "
                "with `Authorization: Bearer <token>` (`manage.py enterspeed_api_token "
                "create`) or the Wagtail admin session (CSRF token required for writes). "
                "Permissions are those of the Enterspeed admin area."
            ),
        },
        "servers": [{"url": v1_root}],
        "security": [{"bearerToken": []}, {"adminSession": []}],
        "paths": PATHS,
        "components": {
            "schemas": {**SCHEMAS, "SeedScope": seed_scope},
            "responses": RESPONSES,
            "securitySchemes": {
                "bearerToken": {"type": "http", "scheme": "bearer"},
                "adminSession": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": settings.SESSION_COOKIE_NAME,
                },
            },
        },
    }
