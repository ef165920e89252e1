"""The ingest stand-in follows the contract, exercised by the real client over loopback."""

import json
import subprocess
import sys

import pytest
import requests

from enterspeed_sync.delivery.client import (
    EnterspeedClient,
    EnterspeedConnectionError,
    EnterspeedHTTPError,
)
from enterspeed_sync.testing import IngestStandIn, validate_entity

KEY = "source-standin-tests"


@pytest.fixture
def server():
    with IngestStandIn(api_keys=[KEY, "source-preview"], max_body_bytes=2000) as standin:
        yield standin


@pytest.fixture
def client(server):
    with EnterspeedClient(api_key=KEY, base_url=server.url, timeout=2) as client:
        yield client


def entity(**overrides):
    return {
        "type": "blogPage",
        "url": "https://example.com/a/",
        "properties": {"title": "A"},
    } | overrides


def test_save_update_and_delete(server, client):
    client.save("page-1", entity())
    client.save("page-1", entity(properties={"title": "B"}))
    assert server.entities == {"page-1": entity(properties={"title": "B"})}
    assert client.delete("page-1").already_gone is False
    assert client.delete("page-1").already_gone is True
    assert server.entities == {}
    assert [r.status for r in server.requests] == [200, 200, 200, 404]


@pytest.mark.parametrize(
    ("body", "error_key"),
    [
        ({"properties": {}}, "type"),
        (entity(url="example.com/a"), "url"),
        (entity(redirects="https://example.com/old"), "redirects"),
        (entity(originParentId=12), "originParentId"),
        (entity(properties=[]), "properties"),
        (entity(properties={"1st": 1}), "properties.1st"),
        (entity(properties={"__": 1}), "properties.__"),
        (entity(properties={"a-b": 1}), "properties.a-b"),
        (entity(colour="red"), "colour"),
    ],
)
def test_validation_errors(client, body, error_key):
    with pytest.raises(EnterspeedHTTPError) as info:
        client.save("page-1", body)
    assert info.value.status == 422
    assert info.value.error_code == "s-1001"
    assert error_key in info.value.errors


def test_too_many_properties():
    errors = validate_entity(entity(properties={f"p{i}": i for i in range(6)}), max_properties=5)
    assert "properties" in errors


def test_relative_url_and_redirects_are_fine(client, server):
    client.save("page-1", entity(url="/a/", redirects=["/old/"], originParentId="page-0"))
    assert server.entities["page-1"]["redirects"] == ["/old/"]


def test_unknown_key_is_refused(server):
    client = EnterspeedClient(api_key="source-wrong", base_url=server.url)
    with pytest.raises(EnterspeedHTTPError) as info:
        client.save("page-1", entity())
    assert info.value.status == 401
    assert not client.test_connection().ok


def test_connection_test_accepts_a_good_key(client):
    result = client.test_connection()
    assert (result.ok, result.status) == (True, 422)


def test_too_large_body(client):
    with pytest.raises(EnterspeedHTTPError) as info:
        client.save("page-1", entity(properties={"body": "x" * 3000}))
    assert (info.value.status, info.value.error_code) == (413, "s-1007")


def test_type_cannot_change_unless_forced(client, server):
    client.save("page-1", entity())
    with pytest.raises(EnterspeedHTTPError, match="Type cannot be changed"):
        client.save("page-1", entity(type="newsPage"))
    client.save("page-1", entity(type="newsPage"), force_type=True)
    assert server.entities["page-1"]["type"] == "newsPage"


def test_chunked_bodies_are_refused(server):
    def body():
        yield b'{"type": "x"}'

    response = requests.post(
        f"{server.url}/ingest/v2/page-1",
        data=body(),
        headers={"X-Api-Key": KEY, "Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 400
    assert "Chunked" in response.json()["message"]


def test_wrong_content_type_is_refused(server):
    response = requests.post(
        f"{server.url}/ingest/v2/page-1",
        data=b"type=x",
        headers={"X-Api-Key": KEY, "Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )
    assert response.status_code == 400


def test_injected_failures(client, server):
    server.fail_next(429, retry_after=7)
    server.fail_next(503, origin_id="page-2", count=2)
    with pytest.raises(EnterspeedHTTPError) as info:
        client.save("page-1", entity())
    assert (info.value.status, info.value.retry_after) == (429, 7)
    client.save("page-1", entity())
    for _ in range(2):
        with pytest.raises(EnterspeedHTTPError, match="HTTP 503"):
            client.save("page-2", entity())
    client.save("page-2", entity())
    assert set(server.entities) == {"page-1", "page-2"}


def test_latency_beyond_the_client_timeout(server):
    server.latency = 0.5
    client = EnterspeedClient(api_key=KEY, base_url=server.url, timeout=0.2)
    with pytest.raises(EnterspeedConnectionError) as info:
        client.save("page-1", entity())
    assert info.value.timed_out


def test_outage(client, server):
    server.outage(True)
    with pytest.raises(EnterspeedConnectionError):
        client.save("page-1", entity())
    server.outage(False)
    client.save("page-1", entity())
    assert "page-1" in server.entities


def test_each_key_is_its_own_source(server, client):
    preview = EnterspeedClient(api_key="source-preview", base_url=server.url)
    client.save("page-1", entity())
    preview.save("page-1", entity(properties={"title": "Draft"}))
    assert server.entities["page-1"]["properties"]["title"] == "A"
    assert server.entities_for("source-preview")["page-1"]["properties"]["title"] == "Draft"


def test_bulk_endpoints(server):
    headers = {"X-Api-Key": KEY, "Content-Type": "application/json"}
    body = [entity(originId="page-1"), entity(originId="page-2", type=""), {"type": "x"}]
    response = requests.post(f"{server.url}/ingest/v2", json=body, headers=headers, timeout=5)
    data = response.json()
    assert response.status_code == 200
    assert data["changedSourceEntities"] == ["page-1"]
    assert set(data["errors"]) == {"page-2", "entities[2]"}
    response = requests.delete(
        f"{server.url}/ingest/v2",
        json={"originIds": ["page-1", "page-9"]},
        headers=headers,
        timeout=5,
    )
    assert response.json()["deletedSourceEntities"] == ["page-1"]
    assert response.json()["notFoundSourceEntities"] == ["page-9"]


def delete_statuses(client, count):
    """Delete ``count`` entities that do not exist: 404, or (status, Retry-After) of a refusal."""
    statuses = []
    for i in range(count):
        try:
            client.delete(f"page-{i}")
            statuses.append(404)
        except EnterspeedHTTPError as e:
            statuses.append((e.status, e.retry_after))
    return statuses


def test_throttle_every_answers_every_nth_request_429(client, server):
    server.throttle_every(3, retry_after=2)
    assert delete_statuses(client, 7) == [404, 404, (429, 2), 404, 404, (429, 2), 404]
    assert [r.status for r in server.requests] == [404, 404, 429, 404, 404, 429, 404]
    assert server.faults["throttled"] == 2
    server.faults_off()
    assert client.delete("page-x").already_gone


def test_the_tenant_limit_is_strict_and_says_when_to_come_back(client, server):
    server.rate_limit = 3
    assert delete_statuses(client, 5) == [404, 404, 404, (429, 1), (429, 1)]
    assert server.faults["rate_limit"] == 2 and len(server.requests) == 5


@pytest.mark.parametrize(
    ("keys", "atomic", "status", "errors", "saved"),
    [
        ("origin_id", False, 200, {"page-2": ["properties.1st: Property name cannot "]}, True),
        ("index", False, 200, {"entities[1]": ["properties.1st: Property name cannot "]}, True),
        ("path", False, 200, {"properties.1st": ["Property name cannot "]}, True),
        ("path", True, 422, {"properties.1st": ["Property name cannot "]}, False),
    ],
)
def test_bulk_errors_keyed_as_told(keys, atomic, status, errors, saved):
    bad = entity(properties={"1st": 1})
    with IngestStandIn(api_keys=[KEY], bulk_error_keys=keys, bulk_atomic=atomic) as server:
        body = [{"originId": "page-1", **entity()}, {"originId": "page-2", **bad}]
        response = requests.post(
            f"{server.url}/ingest/v2", json=body, headers={"X-Api-Key": KEY}, timeout=2
        )
        answer = response.json()
        entities = server.entities
    assert response.status_code == status
    got = {
        key: [m[: len(errors[key][0])] for m in value] for key, value in answer["errors"].items()
    }
    assert got == errors
    assert (answer["changedSourceEntities"] == ["page-1"]) is saved
    assert ("page-1" in entities) is saved and "page-2" not in entities


def test_bulk_can_be_unavailable():
    with IngestStandIn(api_keys=[KEY], bulk_enabled=False) as server:
        response = requests.post(
            f"{server.url}/ingest/v2", json=[], headers={"X-Api-Key": KEY}, timeout=5
        )
    assert response.status_code == 400
    assert "Bulk ingest not available" in response.json()["message"]


def test_overview_page_escapes_content(client, server):
    client.save("page-1", entity(properties={"title": "<script>alert(1)</script>"}))
    page = requests.get(server.url + "/", timeout=5).text
    assert "&lt;script&gt;" in page and "<script>alert" not in page
    data = requests.get(server.url + "/_standin/entities", timeout=5).json()
    assert KEY not in json.dumps(data)
    assert any("page-1" in source for source in data.values())


def test_peak_per_second_counts_the_busiest_second(server):
    from enterspeed_sync.testing import RecordedRequest

    for arrived in (0.0, 0.2, 0.9, 1.0, 1.1, 1.15, 3.0):
        server._record(RecordedRequest("POST", "/", None, None, {}, None, 200, {}, arrived))
    # 1.0, 1.1 and 1.15 with 0.2 and 0.9: five within one second (0.2 ≤ t < 1.2).
    assert server.peak_per_second() == 5


def test_the_standin_is_an_independent_oracle():
    # Its contract checks are written from the contract: sharing the client's, the mapping's
    # or the validation's code would let the product agree with itself.
    code = (
        "import sys, enterspeed_sync.testing\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'wagtail')\n"
        "    or m.startswith('enterspeed_sync.') and not m.startswith('enterspeed_sync.testing'))\n"
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_python_m_runs_the_standin_with_its_page(tmp_path):
    # docs/testing.md and the sandbox run it as `python -m enterspeed_sync.testing`.
    process = subprocess.Popen(
        [sys.executable, "-m", "enterspeed_sync.testing", "--port", "0", "--api-key", "source-cli"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("Ingest stand-in listening on http://127.0.0.1:")
        url = line.split()[4]
        page = requests.get(url + "/", timeout=5)
        assert page.status_code == 200
        assert "What Enterspeed received" in page.text
        assert "source-c…i" in page.text
    finally:
        process.terminate()
        process.wait(timeout=10)
