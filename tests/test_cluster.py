"""
End to end: pages published in a real transaction reach the ingest stand-in through a real
`qcluster` process sharing the test database.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import transaction
from django_q.conf import Conf

from enterspeed_sync.models import EnterspeedJob

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def qcluster(standin, monkeypatch, tmp_path):
    # In this process async_task must enqueue for the cluster instead of running inline.
    monkeypatch.setattr(Conf, "SYNC", False)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.cluster_settings",
        "ENTERSPEED_TEST_STANDIN_URL": standin.url,
        "PYTHONPATH": str(ROOT),
    }
    log = (tmp_path / "qcluster.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "django", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    process.log_path = tmp_path / "qcluster.log"
    try:
        yield process
    finally:
        log.close()
        # SIGTERM to the main process only: django-q2 then drains and stops cleanly.
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover - diagnostic path
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_until(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_published_pages_reach_enterspeed_through_a_real_cluster(site_tree, standin, qcluster):
    posts = site_tree["posts"]
    with transaction.atomic():
        for post in posts:
            post.title = f"{post.title} (edited)"
            post.save_revision().publish()
        assert EnterspeedJob.objects.count() == 3  # written with the content, not yet sent

    expected = {f"page-{post.pk}" for post in posts}
    arrived = wait_until(lambda: expected <= set(standin.entities))
    output = "" if arrived else _drain(qcluster)
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


def test_jobs_survive_an_outage_and_are_sent_on_retry(site_tree, standin, qcluster):
    from django.core.management import call_command

    standin.outage(True)
    post = site_tree["posts"][0]
    post.save_revision().publish()
    assert wait_until(lambda: EnterspeedJob.objects.failed().exists())
    failed = EnterspeedJob.objects.get()
    assert "Could not reach Enterspeed" in failed.error
    standin.outage(False)
    call_command("enterspeed_retry", "--all")
    assert wait_until(lambda: f"page-{post.pk}" in standin.entities)
    assert wait_until(lambda: not EnterspeedJob.objects.exists(), timeout=10)


def _drain(process):
    return process.log_path.read_text(errors="replace")[-5000:]
