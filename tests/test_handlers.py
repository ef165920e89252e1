"""
The handler contract: ``operations(job)`` returns what to send, processing sends it, and
``enterspeed_inspect``, ``enterspeed_verify`` and the self-test read the same operations.
Handlers written to the old ``handle(job, client)`` still work, with a deprecation warning.
"""

import warnings

import pytest
from django.test import override_settings

from enterspeed_sync.capture.fanout import queue_page_job
from enterspeed_sync.capture.outbox import JobSpec, queue_job
from enterspeed_sync.defaults import DEFAULT_JOB_HANDLERS
from enterspeed_sync.diagnostics.inspection import inspect_origin_id, run_self_test
from enterspeed_sync.diagnostics.verify import verify
from enterspeed_sync.handlers import BaseJobHandler, Operation
from enterspeed_sync.handlers.pages import PagePublishHandler
from enterspeed_sync.models import EnterspeedJob
from enterspeed_sync.processing.runner import process_pending_jobs

pytestmark = pytest.mark.django_db


def settings_for(standin, *handlers):
    return override_settings(
        ENTERSPEED_SYNC={
            "API_KEY": "source-tests",
            "BASE_URL": standin.url,
            "PROCESS_ON_COMMIT": False,
            "RETRY_WAIT_SECONDS": 0,
            "JOB_HANDLERS": [*handlers, *DEFAULT_JOB_HANDLERS],
        }
    )


def custom_spec(pk):
    return JobSpec(
        entity_type="custom",
        entity_id=str(pk),
        job_type="publish",
        origin_id=f"product-{pk}",
    )


class ProductHandler(BaseJobHandler):
    """New style: returns its operations; product 0 is deleted, others saved."""

    key = "product"

    def can_handle(self, job):
        return job.entity_type == "custom"

    def operations(self, job):
        if job.entity_id == "0":
            return [Operation.delete(job, job.origin_id, reason="Sold out.")]
        entity = {"type": "product", "properties": {"name": f"Product {job.entity_id}"}}
        return [Operation.save(job, job.origin_id, entity)]


def test_a_handler_returns_operations_and_processing_sends_them(db, standin):
    with settings_for(standin, ProductHandler):
        queue_job(custom_spec(1))
        result = process_pending_jobs()
    assert result.succeeded == 1
    assert standin.entities["product-1"]["properties"] == {"name": "Product 1"}
    assert not EnterspeedJob.objects.exists()


def test_operation_constructors_carry_what_sending_needs(db):
    job = EnterspeedJob(origin_id="product-1")
    save = Operation.save(job, "product-1", {"type": "product", "properties": {"a": "é"}})
    assert (save.action, save.origin_id, save.job) == ("save", "product-1", job)
    assert len(save.digest) == 64 and save.size == len(
        '{"properties":{"a":"é"},"type":"product"}'.encode()
    )
    delete = Operation.delete(job, "product-1", reason="gone")
    assert (delete.action, delete.entity, delete.reason) == ("delete", None, "gone")


class TeaserPageHandler(BaseJobHandler):
    """A page handler that is not a BasePublishHandler: sends a teaser of each page."""

    key = "teaser"

    def can_handle(self, job):
        return job.entity_type == "page" and job.job_type == "publish"

    def operations(self, job):
        entity = {"type": "teaser", "properties": {"page": job.entity_id}}
        return [Operation.save(job, job.origin_id, entity)]


def test_inspect_and_the_self_test_read_any_handlers_operations(site_tree, standin):
    post = site_tree["posts"][0]
    with settings_for(standin, TeaserPageHandler):
        inspection = inspect_origin_id(f"page-{post.pk}")
        self_test = run_self_test(limit=1)
    assert (inspection.action, inspection.handler) == ("save", "teaser")
    assert inspection.entity == {"type": "teaser", "properties": {"page": str(post.pk)}}
    assert self_test.problems == 0 and self_test.tried


class OldStyleHandler(BaseJobHandler):
    """Written to the contract before operations(): sends through the client it gets."""

    key = "old_style"

    def can_handle(self, job):
        return job.entity_type == "custom"

    def handle(self, job, client):
        if job.entity_id == "0":
            client.delete(job.origin_id)
        else:
            answer = client.save(job.origin_id, {"type": "product", "properties": {"old": True}})
            assert answer.status == 202  # queued with the batch, as before


def test_an_old_style_handler_still_syncs_end_to_end_and_warns_once(db, standin):
    with settings_for(standin, OldStyleHandler):
        queue_job(custom_spec(1))
        queue_job(custom_spec(2))
        with pytest.warns(DeprecationWarning, match=r"tests\.test_handlers\.OldStyleHandler"):
            result = process_pending_jobs()
        queue_job(custom_spec(0))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # once per class: no second warning
            second = process_pending_jobs()
    assert (result.succeeded, second.succeeded) == (2, 1)
    assert standin.entities["product-1"]["properties"] == {"old": True}
    assert "product-2" in standin.entities and "product-0" not in standin.entities
    # One bulk save for both jobs of the first batch: the recorder did not send.
    assert [r.origin_ids for r in standin.requests][0] == ["product-1", "product-2"]
    assert not EnterspeedJob.objects.exists()


class OldStylePageHandler(PagePublishHandler):
    """An old-style subclass of a built-in handler that defers to ``super().handle``."""

    key = "old_style_page"

    def handle(self, job, client):
        page = self.get_object(job)
        if page is not None and page.title == "Secret":
            client.delete(job.origin_id)
            return
        super().handle(job, client)


def test_an_old_style_subclass_of_a_built_in_handler_keeps_its_behaviour(site_tree, standin):
    first, second = site_tree["posts"][:2]
    with settings_for(standin, OldStylePageHandler):
        second.title = "Secret"
        second.save_revision().publish()
        queue_page_job(first, "publish")
        queue_page_job(second, "publish")
        with pytest.warns(DeprecationWarning, match="OldStylePageHandler"):
            result = process_pending_jobs()
        inspection = inspect_origin_id(f"page-{first.pk}")
    assert result.succeeded == 2
    assert standin.entities[f"page-{first.pk}"]["properties"]["title"] == first.title
    assert f"page-{second.pk}" not in standin.entities
    assert (inspection.action, inspection.handler) == ("save", "old_style_page")


def test_verify_and_inspect_see_what_processing_sends(site_tree, standin):
    post = site_tree["posts"][0]
    with settings_for(standin):
        queue_page_job(post, "publish")
        process_pending_jobs()
        inspection = inspect_origin_id(f"page-{post.pk}")
        report = verify()
        self_test = run_self_test(limit=3)
    assert inspection.entity == standin.entities[f"page-{post.pk}"]
    assert f"page-{post.pk}" not in {item.origin_id for item in report.drift}
    assert report.in_sync >= 1
    assert self_test.problems == 0 and self_test.tried >= 3


class ForgetfulHandler(BaseJobHandler):
    """Forgets to return its operations."""

    key = "forgetful"

    def can_handle(self, job):
        return job.entity_type == "custom"

    def operations(self, job):
        Operation.save(job, job.origin_id, {"type": "product", "properties": {}})


def test_operations_that_are_not_a_list_of_operations_fail_the_job_saying_so(db, standin):
    with settings_for(standin, ForgetfulHandler):
        queue_job(custom_spec(1))
        result = process_pending_jobs()
    assert result.failed == 1 and standin.requests == []
    job = EnterspeedJob.objects.get()
    assert job.state == "failed"
    assert job.error.startswith("TypeError: ForgetfulHandler.operations(job) returned None")
