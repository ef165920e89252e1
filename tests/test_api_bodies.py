"""
Every malformed body sent to every write endpoint of the operations API gets a clear 4xx
in JSON, never a 500: too large, nested too deep (a 60 KB body of ``[`` used to exhaust the
parser's recursion), not JSON, not UTF-8, a number too long to read, not an object.
"""

import json
import re

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from enterspeed_sync.api.endpoints import generated_document
from enterspeed_sync.api.errors import MAX_BODY_BYTES, MAX_JSON_DEPTH, json_depth
from enterspeed_sync.api.tokens import create_token
from enterspeed_sync.models import EnterspeedJob
from tests.test_views import make_user

pytestmark = pytest.mark.django_db

BAD_BODIES = {
    "60 KB of [": (b"[" * 60_000, 400, "nests deeper than"),
    '60 KB of {"a":': (b'{"a":' * 12_000, 400, "nests deeper than"),
    "deep but closed": (b"[" * 1000 + b"]" * 1000, 400, "nests deeper than"),
    "over the size limit": (b" " * (MAX_BODY_BYTES + 1) + b"{}", 413, "larger than"),
    "not JSON": (b"{not json", 400, "not valid JSON"),
    "cut short": (b'{"kinds": ["pa', 400, "not valid JSON"),
    "not UTF-8": (b'{"kinds": "\xff\xfe"}', 400, "not valid JSON"),
    "a number too long to read": (b'{"page": ' + b"9" * 50_000 + b"}", 400, "not valid JSON"),
    "an array": (b"[1, 2]", 400, "must be a JSON object"),
    "a string": (b'"seed"', 400, "must be a JSON object"),
}


def write_routes() -> list[tuple[str, str]]:
    """(method, path) of every endpoint that takes a body, from the OpenAPI document."""
    paths = json.loads(generated_document())["paths"]
    return [
        (method, path)
        for path, methods in paths.items()
        for method in methods
        if method in ("post", "put", "patch", "delete")
    ]


@pytest.fixture
def token(django_user_model):
    user = make_user(django_user_model, "root", superuser=True)
    return create_token(user, name="tests")[1]


def test_there_are_write_routes():
    assert ("post", "/seeds/") in write_routes()


@override_settings(
    ENTERSPEED_SYNC={"API_KEY": "source-0123456789abcdef", "PROCESS_ON_COMMIT": False}
)
@pytest.mark.parametrize(("method", "path"), write_routes())
@pytest.mark.parametrize("name", BAD_BODIES)
def test_every_malformed_body_gets_a_clear_4xx(token, method, path, name):
    body, status, says = BAD_BODIES[name]
    job = EnterspeedJob.objects.create(
        entity_type="page", entity_id="1", job_type="publish", origin_id="page-1"
    )
    base = reverse("enterspeed_sync_api:health").removesuffix("health/")
    url = base + re.sub(r"\{[^}]+\}", str(job.pk), path).lstrip("/")
    response = getattr(Client(), method)(
        url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == status, (url, response.content[:300])
    answer = response.json()
    assert answer["error"] in ("invalid", "too_large") and says in answer["message"]


def test_json_depth_counts_brackets_outside_strings_only():
    assert json_depth(b'{"a": [1, {"b": "[[[[{{{{"}]}') == 3
    assert json_depth(b'["\\"[", []]') == 2
    assert json_depth(b"[" * (MAX_JSON_DEPTH + 1)) == MAX_JSON_DEPTH + 1
    assert json_depth(b"{}") == 1 and json_depth(b"") == 0
