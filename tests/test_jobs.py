import pytest
from django.db import IntegrityError, transaction
from django.test import override_settings

from enterspeed_sync.capture.enqueue import request_processing
from enterspeed_sync.capture.outbox import JobSpec, queue_job, queue_jobs
from enterspeed_sync.models import EnterspeedJob, JobState

pytestmark = pytest.mark.django_db


def spec(entity_id="1", job_type="publish", **kwargs):
    return JobSpec(
        entity_type="page",
        entity_id=entity_id,
        job_type=job_type,
        origin_id=f"page-{entity_id}",
        locale=kwargs.pop("locale", "en"),
        **kwargs,
    )


def test_newest_instruction_replaces_the_pending_one():
    queue_job(spec(job_type="publish"))
    queue_job(spec(job_type="delete"))
    job = EnterspeedJob.objects.get()
    assert (job.job_type, job.state) == ("delete", "pending")


def test_pending_jobs_are_per_entity_locale_and_destination():
    queue_jobs(
        [
            spec("1"),
            spec("1", locale="da"),
            spec("1", destination="preview"),
            spec("12"),
            spec("112"),
        ]
    )
    assert EnterspeedJob.objects.pending().count() == 5


def test_a_pending_job_is_kept_beside_a_processing_and_a_failed_one():
    queue_job(spec())
    EnterspeedJob.objects.update(state=JobState.PROCESSING)
    queue_job(spec())
    EnterspeedJob.objects.filter(state=JobState.PENDING).update(state=JobState.FAILED)
    queue_job(spec(job_type="delete"))
    assert sorted(EnterspeedJob.objects.values_list("state", flat=True)) == [
        "failed",
        "pending",
        "processing",
    ]


def test_the_database_refuses_a_second_pending_or_failed_row():
    for state in (JobState.PENDING, JobState.FAILED):
        EnterspeedJob.objects.create(
            entity_type="page", entity_id="9", job_type="publish", origin_id="page-9", state=state
        )
        with pytest.raises(IntegrityError), transaction.atomic():
            EnterspeedJob.objects.create(
                entity_type="page",
                entity_id="9",
                job_type="delete",
                origin_id="page-9",
                state=state,
            )


def test_bulk_queue_coalesces_within_and_across_calls():
    queue_jobs(spec(str(i)) for i in range(1200))
    assert queue_jobs([spec("5", job_type="delete"), spec("5", job_type="publish")]) == 2
    assert EnterspeedJob.objects.count() == 1200
    assert EnterspeedJob.objects.get(entity_id="5").job_type == "publish"


def test_processing_is_requested_once_per_transaction(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        with transaction.atomic():
            queue_job(spec("1"))
            queue_job(spec("2"))
            request_processing()
    assert len(callbacks) == 1


@override_settings(ENTERSPEED_SYNC={"API_KEY": "source-tests", "PROCESS_ON_COMMIT": False})
def test_processing_on_commit_can_be_turned_off(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        queue_job(spec("1"))
    assert callbacks == []


def test_enqueue_failure_is_logged_not_raised(monkeypatch, caplog):
    import django_q.tasks

    from enterspeed_sync.capture.enqueue import enqueue_processing

    def broken(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(django_q.tasks, "async_task", broken)
    enqueue_processing()
    assert "Could not queue Enterspeed processing" in caplog.text


@override_settings(ENTERSPEED_SYNC={"API_KEY": "source-tests", "BATCH_SIZE": 5})
def test_more_than_a_batch_of_jobs_gives_every_worker_a_task(
    django_capture_on_commit_callbacks, monkeypatch
):
    import django_q.tasks
    from django_q.conf import Conf

    from enterspeed_sync.capture.enqueue import enqueue_helper_tasks, enqueue_processing
    from enterspeed_sync.capture.outbox import queue_jobs

    tasks = []
    monkeypatch.setattr(django_q.tasks, "async_task", lambda *a, **k: tasks.append(a[0]))
    monkeypatch.setattr(Conf, "WORKERS", 3)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        queue_jobs(spec(str(i)) for i in range(6))
    assert callbacks == [enqueue_processing, enqueue_helper_tasks]
    assert tasks == ["enterspeed_sync.tasks.process_pending_jobs"] * 3


def live_clusters(*workers: int):
    from django.utils import timezone

    from enterspeed_sync.status.clusters import Cluster, Clusters

    now = timezone.now()
    return Clusters(
        visible=True,
        needed=True,
        live=[
            Cluster(f"c{n}", "host", 100 + n, "Idle", count, now, now)
            for n, count in enumerate(workers)
        ],
    )


@override_settings(ENTERSPEED_SYNC={"API_KEY": "source-tests", "BATCH_SIZE": 5})
def test_a_seed_gives_a_task_to_every_worker_of_every_live_cluster(
    django_capture_on_commit_callbacks, monkeypatch
):
    # Three clusters of two workers: six tasks, whatever this process's own Q_CLUSTER says.
    import django_q.tasks
    from django_q.conf import Conf

    from enterspeed_sync.capture import enqueue
    from enterspeed_sync.capture.outbox import queue_jobs

    tasks = []
    monkeypatch.setattr(django_q.tasks, "async_task", lambda *a, **k: tasks.append(a[0]))
    monkeypatch.setattr(Conf, "WORKERS", 2)
    monkeypatch.setattr(enqueue, "get_clusters", lambda: live_clusters(2, 2, 2))
    with django_capture_on_commit_callbacks(execute=True):
        queue_jobs(spec(str(i)) for i in range(6))
    assert tasks == ["enterspeed_sync.tasks.process_pending_jobs"] * 6


def test_without_a_visible_cluster_a_seed_counts_the_configured_workers(monkeypatch):
    from django_q.conf import Conf

    from enterspeed_sync.capture import enqueue
    from enterspeed_sync.status.clusters import Clusters

    monkeypatch.setattr(Conf, "WORKERS", 3)
    monkeypatch.setattr(enqueue, "get_clusters", lambda: Clusters(visible=False, needed=True))
    assert enqueue.live_workers() == 3

    def unreadable():
        raise ConnectionError("cache down")

    monkeypatch.setattr(enqueue, "get_clusters", unreadable)
    assert enqueue.live_workers() == 3


@override_settings(ENTERSPEED_SYNC={"API_KEY": "source-tests", "PROCESS_ON_COMMIT": False})
def test_a_run_with_jobs_left_queues_tasks_for_the_live_workers_without_claims(monkeypatch):
    # Six live workers, two of them hold claims, and this run is about to queue its own
    # follow-up: three more tasks, one for each other idle worker (a cluster that started
    # during the seed gets its share).
    import django_q.tasks
    from django_q.conf import Conf

    from enterspeed_sync.capture import enqueue
    from enterspeed_sync.capture.outbox import queue_jobs

    queue_jobs(spec(str(i)) for i in range(4))
    for n, job in enumerate(EnterspeedJob.objects.all()[:3]):
        job.state = JobState.PROCESSING
        job.locked_by = f"host:{n % 2}"
        job.save()
    tasks = []
    monkeypatch.setattr(django_q.tasks, "async_task", lambda *a, **k: tasks.append(a[0]))
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(enqueue, "get_clusters", lambda: live_clusters(2, 2, 2))
    enqueue.enqueue_for_idle_workers()
    assert len(tasks) == 3
    # All busy: none.
    tasks.clear()
    monkeypatch.setattr(enqueue, "get_clusters", lambda: live_clusters(2))
    enqueue.enqueue_for_idle_workers()
    assert tasks == []


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_queueing_processing_keeps_the_requests_database_connection(monkeypatch):
    # django-q2's ORM broker closes connections it finds outside a transaction; with
    # CONN_MAX_AGE = 0 that would reconnect in the middle of an editor's request.
    from django.db import connection
    from django_q.conf import Conf
    from django_q.models import OrmQ

    from enterspeed_sync.capture.enqueue import enqueue_processing

    monkeypatch.setattr(Conf, "SYNC", False)
    connection.ensure_connection()
    before = connection.connection
    enqueue_processing()
    assert connection.connection is before
    assert OrmQ.objects.count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@override_settings(ENTERSPEED_SYNC={"API_KEY": "source-tests", "PROCESS_ON_COMMIT": False})
def test_an_editors_job_insert_that_loses_a_race_updates_the_winner(caplog):
    # Outside a transaction one entity's job is an UPDATE, else an INSERT. Another process
    # inserting the entity's pending job in between makes our insert fail on the
    # one-pending-job constraint: the next round must update that job, not drop ours.
    import threading

    from django.db import connection
    from django.db.models.signals import pre_save

    def insert_elsewhere():
        spec(job_type="delete").as_job(state=JobState.PENDING).save()
        connection.close()  # this thread's connection

    def race(sender, instance, **kwargs):
        pre_save.disconnect(race, sender=EnterspeedJob)
        other = threading.Thread(target=insert_elsewhere)
        other.start()
        other.join()

    caplog.set_level("INFO", logger="enterspeed_sync.capture.outbox")
    pre_save.connect(race, sender=EnterspeedJob)
    try:
        assert not connection.in_atomic_block
        queue_job(spec(job_type="publish"))
    finally:
        pre_save.disconnect(race, sender=EnterspeedJob)
    assert "Concurrent job insert" in caplog.text
    job = EnterspeedJob.objects.get()
    assert (job.job_type, job.state) == ("publish", "pending")
