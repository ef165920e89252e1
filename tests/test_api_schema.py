"""
The operations API against its OpenAPI description: the document lists exactly the routes
and methods of the URLconf, and schemathesis calls every operation in-process (Django's
WSGI handler) with generated requests, checking status codes, content types and bodies.
"""

import re

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections, transaction
from django.test import Client
from django.urls import URLPattern, reverse
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from enterspeed_sync.api import urls as api_urls
from enterspeed_sync.api.openapi import PATHS, ROUTE_NAMES, get_openapi_document
from enterspeed_sync.api.tokens import create_token
from enterspeed_sync.delivery.gate import current_source
from enterspeed_sync.models import EnterspeedJob, JobState, LedgerEntry
from tests.test_views import make_user

pytestmark = pytest.mark.django_db

#: Generated requests per operation and generation mode (valid and invalid data).
MAX_EXAMPLES = 30
HTTP_METHODS = {"get", "post", "delete", "put", "patch"}
OPERATIONS = [
    (path, method) for path, item in PATHS.items() for method in item if method in HTTP_METHODS
]
#: Fixed ids so that generated requests also hit existing jobs, not only 404s.
FAILED_ID, PENDING_ID, PROCESSING_ID = 1_000_001, 1_000_002, 1_000_003


# The document and the URLconf ---------------------------------------------------------------


def implemented_methods(pattern: URLPattern) -> set[str]:
    view_class = pattern.callback.view_class
    return {method for method in HTTP_METHODS if hasattr(view_class, method)}


def test_the_document_lists_exactly_the_routes_and_methods():
    routes = {
        pattern.name: pattern
        for pattern in api_urls.urlpatterns
        if isinstance(pattern, URLPattern) and pattern.name != "not_found"
    }
    assert set(ROUTE_NAMES.values()) == set(routes)
    assert set(ROUTE_NAMES) == set(PATHS)
    server = get_openapi_document()["servers"][0]["url"]
    for path, name in ROUTE_NAMES.items():
        documented = {method for method in PATHS[path] if method in HTTP_METHODS}
        assert documented == implemented_methods(routes[name]), path
        # The documented path is where the route really is.
        args = [FAILED_ID if p == "id" else "a" * 32 for p in re.findall(r"{(\w+)}", path)]
        assert server + re.sub(r"{\w+}", "{}", path).format(*args) == reverse(
            f"enterspeed_sync_api:{name}", args=args
        )


def test_the_served_document_is_valid_openapi(django_user_model):
    user = make_user(django_user_model, "reader", "view_enterspeedjob")
    raw = create_token(user)[1]
    response = Client().get(
        reverse("enterspeed_sync_api:openapi"), HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    document = response.json()
    assert document == get_openapi_document()
    assert document["openapi"].startswith("3.1")
    schemathesis.openapi.from_dict(document).validate()


# Schemathesis ---------------------------------------------------------------------------------


@pytest.fixture
def wsgi_app():
    """
    Django's real WSGI handler. Requests must not close the test's database connection
    (it holds the test transaction), as Django's own test client also arranges.
    """
    handler = WSGIHandler()

    def app(environ, start_response):
        # Again on every call: Django's test client reconnects them after each request.
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)
        return handler(environ, start_response)

    try:
        yield app
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_data(site_tree, django_user_model):
    """A token with every permission, jobs in each state, a ledger entry and a seed."""
    user = make_user(django_user_model, "operator", superuser=True)
    raw = create_token(user, name="schemathesis")[1]
    for pk, state in ((FAILED_ID, JobState.FAILED), (PENDING_ID, JobState.PENDING),
                      (PROCESSING_ID, JobState.PROCESSING)):  # fmt: skip
        EnterspeedJob.objects.create(
            pk=pk,
            entity_type="page",
            entity_id=str(site_tree["posts"][0].pk if pk == FAILED_ID else pk),
            origin_id=f"page-{pk}",
            job_type="publish",
            state=state,
            error="Enterspeed rejected the request (HTTP 422, X): bad" if pk == FAILED_ID else "",
        )
    LedgerEntry.objects.create(key_hash=current_source().key_hash, origin_id="page-1")
    seed = Client().post(
        reverse("enterspeed_sync_api:seeds"),
        "{}",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    return {"headers": {"Authorization": f"Bearer {raw}"}, "seed_id": seed.json()["id"]}


def strategies_for(operation, api_data):
    """Generated requests, plus the same with the path pointing at existing objects."""
    fixed = []
    names = {parameter.name for parameter in operation.path_parameters}
    if "id" in names:
        fixed = [{"id": pk} for pk in (FAILED_ID, PENDING_ID, PROCESSING_ID)]
    elif "seed_id" in names:
        fixed = [{"seed_id": api_data["seed_id"]}]
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    generated = [operation.as_strategy(generation_mode=mode) for mode in modes]
    pointed = [
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE, path_parameters=params)
        for params in fixed
    ]
    return st.one_of(*generated, *pointed)


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_every_operation_conforms_to_the_schema(path, method, wsgi_app, api_data):
    schema = schemathesis.openapi.from_wsgi(
        reverse("enterspeed_sync_api:openapi"), wsgi_app, headers=api_data["headers"]
    )
    operation = schema[path][method.upper()]
    excluded = []
    if (path, method) == ("/seeds/", "post"):
        # A generated page id rarely names a page, and no schema can say which ones exist:
        # a 400 for exactly that field is the right answer (checked below).
        excluded = [positive_data_acceptance]
    cases = []

    @settings(
        max_examples=MAX_EXAMPLES * 2,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategies_for(operation, api_data))
    def check(case):
        cases.append(case)
        # Each request starts from the same data: a delete or retry is undone afterwards.
        savepoint = transaction.savepoint()
        try:
            response = case.call_and_validate(headers=api_data["headers"], excluded_checks=excluded)
            assert response.headers["content-type"] == ["application/json"]  # never HTML
            if excluded and response.status_code == 400 and case.meta.generation.mode.is_positive:
                assert set(response.json()["fields"]) == {"root_page"}, response.json()
        finally:
            transaction.savepoint_rollback(savepoint)

    check()
    assert len(cases) >= MAX_EXAMPLES
    print(f"{method.upper()} {path}: {len(cases)} cases")  # noqa: T201 - the report's count
