"""Priority lanes: a person's change is claimed before bulk work, and bulk work still moves."""

import itertools

import pytest
from django.db import connection
from django.test import Client, override_settings

from enterspeed_sync import actions
from enterspeed_sync.api.tokens import create_token
from enterspeed_sync.capture.outbox import (
    STATISTICS_AFTER,
    JobSpec,
    as_bulk,
    pause_sync,
    queue_job,
    queue_jobs,
)
from enterspeed_sync.capture.seeding import seed
from enterspeed_sync.models import EnterspeedJob, JobPriority, JobState
from enterspeed_sync.processing import claims
from enterspeed_sync.processing.claims import bulk_places, claim_jobs
from enterspeed_sync.processing.transitions import (
    Outcome,
    mark_failed,
    mark_succeeded_many,
    retry_later,
)
from tests.test_views import JOBS, make_user
from tests.testapp.models import BlogPage

pytestmark = pytest.mark.django_db

NO_KICK = {"API_KEY": "source-tests", "PROCESS_ON_COMMIT": False}
PERSON, BULK = JobPriority.PERSON, JobPriority.BULK


@pytest.fixture(autouse=True)
def first_batch_of_the_process(monkeypatch):
    """Number batches from 0 in each test: ``bulk_places`` spreads bulk work over them."""
    monkeypatch.setattr(claims, "_batches", itertools.count())


def spec(entity_id, job_type="publish"):
    return JobSpec(
        entity_type="page",
        entity_id=str(entity_id),
        job_type=job_type,
        origin_id=f"page-{entity_id}",
        locale="en",
    )


def queue_seed_jobs(count: int, start: int = 10_000) -> list[str]:
    """``count`` pending bulk jobs, as a seed queues them; returns their entity ids in order."""
    ids = [str(i) for i in range(start, start + count)]
    queue_jobs(as_bulk(spec(i) for i in ids))
    return ids


def page_job(page) -> EnterspeedJob:
    return EnterspeedJob.objects.get(entity_type="page", entity_id=str(page.pk))


# Claim order ---------------------------------------------------------------------------


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_an_editors_publish_is_claimed_ahead_of_500_pending_seed_jobs(site_tree):
    seeded = queue_seed_jobs(500)
    post = site_tree["posts"][0]
    post.title = "Edited during the seed"
    post.save_revision().publish()
    assert page_job(post).priority == PERSON

    batch = claim_jobs(50)
    assert batch[0].entity_id == str(post.pk)
    # The rest of the batch: bulk work's share, the oldest seed jobs in order.
    assert [job.entity_id for job in batch[1:]] == seeded[:10]


@override_settings(ENTERSPEED_SYNC={**NO_KICK, "PRIORITY_LANES": False})
def test_without_lanes_the_editors_publish_waits_behind_the_seed(site_tree):
    seeded = queue_seed_jobs(500)
    post = site_tree["posts"][0]
    post.save_revision().publish()
    assert [job.entity_id for job in claim_jobs(50)] == seeded[:50]


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_within_a_lane_the_oldest_job_comes_first():
    queue_jobs(spec(i) for i in ("a", "b", "c"))
    seeded = queue_seed_jobs(3)
    assert [job.entity_id for job in claim_jobs(2)] == ["a", "b"]
    # With a person's change in it, the batch holds bulk work's share of 10 places: 2.
    assert [job.entity_id for job in claim_jobs(10)] == ["c", *seeded[:2]]
    assert [job.entity_id for job in claim_jobs(10)] == seeded[2:]


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_bulk_work_keeps_a_fifth_of_every_batch_under_a_steady_stream_of_editors():
    seeded = queue_seed_jobs(100)
    editors = itertools.count()
    for round_number in range(5):
        # More people's changes arrive than one batch holds, every round.
        queue_jobs(spec(f"editor-{next(editors)}") for _ in range(60))
        batch = claim_jobs(50)
        bulk = [job.entity_id for job in batch if job.priority == BULK]
        assert len(batch) == 50
        assert bulk == seeded[round_number * 10 : (round_number + 1) * 10]
        mark_succeeded_many(batch)
    assert EnterspeedJob.objects.filter(priority=BULK).count() == 50


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_places_bulk_work_does_not_need_go_to_people_and_back():
    seeded = queue_seed_jobs(3)
    queue_jobs(spec(f"editor-{i}") for i in range(60))
    batch = claim_jobs(50)
    assert [job.entity_id for job in batch if job.priority == BULK] == seeded
    assert len(batch) == 50
    mark_succeeded_many(batch)
    # Only bulk work left: it takes the whole batch.
    seeded = queue_seed_jobs(60, start=20_000)
    EnterspeedJob.objects.filter(priority=PERSON).delete()
    assert [job.entity_id for job in claim_jobs(50)] == seeded[:50]


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_a_batch_with_a_persons_change_takes_only_bulk_works_share():
    seeded = queue_seed_jobs(100)
    queue_job(spec("editor"))
    batch = claim_jobs(50)
    assert [job.entity_id for job in batch] == ["editor", *seeded[:10]]
    assert len(claim_jobs(50)) == 50  # no person waiting: bulk work fills the batch


def test_bulk_places_add_up_to_a_fifth_over_batches_of_any_size():
    assert [bulk_places(50, n) for n in range(3)] == [10, 10, 10]
    assert [bulk_places(1, n) for n in range(10)] == [0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
    assert sum(bulk_places(7, n) for n in range(5)) == 7
    assert sum(bulk_places(3, n) for n in range(1000)) == 600


@override_settings(ENTERSPEED_SYNC={**NO_KICK, "BATCH_SIZE": 1})
def test_batches_of_one_still_give_bulk_work_every_fifth_claim():
    seeded = queue_seed_jobs(5)
    claimed = []
    for n in range(10):
        queue_job(spec(f"editor-{n}"))
        claimed += claim_jobs(1)
    bulk = [job.entity_id for job in claimed if job.priority == BULK]
    assert bulk == seeded[:2]


def job_table_rows_planned_for() -> float:
    """The number of rows PostgreSQL's planner believes the job table has."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
            [EnterspeedJob._meta.db_table],
        )
        return cursor.fetchone()[0]


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_a_seed_sized_queue_refreshes_postgresqls_statistics_for_the_claims():
    # Planned for a near-empty table, each claim walked every pending job against every
    # job in flight (0.5 s a claim at 10,000 jobs): a seed's first minute crawled.
    if connection.vendor != "postgresql":
        pytest.skip("SQLite plans claims without table statistics")
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {EnterspeedJob._meta.db_table}")  # the table as it is: empty
    assert job_table_rows_planned_for() < 1
    queue_seed_jobs(STATISTICS_AFTER - 1)
    assert job_table_rows_planned_for() < 1  # a small queue does not pay for it
    queue_seed_jobs(STATISTICS_AFTER, start=20_000)
    assert job_table_rows_planned_for() >= 2 * STATISTICS_AFTER - 1
    assert len(claim_jobs(50)) == 50


# Which changes are a person's ----------------------------------------------------------


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_a_seed_is_bulk_work_and_an_editors_publish_raises_its_pending_job(site_tree):
    seed(kinds=["pages"])
    jobs = EnterspeedJob.objects.all()
    assert jobs.count() == 6 and set(jobs.values_list("priority", flat=True)) == {BULK}
    post = site_tree["posts"][1]
    post.save_revision().publish()
    assert EnterspeedJob.objects.count() == 6  # coalesced, not a second job
    assert page_job(post).priority == PERSON
    assert EnterspeedJob.objects.filter(priority=PERSON).count() == 1
    assert claim_jobs(1)[0].entity_id == str(post.pk)


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_coalescing_raises_priority_and_never_lowers_it():
    queue_seed_jobs(2, start=1)
    queue_job(spec(1))  # one entity: the editor's write path
    queue_jobs([spec(2), spec(3)])  # several at once
    assert dict(EnterspeedJob.objects.values_list("entity_id", "priority")) == {
        "1": PERSON,
        "2": PERSON,
        "3": PERSON,
    }
    queue_jobs(as_bulk([spec(1)]))
    queue_jobs(as_bulk([spec(2), spec(3)]))
    assert set(EnterspeedJob.objects.values_list("priority", flat=True)) == {PERSON}


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_a_moved_page_is_the_editors_change_and_its_descendants_bulk_work(site_tree):
    blog, home = site_tree["blog"], site_tree["home"]
    with pause_sync():
        other = home.add_child(instance=BlogPage(title="Other", slug="other"))
    blog.move(other, pos="last-child")
    priorities = dict(EnterspeedJob.objects.values_list("entity_id", "priority"))
    assert priorities.pop(str(blog.pk)) == PERSON
    assert priorities == {str(post.pk): BULK for post in site_tree["posts"]}


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_a_retry_someone_clicks_is_a_persons_change(django_user_model):
    queue_seed_jobs(1, start=1)
    (job,) = claim_jobs(1)
    mark_failed(job, "Enterspeed rejected the request (HTTP 422): bad")
    user = make_user(django_user_model, "manager", "manage_enterspeedjob")
    assert actions.retry_jobs([EnterspeedJob.objects.get()], user=user) == 1
    job = EnterspeedJob.objects.get()
    assert (job.state, job.priority) == (JobState.PENDING, PERSON)


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_an_editors_job_put_back_behind_newer_bulk_work_lends_it_its_priority():
    queue_job(spec(1))
    (job,) = claim_jobs(1)
    queue_seed_jobs(1, start=1)  # a seed reaches the entity while the editor's job is sent
    assert retry_later(job, "Enterspeed answered 503", backoff=False) == Outcome.RETRY
    pending = EnterspeedJob.objects.get()
    assert (pending.state, pending.priority) == (JobState.PENDING, PERSON)


# Shown and filtered --------------------------------------------------------------------


def two_lanes():
    queue_job(spec("editor"))
    queue_seed_jobs(1, start=1)


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_the_admin_jobs_list_shows_and_filters_by_priority(admin_client):
    two_lanes()
    response = admin_client.get(JOBS, {"state": "all", "priority": str(BULK)})
    assert [job.origin_id for job in response.context["object_list"]] == ["page-1"]
    response = admin_client.get(JOBS, {"state": "all", "priority": str(PERSON)})
    assert [job.origin_id for job in response.context["object_list"]] == ["page-editor"]
    response = admin_client.get(JOBS, {"state": "all"})
    assert "<th" in response.content.decode() and "Priority" in response.content.decode()
    assert "Bulk" in response.content.decode() and "Person" in response.content.decode()


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_the_api_shows_and_filters_by_priority(django_user_model):
    two_lanes()
    user = make_user(django_user_model, "root", superuser=True)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {create_token(user, name='tests')[1]}"}

    def jobs(**params):
        response = Client().get("/admin/enterspeed/api/v1/jobs/", params, **headers)
        assert response.status_code == 200, response.content
        return {job["origin_id"]: job["priority"] for job in response.json()["results"]}

    assert jobs() == {"page-editor": "person", "page-1": "bulk"}
    assert jobs(priority="bulk") == {"page-1": "bulk"}
    assert jobs(priority="person") == {"page-editor": "person"}
    response = Client().get("/admin/enterspeed/api/v1/jobs/", {"priority": "urgent"}, **headers)
    assert response.status_code == 400
