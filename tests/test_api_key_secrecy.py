"""
The API key goes into the X-Api-Key header and nowhere else, however it was configured: read
from a file with its newline, pasted with a space, or with a stray control character or a
character outside ASCII inside it. Whitespace around the key is dropped (check W024); a key
that cannot go into a header is a configuration error (check E015) that stops sending with
a reason, never a retried job. After each, the key is looked for in the logs, the job rows,
the sending state, the ledger, django-q2's task rows, every GET of the operations API and
every page of the admin area.
"""

import json
import logging
import re

import pytest
from django.core.checks import run_checks
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from enterspeed_sync.api.endpoints import generated_document
from enterspeed_sync.api.tokens import create_token
from enterspeed_sync.conf import conf
from enterspeed_sync.delivery.client import EnterspeedClient, InvalidAPIKey, scrub_key
from enterspeed_sync.delivery.retries import Verdict, classify
from enterspeed_sync.models import EnterspeedJob, LedgerEntry, SourceState
from enterspeed_sync.processing.runner import process_pending_jobs
from enterspeed_sync.testing import IngestStandIn
from tests.test_views import make_user

KEY = "source-5f0c9a1e2b3d4c5e6f708192a3b4c5d6"
#: Keys with whitespace around them: used without it (W024), and they work.
STRIPPED = {
    "trailing newline": KEY + "\n",
    "leading space": " " + KEY,
    "CRLF and spaces": "\r\n " + KEY + " \r\n",
    "tabs": "\t" + KEY + "\t",
}
#: Keys that cannot go into a header: a configuration error (E015), nothing is sent.
UNSENDABLE = {
    "inner newline": (KEY[:20] + "\n" + KEY[20:], "a line break"),
    "inner CRLF": (KEY[:20] + "\r\n" + KEY[20:], "a line break"),
    "control character": (KEY[:20] + "\x07" + KEY[20:], "a control character"),
    "NUL at the end": (KEY + "\x00", "a control character"),
    "outside latin-1": (KEY + "\u2019", "a character outside ASCII"),
    "latin-1, not ASCII": (KEY[:-1] + "é", "a character outside ASCII"),
    "inner space": (KEY[:20] + " " + KEY[20:], "whitespace"),
}


def needles(raw: str) -> set[str]:
    """What must appear nowhere: the key as configured, as used, as a repr escapes it, and
    every piece of it of 12 characters or more between stray characters."""
    pieces = {piece for piece in re.split(r"[^\x21-\x7e]+", raw) if len(piece) >= 12}
    return {raw, raw.strip(), repr(raw)[1:-1], *pieces}


def assert_nowhere(texts: dict[str, str], raw: str) -> None:
    for where, text in texts.items():
        for needle in needles(raw):
            assert needle not in text, f"the key appears in {where}"


def settings_for(raw: str, standin: IngestStandIn) -> dict:
    return {
        "API_KEY": raw,
        "BASE_URL": standin.url,
        "PROCESS_ON_COMMIT": False,
        "RETRY_WAIT_SECONDS": 0,
        "RATE_LIMIT": 0,
    }


def everything_shown(caplog) -> dict[str, str]:
    """Every place a key could leak to, as text."""
    texts = {
        "logs": "\n".join(
            f"{record.getMessage()} {record.exc_text or ''}" for record in caplog.records
        ),
        "job rows": repr(list(EnterspeedJob.objects.values())),
        "SourceState": repr(list(SourceState.objects.values())),
        "ledger": repr(list(LedgerEntry.objects.values())),
    }
    from django_q.models import Failure, Success  # django_q: the task rows

    texts["django-q2 tasks"] = repr(list(Success.objects.values()) + list(Failure.objects.values()))
    texts.update(api_responses())
    texts.update(admin_pages())
    return texts


def api_responses() -> dict[str, str]:
    """Every GET of the operations API (from its OpenAPI document), as a view-only
    monitoring token sees it; each job's own page too."""
    user = make_user_once("monitor", "view_enterspeedjob")
    raw_token = create_token(user, name="monitoring")[1]
    base = reverse("enterspeed_sync_api:health").removesuffix("health/")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    texts = {}
    paths = json.loads(generated_document())["paths"]
    job_ids = list(EnterspeedJob.objects.values_list("pk", flat=True)) or [1]
    for path, methods in paths.items():
        if "get" not in methods:
            continue
        for job_id in job_ids if "{" in path else [None]:
            url = base + re.sub(r"\{[^}]+\}", str(job_id), path).lstrip("/")
            response = client.get(url)
            assert response.status_code in (200, 404, 503), (url, response.status_code)
            texts[f"GET {url}"] = response.content.decode()
    assert any(url.endswith("/jobs/") for url in texts) and any("health" in u for u in texts)
    return texts


def admin_pages() -> dict[str, str]:
    """Every page of the Enterspeed admin area (and Wagtail's home, with its panel), and
    what "Test connection" says on the dashboard."""
    user = make_user_once("root", superuser=True)
    client = Client()
    client.force_login(user)
    urls = [
        reverse("wagtailadmin_home"),
        reverse("enterspeed_sync:dashboard"),
        reverse("enterspeed_sync:status"),
        reverse("enterspeed_sync:jobs"),
        reverse("enterspeed_sync:jobs") + "?state=pending",
        reverse("enterspeed_sync:jobs_results"),
        reverse("enterspeed_sync:self_test"),
        *(
            reverse("enterspeed_sync:job", args=[pk])
            for pk in EnterspeedJob.objects.values_list("pk", flat=True)
        ),
    ]
    texts = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        texts[f"admin {url}"] = response.content.decode()
    tested = client.post(reverse("enterspeed_sync:test_connection"), follow=True)
    texts["admin Test connection"] = tested.content.decode()
    return texts


def make_user_once(username, *codenames, superuser=False):
    from django.contrib.auth import get_user_model

    existing = get_user_model().objects.filter(username=username).first()
    return existing or make_user(get_user_model(), username, *codenames, superuser=superuser)


@pytest.fixture
def standin():
    with IngestStandIn(api_keys=[KEY]) as server:
        yield server


@pytest.fixture
def all_logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.mark.django_db
@pytest.mark.parametrize("raw", STRIPPED.values(), ids=STRIPPED.keys())
def test_whitespace_around_the_key_is_dropped_and_the_key_leaks_nowhere(
    site_tree, standin, all_logs, raw
):
    with override_settings(ENTERSPEED_SYNC=settings_for(raw, standin)):
        assert conf.API_KEY == KEY
        messages = [m for m in run_checks() if (m.id or "").startswith("enterspeed_sync.")]
        ids = [m.id for m in messages]
        assert "enterspeed_sync.W024" in ids and "enterspeed_sync.E015" not in ids
        for post in site_tree["posts"]:
            post.save_revision().publish()
        expected = set(EnterspeedJob.objects.values_list("origin_id", flat=True))
        # An upstream that echoes the key in its error: masked out of the job's error.
        standin.fail_next(500, body={"status": 500, "message": f"Bad X-Api-Key {KEY}"})
        result = process_pending_jobs()
        assert result.retried == len(expected)
        assert all("Bad X-Api-Key source-…c5d6" in j.error for j in EnterspeedJob.objects.all())
        EnterspeedJob.objects.update(next_attempt_at=timezone.now())
        assert process_pending_jobs().succeeded == len(expected)
        texts = everything_shown(all_logs)
        texts["check messages"] = "\n".join(f"{m.msg} {m.hint}" for m in messages)
    assert set(standin.entities) == expected
    assert {request.api_key for request in standin.requests} == {KEY}  # the header held it
    assert_nowhere(texts, raw)


@pytest.mark.django_db
@pytest.mark.parametrize(("raw", "why"), UNSENDABLE.values(), ids=UNSENDABLE.keys())
def test_a_key_that_cannot_go_into_a_header_stops_sending_and_leaks_nowhere(
    site_tree, standin, all_logs, raw, why
):
    with override_settings(ENTERSPEED_SYNC=settings_for(raw, standin)):
        messages = [m for m in run_checks() if (m.id or "").startswith("enterspeed_sync.")]
        assert "enterspeed_sync.E015" in [m.id for m in messages]
        (error,) = [m for m in messages if m.id == "enterspeed_sync.E015"]
        assert error.msg == (
            f"ENTERSPEED_SYNC['API_KEY'] cannot be sent as the X-Api-Key header: it contains {why}."
        )
        for post in site_tree["posts"]:
            post.save_revision().publish()
        count = EnterspeedJob.objects.count()
        result = process_pending_jobs()
        assert (result.stopped, result.released, result.retried) == ("auth", count, 0)
        # The next run tests the key again (the refused-key probe): still stopped.
        assert process_pending_jobs().stopped == "auth"
        reason = f"The API key cannot be sent in the X-Api-Key header: it contains {why}."
        for job in EnterspeedJob.objects.all():
            assert (job.state, job.attempts) == ("pending", 0)  # not a retried job
            assert reason in job.error
        (state,) = SourceState.objects.all()
        assert reason in state.auth_error
        health = Client(
            HTTP_AUTHORIZATION="Bearer "
            + create_token(make_user_once("health", "view_enterspeedjob"), name="h")[1]
        ).get(reverse("enterspeed_sync_api:health"))
        assert reason in health.json()["message"]
        texts = everything_shown(all_logs)
        texts["check messages"] = "\n".join(f"{m.msg} {m.hint}" for m in messages)
    assert standin.requests == [] and standin.recent() == []  # nothing was sent
    assert_nowhere(texts, raw)


@pytest.mark.parametrize(("raw", "why"), UNSENDABLE.values(), ids=UNSENDABLE.keys())
def test_the_client_refuses_the_key_before_sending(standin, raw, why):
    with EnterspeedClient(api_key=raw, base_url=standin.url, timeout=5) as client:
        with pytest.raises(InvalidAPIKey) as raised:
            client.save("page-1", {"type": "page", "properties": {}})
        result = client.test_connection()
    assert why in str(raised.value) and classify(raised.value).verdict == Verdict.AUTH
    assert not result.ok and why in result.message
    assert_nowhere({"error": str(raised.value), "connection test": result.message}, raw)
    assert standin.recent() == []


def test_an_exception_that_quotes_the_key_is_masked_and_not_chained():
    """``requests`` quotes a refused header whole; whatever raises below the client, its
    text reaches no one with the key in it, not even as the error's cause."""

    class Quoting:
        def request(self, *args, **kwargs):
            import requests

            raise requests.exceptions.InvalidHeader(
                f"Invalid return character or leading space in header: X-Api-Key: {KEY!r}"
            )

        def close(self):
            pass

    client = EnterspeedClient(api_key=KEY, base_url="http://127.0.0.1:9", session=Quoting())
    with pytest.raises(Exception) as raised:
        client.delete("page-1")
    assert "InvalidHeader" in str(raised.value) and "source-…c5d6" in str(raised.value)
    assert KEY not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_scrub_key_masks_every_form_of_the_key():
    raw = KEY[:20] + "\n" + KEY[20:]
    text = f"a {raw} b {raw!r} c {KEY[:20]} d"
    scrubbed = scrub_key(text, raw)
    assert_nowhere({"scrubbed": scrubbed}, raw)
    assert scrubbed.startswith("a ") and scrubbed.endswith(" d")


def test_a_key_of_the_wrong_type_is_named_by_its_type_not_shown():
    with override_settings(ENTERSPEED_SYNC={"API_KEY": KEY.encode()}):
        messages = [m for m in run_checks() if m.id == "enterspeed_sync.E014"]
        assert [m.msg for m in messages] == [
            "ENTERSPEED_SYNC['API_KEY'] should be a string (or None), not a bytes."
        ]
