"""
The fault switches on the stand-in's page, over HTTP as a browser's form posts them, judged
by the real client: the next N requests fail with the chosen status, an outage closes
connections, latency runs past the client's timeout, and the page shows what is on and what
each recent request was answered.
"""

import pytest
import requests

from enterspeed_sync.delivery.client import (
    EnterspeedClient,
    EnterspeedConnectionError,
    EnterspeedHTTPError,
)
from enterspeed_sync.testing import IngestStandIn
from enterspeed_sync.testing.controls import SwitchRefused, check_caller

KEY = "source-switch-tests"
ENTITY = {"type": "blogPage", "url": "/a/", "properties": {"title": "A"}}


@pytest.fixture
def server():
    with IngestStandIn(api_keys=[KEY]) as standin:
        yield standin


@pytest.fixture
def client(server):
    with EnterspeedClient(api_key=KEY, base_url=server.url, timeout=2) as client:
        yield client


def switch(server, name, **form):
    """Post a switch's form the way the page's does (same origin)."""
    return requests.post(
        f"{server.url}/_standin/faults/{name}",
        data=form,
        headers={"Origin": server.url},
        allow_redirects=False,
        timeout=5,
    )


def page(server):
    return requests.get(server.url + "/", timeout=5).text


def test_fail_next_three_with_500_then_recovery(server, client):
    response = switch(server, "fail-next", count="3", status="500", retry_after="")
    assert (response.status_code, response.headers["Location"]) == (303, "/#faults")
    assert "Failing the next 3 requests with 500." in page(server)
    for _ in range(3):
        with pytest.raises(EnterspeedHTTPError) as info:
            client.save("page-1", ENTITY)
        assert info.value.status == 500
        assert "Internal server error" in str(info.value)
    client.save("page-1", ENTITY)
    assert "page-1" in server.entities
    html = page(server)
    assert "No faults: every request is answered as Enterspeed would." in html
    assert html.count("data-status='500'") == 3
    assert "500 Internal server error (injected)" in html
    assert html.count("data-status='200'") == 1


@pytest.mark.parametrize(
    ("status", "retry_after", "error_code"),
    [("429", 7, None), ("503", 4, None), ("401", None, None), ("422", None, "s-1001")],
)
def test_each_status_answers_as_enterspeed_would(server, client, status, retry_after, error_code):
    switch(server, "fail-next", count="1", status=status, retry_after=str(retry_after or ""))
    with pytest.raises(EnterspeedHTTPError) as info:
        client.save("page-1", ENTITY)
    assert info.value.status == int(status)
    assert info.value.retry_after == retry_after
    assert info.value.error_code == error_code
    client.save("page-1", ENTITY)


def test_outage_on_and_off(server, client):
    assert switch(server, "outage", on="1").status_code == 303
    assert "Outage: every ingest connection is closed without an answer." in page(server)
    with pytest.raises(EnterspeedConnectionError):
        client.save("page-1", ENTITY)
    assert "no answer: connection closed (outage)" in page(server)
    assert server.requests == []  # unanswered: listed on the page only
    switch(server, "outage", on="0")
    client.save("page-1", ENTITY)
    assert "page-1" in server.entities


def test_latency_past_the_client_timeout(server):
    switch(server, "latency", ms="400")
    assert "Latency: 400 ms before each answer." in page(server)
    with EnterspeedClient(api_key=KEY, base_url=server.url, timeout=0.1) as impatient:
        with pytest.raises(EnterspeedConnectionError) as info:
            impatient.save("page-1", ENTITY)
    assert info.value.timed_out
    switch(server, "latency", ms="0")
    assert server.latency == 0


def test_all_faults_off(server, client):
    switch(server, "fail-next", count="5", status="503", retry_after="1")
    switch(server, "outage", on="1")
    switch(server, "latency", ms="50")
    switch(server, "off")
    state = requests.get(server.url + "/_standin/faults", timeout=5).json()
    assert (state["fail_next"], state["outage"], state["latency_ms"]) == ([], False, 0)
    client.save("page-1", ENTITY)


@pytest.mark.parametrize(
    ("name", "form", "status", "reason"),
    [
        ("fail-next", {"count": "0", "status": "500"}, 400, "count must be a whole number"),
        ("fail-next", {"count": "2", "status": "200"}, 400, "status must be one of"),
        ("fail-next", {"count": "x", "status": "500"}, 400, "count must be a whole number"),
        ("fail-next", {"count": "1", "status": "429", "retry_after": "-1"}, 400, "retry_after"),
        ("outage", {"on": "yes"}, 400, "on must be 1"),
        ("latency", {"ms": "1.5"}, 400, "ms must be a whole number"),
        ("everything", {}, 404, "There is no fault switch"),
    ],
)
def test_a_bad_value_changes_nothing_and_says_why(server, client, name, form, status, reason):
    before = server.switches()
    response = switch(server, name, **form)
    assert response.status_code == status
    assert reason in response.text
    assert server.switches() == before
    client.save("page-1", ENTITY)


def test_a_form_from_another_site_is_refused(server, client):
    response = requests.post(
        server.url + "/_standin/faults/outage",
        data={"on": "1"},
        headers={"Origin": "http://evil.example"},
        timeout=5,
    )
    assert response.status_code == 403
    assert "only take forms from the stand-in" in response.text
    assert server.switches()["outage"] is False
    client.save("page-1", ENTITY)


def test_only_this_machine_may_switch():
    check_caller("127.0.0.1", "127.0.0.1:8765", None)
    check_caller("::1", "[::1]:8765", "http://[::1]:8765")
    for host in ("192.0.2.7", "10.0.0.2", "not-an-address"):
        with pytest.raises(SwitchRefused) as info:
            check_caller(host, "127.0.0.1:8765", None)
        assert info.value.status == 403
