import pytest
from django.test import override_settings
from django.utils.module_loading import import_string

from enterspeed_sync import tasks
from enterspeed_sync.capture.outbox import JobSpec, queue_jobs
from enterspeed_sync.models import EnterspeedJob

pytestmark = pytest.mark.django_db


def delete_jobs(count):
    return (
        JobSpec(entity_type="page", entity_id=str(i), job_type="delete", origin_id=f"page-{i}")
        for i in range(count)
    )


def test_a_task_that_runs_out_of_time_queues_a_follow_up(standin, monkeypatch):
    follow_ups = []
    monkeypatch.setattr(tasks, "enqueue_processing", lambda: follow_ups.append(1))
    sync = {
        "API_KEY": "source-tests",
        "BASE_URL": standin.url,
        "PROCESS_ON_COMMIT": False,
        "BATCH_SIZE": 2,
        "TASK_TIME_BUDGET_SECONDS": 0.000001,
    }
    with override_settings(ENTERSPEED_SYNC=sync):
        queue_jobs(delete_jobs(5))
        result = tasks.process_pending_jobs()
    assert result["succeeded"] == 2 and result["failed"] == 0 and result["drained"] is False
    assert follow_ups == [1]
    assert EnterspeedJob.objects.pending().count() == 3


def test_a_task_with_time_left_drains_the_queue(standin, monkeypatch):
    follow_ups = []
    monkeypatch.setattr(tasks, "enqueue_processing", lambda: follow_ups.append(1))
    sync = {"API_KEY": "source-tests", "BASE_URL": standin.url, "PROCESS_ON_COMMIT": False}
    with override_settings(ENTERSPEED_SYNC={**sync, "BATCH_SIZE": 2}):
        queue_jobs(delete_jobs(5))
        result = tasks.process_pending_jobs()
    assert result["succeeded"] == 5 and result["failed"] == 0 and result["drained"] is True
    assert follow_ups == []
    # Already gone counts as success; batches of 2 make 3 bulk deletes.
    assert len(standin.requests) == 3
    assert standin.sends() == {f"page-{i}": 1 for i in range(5)}


@override_settings(ENTERSPEED_SYNC={"API_KEY": "source-tests", "PROCESS_ON_COMMIT": False})
def test_tasks_queued_under_the_old_admin_tasks_paths_still_run(site_tree):
    # django-q2 stores a task's function as a dotted path: a seed or retry queued before an
    # upgrade names enterspeed_sync.admin_tasks, and must still run after it.
    blog = site_tree["blog"]
    seed_task = import_string("enterspeed_sync.admin_tasks.seed_task")
    counts = seed_task(
        kinds=["pages"], root_page_id=blog.pk, locales=None, descendants=False, force=False,
        destination="publish",
    )  # fmt: skip
    assert counts == {"pages": 1}
    job = EnterspeedJob.objects.get()
    EnterspeedJob.objects.filter(pk=job.pk).update(state="failed")
    assert import_string("enterspeed_sync.admin_tasks.retry_failed_task")([job.pk]) == 1
    assert EnterspeedJob.objects.pending().count() == 1
