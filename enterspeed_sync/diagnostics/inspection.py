"""
What would be sent right now, without sending it: for one entity (``manage.py
enterspeed_inspect ORIGIN_ID``, the admin's job inspect view), and for a sample of every
synced model (``run_self_test``: ``manage.py enterspeed_inspect --all-models`` and the
admin's mapping self-test, to run before a first seed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from wagtail.models import DraftStateMixin, get_page_models

from enterspeed_sync.capture.fanout import object_publish_specs, page_publish_specs
from enterspeed_sync.conf import conf
from enterspeed_sync.handlers import BaseJobHandler, find_handler, prepare_batch
from enterspeed_sync.mapping import (
    get_base_page_model,
    get_entity_type,
    get_locale_code,
    get_model_for_origin_id,
    get_object_for_origin_id,
    get_synced_snippet_models,
)
from enterspeed_sync.mapping.batch import mapping_batch
from enterspeed_sync.mapping.identity import get_document_model, get_image_model
from enterspeed_sync.models import EnterspeedJob, EntityType, JobType


@dataclass
class Inspection:
    origin_id: str
    #: "save", "delete", or "" when no handler can plan it.
    action: str = ""
    entity: dict[str, Any] | None = None
    reason: str = ""
    problems: dict[str, str] = field(default_factory=dict)
    handler: str = ""


def inspect_origin_id(origin_id: str) -> Inspection:
    """
    Plan a publish job for ``origin_id`` with the configured handlers. Raises LookupError
    for an id that names no synced model; mapping errors propagate, as they would fail the job.
    """
    model, pk = get_model_for_origin_id(origin_id)
    try:
        obj = get_object_for_origin_id(origin_id)
    except LookupError:  # gone: its handler plans the delete
        obj = None
    entity_type = get_entity_type(model) or EntityType.CUSTOM
    job = EnterspeedJob(
        entity_type=entity_type,
        entity_id=origin_id if entity_type == EntityType.SNIPPET else str(pk),
        job_type=JobType.PUBLISH,
        origin_id=origin_id,
        locale=get_locale_code(obj) if obj is not None else "",
    )
    handler = find_handler(job)
    if handler is None:
        reason = "No handler in ENTERSPEED_SYNC['JOB_HANDLERS'] can publish it."
        return Inspection(origin_id, reason=reason)
    name = handler.key or type(handler).__name__
    operations = [op for op in handler.operations(job) if op.origin_id == origin_id]
    if not operations:
        return Inspection(
            origin_id, reason=f"Its handler {name} sends nothing for it.", handler=name
        )
    operation = operations[-1]  # the last instruction for an entity is what stays
    return Inspection(
        origin_id,
        action=operation.action,
        entity=operation.entity,
        reason=operation.reason,
        problems=operation.problems,
        handler=name,
    )


# The site-wide self-test ------------------------------------------------------------------

#: Objects mapped per model by default: enough to meet most field shapes, quick on any site.
DEFAULT_SELF_TEST_LIMIT = 10


@dataclass
class ModelReport:
    """How mapping went for up to N live objects of one synced model."""

    label: str
    kind: str
    tried: int = 0
    ok: int = 0
    #: Objects the handler would delete rather than send (a guard veto, say): not problems.
    skipped: int = 0
    problems: int = 0
    #: ``"<origin id>: <what is wrong>"`` for the first object that could not be sent.
    first_problem: str = ""
    first_skip_reason: str = ""

    def add_problem(self, origin_id: str, text: str) -> None:
        self.problems += 1
        if not self.first_problem:
            self.first_problem = f"{origin_id}: {text}"


@dataclass
class SelfTest:
    reports: list[ModelReport]
    #: Labels of synced models with no live object to try (page types nobody used yet).
    untried: list[str]

    @property
    def problems(self) -> int:
        return sum(report.problems for report in self.reports)

    @property
    def tried(self) -> int:
        return sum(report.tried for report in self.reports)


def run_self_test(limit: int = DEFAULT_SELF_TEST_LIMIT) -> SelfTest:
    """
    Map up to ``limit`` live objects of every synced model (every page type, the image and
    document models, every synced snippet model) the way processing would, without sending:
    the configured handlers load them in bulk and plan each job, so mappers, guards and the
    pre-flight contract validation all run. Never raises for a mapping error: it is counted
    on its model's report, with the first one's text.
    """
    reports: list[ModelReport] = []
    untried: list[str] = []
    for kind, model, specs in _synced_model_specs(limit):
        specs = list(specs)
        if not specs:
            untried.append(model._meta.label)
            continue
        reports.append(_test_model(kind, model, specs))
    return SelfTest(reports=reports, untried=untried)


def _synced_model_specs(limit: int):
    """(kind, model, publish job specs of up to ``limit`` of its live objects) per model."""
    base = get_base_page_model()
    for model in sorted(get_page_models(), key=lambda m: m._meta.label):
        if not issubclass(model, base):
            continue
        content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
        pages = base.objects.live().filter(depth__gt=1, content_type=content_type)
        yield "page", model, page_publish_specs(pages.order_by("path")[:limit])
    media = []
    if conf.SYNC_IMAGES:
        media.append(("image", get_image_model()))
    if conf.SYNC_DOCUMENTS:
        media.append(("document", get_document_model()))
    snippets = sorted(get_synced_snippet_models(), key=lambda m: m._meta.label)
    for kind, model in [*media, *(("snippet", model) for model in snippets)]:
        objects = model._default_manager.all()
        if issubclass(model, DraftStateMixin):
            objects = objects.filter(live=True)
        ids = list(objects.order_by("pk").values_list("pk", flat=True)[:limit])
        yield kind, model, object_publish_specs(model._default_manager.filter(pk__in=ids))


def _test_model(kind: str, model, specs) -> ModelReport:
    report = ModelReport(label=model._meta.label, kind=kind)
    jobs = [spec.as_job() for spec in specs]

    def prepare_failed(handler: BaseJobHandler, handler_jobs, exc: Exception) -> None:
        # Processing survives it too, but slower.
        report.add_problem(
            handler_jobs[0].origin_id,
            f"{type(handler).__name__}.prepare failed (processing loads each object "
            f"alone then): {type(exc).__name__}: {exc}",
        )

    with mapping_batch():
        handlers = prepare_batch(jobs, on_error=prepare_failed)
        for job, handler in zip(jobs, handlers, strict=True):
            report.tried += 1
            _test_job(job, handler, report)
    return report


def _test_job(job: EnterspeedJob, handler: BaseJobHandler | None, report: ModelReport) -> None:
    if handler is None:
        report.add_problem(
            job.origin_id, "no handler in ENTERSPEED_SYNC['JOB_HANDLERS'] can publish it"
        )
        return
    try:
        operations = handler.operations(job)
    except Exception as exc:  # noqa: BLE001 - the error is what the self-test reports
        report.add_problem(job.origin_id, f"{type(exc).__name__}: {exc}")
        return
    saves = [op for op in operations if op.action == "save"]
    if invalid := next((op for op in saves if op.problems), None):
        path, problem = next(iter(invalid.problems.items()))
        more = len(invalid.problems) - 1
        suffix = f" (and {more} more)" if more else ""
        report.add_problem(job.origin_id, f"{path or 'entity'}: {problem}{suffix}")
    elif not saves:
        report.skipped += 1
        reason = next((op.reason for op in operations if op.reason), "it sends no entity")
        report.first_skip_reason = report.first_skip_reason or f"{job.origin_id}: {reason}"
    else:
        report.ok += 1
