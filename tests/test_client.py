"""The ingest client against `responses`: every status of the contract."""

import json
import subprocess
import sys

import pytest
import requests
import responses

from enterspeed_sync import __version__
from enterspeed_sync.delivery.client import (
    EnterspeedClient,
    EnterspeedConnectionError,
    EnterspeedHTTPError,
    parse_retry_after,
)

BASE = "https://api.enterspeed.test"
KEY = "source-1234567890abcdef"


@pytest.fixture
def client():
    return EnterspeedClient(api_key=KEY, base_url=BASE + "/", timeout=(2, 7))


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


def url(origin_id="page-1"):
    return f"{BASE}/ingest/v2/{origin_id}"


ENTITY = {"type": "blogPage", "properties": {"title": "Blåbær"}}


def test_save_sends_the_entity_with_the_contract_headers(client, api):
    api.post(url(), json={"status": 200, "message": "Processing has been initiated."})
    result = client.save("page-1", ENTITY)
    assert (result.status, result.message) == (200, "Processing has been initiated.")
    request = api.calls[0].request
    assert request.headers["X-Api-Key"] == KEY
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"].startswith(f"enterspeed-sync/{__version__} ")
    assert request.headers["X-Enterspeed-System"] == f"enterspeed-sync/{__version__}"
    assert int(request.headers["Content-Length"]) == len(request.body)
    assert "Transfer-Encoding" not in request.headers
    assert "X-Enterspeed-Force-Type" not in request.headers
    assert json.loads(request.body) == ENTITY
    assert "Blåbær".encode() in request.body  # UTF-8, not \\u escapes


def test_origin_ids_are_percent_encoded(client, api):
    api.post(f"{BASE}/ingest/v2/page-1%2F%C3%A4%20b%3Fx", json={"status": 200})
    client.save("page-1/ä b?x", ENTITY)
    assert api.calls[0].request.url == f"{BASE}/ingest/v2/page-1%2F%C3%A4%20b%3Fx"


def test_force_type_header(client, api):
    api.post(url(), json={"status": 200})
    client.save("page-1", ENTITY, force_type=True)
    assert api.calls[0].request.headers["X-Enterspeed-Force-Type"] == "true"


def test_timeout_is_passed_on_every_request(api):
    seen = []

    class Session(requests.Session):
        def request(self, *args, **kwargs):
            seen.append(kwargs["timeout"])
            return super().request(*args, **kwargs)

    api.post(url(), json={"status": 200})
    api.delete(url(), json={"status": 200})
    client = EnterspeedClient(api_key=KEY, base_url=BASE, timeout=(2, 7), session=Session())
    client.save("page-1", ENTITY)
    client.delete("page-1")
    assert seen == [(2, 7), (2, 7)]


def test_delete(client, api):
    api.delete(url(), json={"status": 200, "message": "Deleted"})
    result = client.delete("page-1")
    assert (result.status, result.already_gone) == (200, False)


def test_delete_of_an_entity_that_is_gone_is_a_success(client, api):
    api.delete(url(), status=404, json={"status": 404, "message": "No entity found with that id"})
    result = client.delete("page-1")
    assert (result.status, result.already_gone) == (404, True)


@pytest.mark.parametrize(
    ("status", "retryable", "lead"),
    [
        (400, False, "Enterspeed rejected the request (HTTP 400)"),
        (401, False, "Enterspeed refused the API key (HTTP 401)"),
        (403, False, "The API key has no ingest access (HTTP 403)"),
        (404, False, "Enterspeed rejected the request (HTTP 404)"),
        (413, False, "Enterspeed rejected the request (HTTP 413"),
        (422, False, "Enterspeed rejected the request (HTTP 422"),
        (429, True, "Enterspeed is rate limiting requests (HTTP 429)"),
        (500, True, "Enterspeed had a server error (HTTP 500)"),
        (502, True, "Enterspeed had a server error (HTTP 502)"),
        (503, True, "Enterspeed had a server error (HTTP 503)"),
        (418, True, "Enterspeed rejected the request (HTTP 418)"),
    ],
)
def test_each_error_status(client, api, status, retryable, lead):
    api.post(url(), status=status, json={"status": status, "message": "Nope"})
    with pytest.raises(EnterspeedHTTPError) as info:
        client.save("page-1", ENTITY)
    error = info.value
    assert error.status == status
    assert error.retryable is retryable
    assert error.is_auth_error is (status in (401, 403))
    assert str(error).startswith(lead)
    assert KEY not in str(error) and KEY not in repr(error)


def test_validation_errors_carry_enterspeeds_details(client, api):
    api.post(
        url(),
        status=422,
        json={
            "status": 422,
            "message": "Invalid request",
            "errorCode": "s-1001",
            "errors": {"properties.123": "Property name cannot start with a digit"},
        },
    )
    with pytest.raises(EnterspeedHTTPError) as info:
        client.save("page-1", ENTITY)
    error = info.value
    assert error.error_code == "s-1001"
    assert error.errors == {"properties.123": "Property name cannot start with a digit"}
    assert str(error) == (
        "Enterspeed rejected the request (HTTP 422, s-1001): Invalid request. "
        "properties.123: Property name cannot start with a digit"
    )


def test_too_large(client, api):
    body = {"status": 413, "message": "Source entity size exceeds 5242880", "errorCode": "s-1007"}
    api.post(url(), status=413, json=body)
    with pytest.raises(EnterspeedHTTPError, match=r"HTTP 413, s-1007\): Source entity size"):
        client.save("page-1", ENTITY)


def test_rate_limit_with_retry_after_seconds(client, api):
    api.post(url(), status=429, headers={"Retry-After": "7"}, json={"status": 429})
    with pytest.raises(EnterspeedHTTPError) as info:
        client.save("page-1", ENTITY)
    assert info.value.retry_after == 7
    assert "(retry after 7 s)" in str(info.value)


def test_retry_after_as_http_date():
    assert parse_retry_after("Sun, 22 Nov 2026 12:00:10 GMT", now=1795348800.0) == 10
    assert parse_retry_after("Sun, 22 Nov 2026 11:00:00 GMT", now=1795348800.0) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_an_html_error_page_still_gives_a_clear_message(client, api):
    api.post(url(), status=502, body="<html><body>Bad gateway</body></html>")
    with pytest.raises(EnterspeedHTTPError) as info:
        client.save("page-1", ENTITY)
    assert info.value.retryable
    assert str(info.value) == "Enterspeed had a server error (HTTP 502): Bad Gateway"
    assert "Bad gateway" in info.value.body


def test_network_errors_and_timeouts(client, api):
    api.post(url(), body=requests.ConnectionError("connection refused"))
    with pytest.raises(EnterspeedConnectionError) as info:
        client.save("page-1", ENTITY)
    assert info.value.retryable and not info.value.timed_out
    assert "Could not reach Enterspeed at https://api.enterspeed.test" in str(info.value)

    api.delete(url(), body=requests.ReadTimeout("read timed out"))
    with pytest.raises(EnterspeedConnectionError) as info:
        client.delete("page-1")
    assert info.value.timed_out
    assert "did not answer within 2 s (connect) / 7 s (read)" in str(info.value)


def test_connection_test(client, api):
    probe = url("enterspeed-sync-connection-test")
    api.post(probe, status=422, json={"status": 422, "message": "Invalid request"})
    api.post(probe, status=401, json={"status": 401, "message": "Unauthorized"})
    api.post(probe, body=requests.ConnectionError("refused"))
    ok, bad_key, down = (client.test_connection() for _ in range(3))
    assert (ok.ok, ok.status) == (True, 422)
    assert (bad_key.ok, bad_key.status) == (False, 401)
    assert "refused the API key" in bad_key.message
    assert (down.ok, down.status) == (False, None)
    assert json.loads(api.calls[0].request.body) == {}


def test_the_client_imports_no_django():
    code = "import enterspeed_sync.delivery.client, sys; assert 'django' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# Bulk -----------------------------------------------------------------------------------


BULK = f"{BASE}/ingest/v2"


def test_bulk_save_sends_one_array_and_sorts_the_verdicts(client, api):
    api.post(
        BULK,
        json={
            "status": 200,
            "changedSourceEntities": ["page-1"],
            "unchangedSourceEntities": ["page-2"],
            "errors": {"entities[2]": ["properties.1x: Property name cannot start with a digit"]},
        },
    )
    result = client.save_bulk([(f"page-{i}", ENTITY) for i in (1, 2, 3, 4)])
    body = json.loads(api.calls[0].request.body)
    assert [item["originId"] for item in body] == ["page-1", "page-2", "page-3", "page-4"]
    assert body[0]["properties"] == ENTITY["properties"]
    assert result.accepted == ("page-1", "page-2")
    assert result.errors == {"page-3": "properties.1x: Property name cannot start with a digit"}
    assert result.unreported == ("page-4",)


def test_bulk_save_where_every_entity_is_invalid_is_a_result_not_an_exception(client, api):
    api.post(BULK, status=422, json={"status": 422, "message": "Invalid request", "errors": {}})
    result = client.save_bulk([("page-1", ENTITY), ("page-2", ENTITY)])
    assert result.accepted == ()
    assert result.errors == {"page-1": "Invalid request", "page-2": "Invalid request"}


def test_an_answer_without_result_lists_accepts_nothing(client, api):
    api.delete(BULK, json={"status": 200, "errors": {"page-2": "Locked"}})
    result = client.delete_bulk(["page-1", "page-2"])
    assert json.loads(api.calls[0].request.body) == {"originIds": ["page-1", "page-2"]}
    assert result.accepted == () and result.errors == {"page-2": "Locked"}
    assert result.unreported == ("page-1",)  # sent again


@pytest.mark.parametrize("status", [400, 404])
def test_an_account_without_bulk_raises_bulk_not_available(client, api, status):
    from enterspeed_sync.delivery.client import BulkNotAvailable

    api.post(BULK, status=status, json={"error": "Bulk ingest not available for this tenant"})
    with pytest.raises(BulkNotAvailable) as caught:
        client.save_bulk([("page-1", ENTITY)])
    assert caught.value.status == status and not caught.value.retryable


def test_bulk_requests_take_at_most_50_entities(client):
    with pytest.raises(ValueError, match="at most 50"):
        client.delete_bulk([f"page-{i}" for i in range(51)])


# Bulk answers fail safe -----------------------------------------------------------------


def test_a_422_accepts_nothing_even_when_it_lists_entities(client, api):
    api.post(
        BULK,
        status=422,
        json={
            "status": 422,
            "changedSourceEntities": ["page-1"],
            "errors": {"page-2": ["type: Type is required"]},
        },
    )
    result = client.save_bulk([("page-1", ENTITY), ("page-2", ENTITY)])
    assert result.accepted == ()
    assert result.errors == {"page-2": "type: Type is required"}
    assert result.unresolved == ("page-1",) and result.unreported == ()


def test_errors_keyed_by_a_field_path_leave_the_entities_unresolved(client, api):
    # The answer of the issue: a 422 whose errors name a property, not an entity.
    answer = {"status": 422, "message": "Invalid request", "errors": {"properties.1x": ["bad"]}}
    api.post(BULK, status=422, json=answer)
    result = client.save_bulk([("page-1", ENTITY), ("page-2", ENTITY), ("page-3", ENTITY)])
    assert result.accepted == () and result.errors == {}
    assert result.unresolved == ("page-1", "page-2", "page-3")


def test_an_unattributable_error_with_one_entity_is_that_entitys(client, api):
    api.post(BULK, status=422, json={"status": 422, "errors": {"properties.1x": ["bad"]}})
    result = client.save_bulk([("page-1", ENTITY)])
    assert result.accepted == () and result.unresolved == ()
    assert result.errors == {"page-1": "properties.1x: bad"}


def test_a_200_with_an_unattributable_error_accepts_only_what_it_lists(client, api):
    api.post(
        BULK,
        json={
            "status": 200,
            "changedSourceEntities": ["page-1"],
            "unchangedSourceEntities": ["page-3"],
            "errors": {"properties.title": ["Title is not allowed"], "entities[7]": ["?"]},
        },
    )
    result = client.save_bulk([(f"page-{i}", ENTITY) for i in (1, 2, 3)])
    assert result.accepted == ("page-1", "page-3")
    assert result.unresolved == ("page-2",) and result.errors == {}


def test_an_answer_without_lists_and_with_an_unattributable_error_accepts_nothing(client, api):
    api.delete(BULK, json={"status": 200, "errors": {"originIds": ["Locked"]}})
    result = client.delete_bulk(["page-1", "page-2"])
    assert result.accepted == () and result.unresolved == ("page-1", "page-2")


def test_an_entity_both_listed_and_refused_is_refused(client, api):
    api.post(
        BULK,
        json={
            "status": 200,
            "changedSourceEntities": ["page-1", "page-2"],
            "errors": {"page-2": ["Locked"]},
        },
    )
    result = client.save_bulk([("page-1", ENTITY), ("page-2", ENTITY)])
    assert result.accepted == ("page-1",) and result.errors == {"page-2": "Locked"}
