"""
The site-wide mapping self-test (``enterspeed_inspect --all-models`` and the admin's
"Mapping self-test"): every synced model is tried, problems are counted per model with the
first error, and nothing is queued or sent.
"""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.urls import reverse
from wagtail.models import Page

from enterspeed_sync.diagnostics.inspection import run_self_test
from enterspeed_sync.mapping import PageMapper
from enterspeed_sync.models import EnterspeedJob
from tests.content import build_content_site
from tests.testapp.models import BlogPage

SELF_TEST = reverse("enterspeed_sync:self_test")


class DigitPropertyMapper(PageMapper):
    """A project mapping with a bug the contract refuses: a property name with a digit first."""

    def get_properties(self):
        return {**super().get_properties(), "1st": "first"}


class BrokenMapper(PageMapper):
    """A project mapping that crashes on every page it maps."""

    def get_properties(self):
        raise AttributeError("'BlogPage' object has no attribute 'hero'")


def mappers(**mappers):
    return override_settings(
        ENTERSPEED_SYNC={
            "API_KEY": "source-tests",
            "BASE_URL": "http://127.0.0.1:9",  # nothing listens: a request would fail
            "PROCESS_ON_COMMIT": False,
            "MAPPERS": {label: f"{__name__}.{cls}" for label, cls in mappers.items()},
        }
    )


@pytest.fixture
def content_site(db, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return build_content_site()


def self_test_lines(*args) -> tuple[dict[str, list[str]], str]:
    """Run the command; its rows by model label, and the whole output."""
    out = StringIO()
    call_command("enterspeed_inspect", "--all-models", *args, stdout=out)
    return _rows(out.getvalue()), out.getvalue()


def _rows(output: str) -> dict[str, list[str]]:
    rows = {}
    for line in output.splitlines()[1:]:
        if not line.strip():
            break
        label, kind, tried, ok, skipped, problems, *first = line.split(maxsplit=6)
        rows[label] = [kind, tried, ok, skipped, problems, *first]
    return rows


def test_every_synced_model_with_live_objects_gets_a_line(content_site):
    with mappers():
        rows, output = self_test_lines()
    # Pages of every type in the content site, the image and document models, and the
    # synced snippets; nothing failed.
    assert rows["testapp.RelationsPage"][:5] == ["page", "1", "1", "0", "0"]
    assert rows["testapp.FieldsPage"][:5] == ["page", "2", "2", "0", "0"]
    assert rows["wagtailimages.Image"][:5] == ["image", "1", "1", "0", "0"]
    assert rows["wagtaildocs.Document"][:5] == ["document", "1", "1", "0", "0"]
    assert rows["testapp.Author"][0] == "snippet"
    assert {row[4] for row in rows.values()} == {"0"}
    assert "0 problems." in output
    # A page type without live pages is named, not silently left out.
    assert re.search(r"No live objects to try for \d+ models?: .*testapp\.LandingPage", output)


def test_a_model_that_cannot_be_mapped_fails_the_command_and_names_the_error(content_site):
    with mappers(**{"testapp.RelationsPage": "BrokenMapper"}):
        with pytest.raises(CommandError, match=r"1 object of \d+ cannot be sent"):
            out = StringIO()
            try:
                call_command("enterspeed_inspect", "--all-models", stdout=out)
            finally:
                rows = _rows(out.getvalue())
    kind, tried, ok, skipped, problems, first = rows["testapp.RelationsPage"]
    assert (tried, ok, problems) == ("1", "0", "1")
    assert first == "page-8003: AttributeError: 'BlogPage' object has no attribute 'hero'"
    # The other models are still tried, and pass.
    assert rows["testapp.FieldsPage"][4] == "0"


def test_contract_problems_are_problems_with_the_property_named(content_site):
    with mappers(**{"testapp.FieldsPage": "DigitPropertyMapper"}):
        result = run_self_test()
    report = next(r for r in result.reports if r.label == "testapp.FieldsPage")
    assert (report.tried, report.ok, report.problems) == (2, 0, 2)
    assert "properties.1st: property names may only contain" in report.first_problem
    assert result.problems == 2


def test_vetoed_objects_are_skipped_not_problems(content_site):
    # A live page outside every site's tree has no URL: the guard vetoes it.
    root = Page.objects.get(depth=1)
    root.add_child(instance=BlogPage(title="Orphan", slug="orphan"))
    with mappers():
        result = run_self_test()
    report = next(r for r in result.reports if r.label == "testapp.BlogPage")
    assert (report.tried, report.ok, report.skipped, report.problems) == (1, 0, 1, 0)
    assert "no URL" in report.first_skip_reason


def test_limit_caps_the_objects_tried_per_model_and_nothing_is_queued_or_sent(content_site):
    jobs_before = EnterspeedJob.objects.count()
    with mappers():
        rows, _output = self_test_lines("--limit", "1")
    assert {row[1] for row in rows.values()} == {"1"}
    assert EnterspeedJob.objects.count() == jobs_before  # BASE_URL is dead: nothing was sent


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "Give origin ids to inspect, or --all-models"),
        (("page-1", "--all-models"), "Give origin ids to inspect, or --all-models"),
        (("--all-models", "--limit", "0"), "--limit must be at least 1"),
    ],
)
def test_bad_arguments_are_errors(db, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("enterspeed_inspect", *args, stdout=StringIO())


def test_the_admin_shows_the_same_table(content_site, django_user_model):
    admin = django_user_model.objects.create_superuser("admin", "a@example.com", "pw")
    client = Client()
    client.force_login(admin)
    assert SELF_TEST in client.get(reverse("enterspeed_sync:dashboard")).content.decode()
    with mappers(**{"testapp.RelationsPage": "BrokenMapper"}):
        response = client.get(SELF_TEST)
    assert response.status_code == 200
    content = response.content.decode()
    assert 'data-model="testapp.RelationsPage" data-problems="1"' in content
    assert "has no attribute &#x27;hero&#x27;" in content
    assert "1 object cannot be sent as it is" in content
    assert [r.label for r in response.context["result"].reports] == [
        r.label for r in run_self_test().reports
    ]
