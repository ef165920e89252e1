"""
What would be sent for an entity right now, without sending it: ``manage.py
enterspeed_inspect`` prints it, and the admin shows it next to a job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from enterspeed_sync.handlers import find_handler
from enterspeed_sync.handlers.base import BasePublishHandler
from enterspeed_sync.mapping import get_entity_type, get_locale_code, get_object_for_origin_id
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
    model, pk = get_object_for_origin_id(origin_id)
    obj = model._default_manager.filter(pk=pk).first()
    entity_type = get_entity_type(model) or EntityType.CUSTOM
    job = EnterspeedJob(
        entity_type=entity_type,
        entity_id=origin_id if entity_type == EntityType.SNIPPET else str(pk),
        job_type=JobType.PUBLISH,
        origin_id=origin_id,
        locale=get_locale_code(obj) if obj is not None else "",
    )
    handler = find_handler(job)
    if not isinstance(handler, BasePublishHandler):
        reason = "No handler in ENTERSPEED_SYNC['JOB_HANDLERS'] can publish it."
        if handler is not None:
            reason = f"Its handler {type(handler).__name__} cannot show what it would send."
        return Inspection(origin_id, reason=reason)
    plan = handler.plan(job)
    return Inspection(
        origin_id,
        action=plan.action,
        entity=plan.entity,
        reason=plan.reason,
        problems=plan.problems,
        handler=handler.key or type(handler).__name__,
    )
