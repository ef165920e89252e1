import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from enterspeed_sync.capture.outbox import JobSpec, queue_job, queue_jobs
from enterspeed_sync.models import EnterspeedJob, JobState
from enterspeed_sync.processing.claims import claim_jobs
from enterspeed_sync.processing.runner import process_pending_jobs
from enterspeed_sync.processing.transitions import (
    fail_stale_jobs,
    mark_succeeded_many,
    retry_failed_jobs,
)
from tests.fakes import ClaimAllHandler, RecordingClient

pytestmark = pytest.mark.django_db

NO_KICK = {"API_KEY": "source-tests", "PROCESS_ON_COMMIT": False}


def spec(entity_id, job_type="publish", **kwargs):
    return JobSpec(
        entity_type=kwargs.pop("entity_type", "page"),
        entity_id=str(entity_id),
        job_type=job_type,
        origin_id=f"page-{entity_id}",
        **kwargs,
    )


def handlers_setting(*paths):
    return override_settings(
        ENTERSPEED_SYNC={**NO_KICK, "JOB_HANDLERS": [f"tests.fakes.{p}" for p in paths]}
    )


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_success_deletes_the_job_and_the_entitys_failed_row():
    queue_job(spec(1, job_type="delete"))
    EnterspeedJob.objects.update(state=JobState.FAILED, error="old error", attempts=3)
    queue_job(spec(1, job_type="delete"))
    client = RecordingClient()
    result = process_pending_jobs(client=client)
    assert (result.succeeded, result.failed) == (1, 0)
    assert client.calls == [("delete", "page-1", None)]
    assert not EnterspeedJob.objects.exists()


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_failure_keeps_one_failed_row_per_entity_with_the_reason():
    client = RecordingClient(failing={"page-1"}, fail_with=RuntimeError("API says no"))
    for _ in range(3):
        queue_job(spec(1, job_type="delete"))
        process_pending_jobs(client=client)
    failed = EnterspeedJob.objects.get()
    assert failed.state == JobState.FAILED
    assert failed.attempts == 3
    assert failed.error.startswith("RuntimeError: API says no")
    assert "Traceback" in failed.error


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_failed_rows_match_entities_exactly_never_by_substring():
    client = RecordingClient(failing={"page-1", "page-12", "page-112"})
    queue_jobs([spec(1, "delete"), spec(12, "delete"), spec(112, "delete")])
    process_pending_jobs(client=client)
    queue_job(spec(12, "delete"))
    process_pending_jobs(client=RecordingClient())
    assert sorted(EnterspeedJob.objects.values_list("entity_id", "attempts")) == [
        ("1", 1),
        ("112", 1),
    ]


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_failed_rows_of_other_destinations_and_locales_are_separate():
    client = RecordingClient(failing={"page-1"})
    queue_jobs(
        [
            spec(1, "delete"),
            spec(1, "delete", destination="preview"),
            spec(1, "delete", locale="da"),
        ]
    )
    process_pending_jobs(client=client)
    assert EnterspeedJob.objects.failed().count() == 3


@handlers_setting("NeverHandler", "ClaimAllHandler")
def test_the_first_handler_that_can_handle_a_job_wins():
    ClaimAllHandler.handled = []
    queue_job(spec(1))
    process_pending_jobs(client=RecordingClient())
    assert ClaimAllHandler.handled == ["page-1"]


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_a_job_no_handler_accepts_fails_and_the_batch_goes_on():
    queue_jobs([spec(1, "delete"), spec(7, "publish", entity_type="custom"), spec(2, "delete")])
    client = RecordingClient()
    result = process_pending_jobs(client=client)
    assert (result.succeeded, result.failed) == (2, 1)
    assert [c[1] for c in client.calls] == ["page-1", "page-2"]
    failed = EnterspeedJob.objects.get()
    assert failed.state == JobState.FAILED
    assert (
        "No handler in ENTERSPEED_SYNC['JOB_HANDLERS'] can handle a 'publish' job" in failed.error
    )
    assert "'custom'" in failed.error


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_claiming_skips_an_entity_whose_previous_job_is_still_processing():
    queue_job(spec(1))
    first = claim_jobs(10)
    queue_job(spec(1, "delete"))
    queue_job(spec(2))
    second = claim_jobs(10)
    assert [j.origin_id for j in first] == ["page-1"]
    assert [j.origin_id for j in second] == ["page-2"]
    mark_succeeded_many([first[0]])
    assert [(j.origin_id, j.job_type) for j in claim_jobs(10)] == [("page-1", "delete")]


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_claims_take_the_oldest_jobs_first_in_batches():
    queue_jobs(spec(i) for i in range(5))
    assert [j.entity_id for j in claim_jobs(2)] == ["0", "1"]
    assert [j.entity_id for j in claim_jobs(2)] == ["2", "3"]


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_a_worker_that_lost_its_claim_cannot_overwrite_the_outcome():
    queue_job(spec(1))
    (job,) = claim_jobs(1)
    EnterspeedJob.objects.filter(pk=job.pk).update(lease_token=uuid.uuid4())  # reclaimed
    mark_succeeded_many([job])
    assert EnterspeedJob.objects.filter(pk=job.pk, state=JobState.PROCESSING).exists()


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_stale_processing_jobs_become_failed_and_merge_with_a_failed_row():
    queue_jobs([spec(1), spec(2)])
    claimed = claim_jobs(10)
    EnterspeedJob.objects.filter(pk__in=[j.pk for j in claimed]).update(
        claimed_at=timezone.now() - timedelta(minutes=61)
    )
    # Entity 2 already has a failed row: the stale job merges into it.
    EnterspeedJob.objects.create(
        entity_type="page",
        entity_id="2",
        job_type="publish",
        origin_id="page-2",
        state=JobState.FAILED,
        attempts=1,
    )
    queue_job(spec(3))
    claim_jobs(10)  # fresh, not stale
    assert fail_stale_jobs() == 2
    states = dict(EnterspeedJob.objects.values_list("entity_id", "state"))
    assert states == {"1": "failed", "2": "failed", "3": "processing"}
    assert EnterspeedJob.objects.get(entity_id="2").attempts == 2
    assert "did not finish within 60 minutes" in EnterspeedJob.objects.get(entity_id="1").error


@override_settings(ENTERSPEED_SYNC={**NO_KICK, "STALE_PROCESSING_MINUTES": 5})
def test_stale_threshold_comes_from_settings():
    queue_job(spec(1))
    claim_jobs(1)
    EnterspeedJob.objects.update(claimed_at=timezone.now() - timedelta(minutes=6))
    assert fail_stale_jobs() == 1


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_retry_requeues_failed_jobs_and_drops_superseded_ones():
    client = RecordingClient(failing={"page-1", "page-2"})
    queue_jobs([spec(1, "delete"), spec(2, "delete")])
    process_pending_jobs(client=client)
    queue_job(spec(2, "publish"))  # a newer instruction for entity 2 is waiting
    assert retry_failed_jobs() == 1
    assert sorted(EnterspeedJob.objects.values_list("entity_id", "job_type", "state")) == [
        ("1", "delete", "pending"),
        ("2", "publish", "pending"),
    ]
    process_pending_jobs(client=RecordingClient())
    assert not EnterspeedJob.objects.exists()


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_retry_by_id_only_touches_those_jobs():
    queue_jobs([spec(1, "delete"), spec(2, "delete")])
    process_pending_jobs(client=RecordingClient(failing={"page-1", "page-2"}))
    one = EnterspeedJob.objects.get(entity_id="1")
    assert retry_failed_jobs([one.pk]) == 1
    assert dict(EnterspeedJob.objects.values_list("entity_id", "state")) == {
        "1": "pending",
        "2": "failed",
    }


@override_settings(ENTERSPEED_SYNC={**NO_KICK, "BATCH_SIZE": 3})
def test_processing_drains_the_queue_in_batches():
    queue_jobs(spec(i, "delete") for i in range(10))
    client = RecordingClient()
    result = process_pending_jobs(client=client)
    assert result.succeeded == 10 and result.drained
    assert not EnterspeedJob.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_two_concurrent_workers_never_process_the_same_job():
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith("file:"):
        pytest.skip("needs a database shared between threads")
    queue_jobs(spec(i, "delete") for i in range(300))
    clients = [RecordingClient(), RecordingClient()]
    errors = []

    def work(client):
        try:
            process_pending_jobs(client=client, batch_size=7)
        except Exception as e:  # pragma: no cover - surfaced by the assertion below
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    sent = [call[1] for c in clients for call in c.calls]
    assert len(sent) == 300 and len(set(sent)) == 300
    assert not EnterspeedJob.objects.exists()


def test_without_an_api_key_jobs_wait_unspent_and_go_once_it_is_set(standin, caplog):
    """A site runs without a key (check W032): the cluster refuses to send, with a reason,
    and fails nothing; once the key is set, the same jobs go."""
    from enterspeed_sync.status import NO_API_KEY, get_sync_status

    with override_settings(ENTERSPEED_SYNC={"API_KEY": "", "BASE_URL": standin.url}):
        queue_jobs([spec(1), spec(2)])
        with caplog.at_level("WARNING", logger="enterspeed_sync"):
            result = process_pending_jobs()
        assert result.stopped == "no_api_key"
        assert result.processed == 0
        assert "No Enterspeed API key is configured (ENTERSPEED_SYNC['API_KEY'])" in caplog.text
        assert get_sync_status().state == NO_API_KEY
    jobs = EnterspeedJob.objects.all()
    assert [(job.state, job.attempts, job.error) for job in jobs] == [(JobState.PENDING, 0, "")] * 2
    assert standin.requests == []
    with override_settings(ENTERSPEED_SYNC={"API_KEY": "source-tests", "BASE_URL": standin.url}):
        result = process_pending_jobs(client=None)
    assert result.succeeded == 2
    assert not EnterspeedJob.objects.exists()
