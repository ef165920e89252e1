"""
Nothing an editor does fails because Enterspeed is down or a handler raises, even when the
project runs django-q2 in sync mode, so processing happens inside the editor's request.
"""

import pytest
from django.test import override_settings
from django.utils import timezone
from django_q.conf import Conf

from enterspeed_sync.models import EnterspeedJob

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(autouse=True)
def inline_processing(monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", True)


def test_publish_succeeds_while_the_api_is_down(site_tree, standin):
    standin.outage(True)
    post = site_tree["posts"][0]
    post.title = "Published anyway"
    post.save_revision().publish()  # commits; processing runs inline on commit
    post.refresh_from_db()
    assert post.live and post.title == "Published anyway"
    job = EnterspeedJob.objects.get()
    # A transient error: the job waits for its next attempt with the reason on it.
    assert job.state == "pending" and job.attempts == 1
    assert job.next_attempt_at > timezone.now()
    assert "Could not reach Enterspeed" in job.error


def test_publish_succeeds_when_a_handler_raises(site_tree, standin):
    sync = {"API_KEY": "source-tests", "BASE_URL": standin.url}
    with override_settings(
        ENTERSPEED_SYNC={**sync, "JOB_HANDLERS": ["tests.fakes.ExplodingHandler"]}
    ):
        site_tree["posts"][0].save_revision().publish()
    job = EnterspeedJob.objects.get()
    assert job.state == "failed"
    assert job.error.startswith("ZeroDivisionError: a bug in a project's handler")


def test_publish_reaches_the_standin_inline(site_tree, standin):
    post = site_tree["posts"][0]
    post.save_revision().publish()
    assert standin.entities[f"page-{post.pk}"]["properties"]["title"] == post.title
    assert not EnterspeedJob.objects.exists()
