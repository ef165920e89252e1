"""
End to end: pages published in a real transaction reach the ingest stand-in through a real
`qcluster` process sharing the test database.
"""

import pytest
from django.db import transaction
from django_q.conf import Conf

from enterspeed_sync.models import EnterspeedJob
from tests.qcluster import log_tail, running_qcluster, wait_until

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def qcluster(standin, monkeypatch, tmp_path):
    # In this process async_task must enqueue for the cluster instead of running inline.
    monkeypatch.setattr(Conf, "SYNC", False)
    with running_qcluster(standin.url, tmp_path / "qcluster.log") as process:
        yield process


def test_published_pages_reach_enterspeed_through_a_real_cluster(site_tree, standin, qcluster):
    posts = site_tree["posts"]
    with transaction.atomic():
        for post in posts:
            post.title = f"{post.title} (edited)"
            post.save_revision().publish()
        assert EnterspeedJob.objects.count() == 3  # written with the content, not yet sent

    expected = {f"page-{post.pk}" for post in posts}
    arrived = wait_until(lambda: expected <= set(standin.entities))
    output = "" if arrived else log_tail(qcluster)
    assert arrived, f"pages never reached the stand-in; cluster output:\n{output}"
    assert wait_until(lambda: not EnterspeedJob.objects.exists(), timeout=10)
    for post in posts:
        entity = standin.entities[f"page-{post.pk}"]
        assert entity["type"] == "blogPage"
        assert entity["properties"]["title"].endswith("(edited)")

    # Unpublishing removes the entity the same way.
    posts[0].unpublish()
    gone = f"page-{posts[0].pk}"
    assert wait_until(lambda: gone not in standin.entities)


def test_jobs_survive_an_outage_and_are_sent_when_it_ends(site_tree, standin, qcluster):
    standin.outage(True)
    post = site_tree["posts"][0]
    post.save_revision().publish()
    assert wait_until(lambda: EnterspeedJob.objects.filter(attempts__gte=1).exists())
    job = EnterspeedJob.objects.get()
    assert job.state in ("pending", "processing")
    assert "Could not reach Enterspeed" in job.error
    standin.outage(False)
    # No retry command needed: the job's next attempt goes through on its own.
    assert wait_until(lambda: f"page-{post.pk}" in standin.entities), log_tail(qcluster)
    assert wait_until(lambda: not EnterspeedJob.objects.exists(), timeout=10)
