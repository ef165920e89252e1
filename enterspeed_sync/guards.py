"""
Guards: checks that can veto sending an object to Enterspeed.

``ENTERSPEED_SYNC["GUARDS"]`` lists them in order (``enterspeed_sync.defaults.DEFAULT_GUARDS``
when unset); the first that returns a reason vetoes. A vetoed object is *deleted* from
Enterspeed, so nothing stale stays there when, say, a page stops being routable. Write one
by subclassing ``BaseGuard``::

    class HideInternalPagesGuard(BaseGuard):
        key = "hide_internal"

        def get_veto_reason(self, obj, mapper):
            if getattr(obj, "is_internal", False):
                return "Internal pages are not published to Enterspeed."
            return None
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from wagtail.models import AbstractPage

from enterspeed_sync import defaults
from enterspeed_sync.conf import conf
from enterspeed_sync.loading import load_instances

if TYPE_CHECKING:
    from django.db import models

    from enterspeed_sync.mapping import BaseMapper

#: Kept for existing settings; import it from ``enterspeed_sync.defaults`` instead, which
#: settings.py can import before the app registry is ready (this module cannot).
DEFAULT_GUARDS: list[str] = list(defaults.DEFAULT_GUARDS)


class BaseGuard:
    """One veto check. Instantiated once per process; keep no per-object state on ``self``."""

    #: A unique, stable name, shown with the veto.
    key: str = ""

    def get_veto_reason(self, obj: models.Model, mapper: BaseMapper) -> str | None:
        """A sentence saying why ``obj`` must not be in Enterspeed, or None to let it through."""
        raise NotImplementedError


class RoutablePageGuard(BaseGuard):
    """A page must have a URL: pages outside every site's tree are not content anyone can see."""

    key = "routable_page"

    def get_veto_reason(self, obj, mapper):
        if isinstance(obj, AbstractPage) and mapper.get_url() is None:
            return "The page has no URL: it is not below the root page of any site."
        return None


@dataclass(frozen=True)
class Veto:
    guard: str
    reason: str

    def __str__(self) -> str:
        return f"{self.reason} (guard {self.guard!r})"


def get_guards() -> tuple[BaseGuard, ...]:
    return load_instances(tuple(conf.GUARDS), BaseGuard, "GUARDS")


def find_veto(obj: models.Model, mapper: BaseMapper) -> Veto | None:
    """The first guard's veto of ``obj``, or None when every guard lets it through."""
    for guard in get_guards():
        if reason := guard.get_veto_reason(obj, mapper):
            return Veto(guard=guard.key or type(guard).__name__, reason=reason)
    return None
