"""
Which Wagtail objects become Enterspeed entities, and under which origin id.

===========================  ===========================  ==================================
Object                       Origin id                    Entity type of the job
===========================  ===========================  ==================================
page                         ``page-{pk}``                ``page``
image                        ``image-{pk}``               ``image``
document                     ``document-{pk}``            ``document``
snippet                      ``{app_label}.{model}-{pk}`` ``snippet``
===========================  ===========================  ==================================

Page pks are unique across locales, so the origin id carries no locale; the locale is in
each entity's ``meta``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import swapper
from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver
from wagtail.documents import get_document_model as get_wagtail_document_model
from wagtail.hooks import search_for_hooks
from wagtail.images import get_image_model as get_wagtail_image_model
from wagtail.models import AbstractPage, TranslatableMixin

from enterspeed_sync.conf import conf
from enterspeed_sync.models import EntityType


def get_base_page_model() -> type[AbstractPage]:
    """The project's base page model (``WAGTAIL_PAGE_MODEL``, Wagtail's ``Page`` by default)."""
    return swapper.load_model("wagtailcore", "Page")


def get_image_model() -> type[models.Model]:
    return get_wagtail_image_model()


def get_document_model() -> type[models.Model]:
    return get_wagtail_document_model()


def page_origin_id(page_id: int | str) -> str:
    return f"page-{page_id}"


def image_origin_id(image_id: int | str) -> str:
    return f"image-{image_id}"


def document_origin_id(document_id: int | str) -> str:
    return f"document-{document_id}"


def snippet_origin_id(model: type[models.Model] | models.Model, pk: int | str) -> str:
    return f"{model._meta.label_lower}-{pk}"


def get_synced_snippet_models() -> list[type[models.Model]]:
    """Registered snippet models that sync: all of them, or those ``SNIPPET_MODELS`` names."""
    if not apps.is_installed("wagtail.snippets"):
        return []
    # wagtail.snippets is optional: imported only when the app is installed.
    from wagtail.snippets.models import get_snippet_models

    # Snippets registered from wagtail_hooks.py exist only once the hooks are loaded, which
    # a worker that never loads the admin URLs would otherwise not do.
    search_for_hooks()
    wanted = conf.SNIPPET_MODELS
    registered = [
        model
        for model in get_snippet_models()
        # Images and documents are entities of their own, even when registered as snippets.
        if not issubclass(model, (get_image_model(), get_document_model()))
    ]
    if wanted is None:
        return registered
    labels = {label.lower() for label in wanted}
    return [model for model in registered if model._meta.label_lower in labels]


def get_entity_type(obj: models.Model | type[models.Model]) -> str | None:
    """The job entity type of an object or model, or None when it does not sync."""
    return _entity_type_of_model(obj if isinstance(obj, type) else type(obj))


@cache
def _entity_type_of_model(model: type[models.Model]) -> str | None:
    # Cached per model: every model save in the project asks (signal_handlers), and so does
    # every reference a mapping writes. Settings changes clear it.
    if issubclass(model, AbstractPage):
        return EntityType.PAGE
    if issubclass(model, get_image_model()):
        return EntityType.IMAGE if conf.SYNC_IMAGES else None
    if issubclass(model, get_document_model()):
        return EntityType.DOCUMENT if conf.SYNC_DOCUMENTS else None
    concrete = model._meta.concrete_model
    if any(concrete is synced._meta.concrete_model for synced in get_synced_snippet_models()):
        return EntityType.SNIPPET
    return None


@receiver(setting_changed)
def _clear_entity_type_cache(*, setting: str, **kwargs) -> None:
    if setting == "ENTERSPEED_SYNC":  # SYNC_IMAGES, SYNC_DOCUMENTS, SNIPPET_MODELS
        _entity_type_of_model.cache_clear()


def origin_id_for(model: type[models.Model], pk: Any) -> str:
    """The origin id of the object of ``model`` with primary key ``pk``."""
    entity_type = get_entity_type(model)
    if entity_type == EntityType.PAGE:
        return page_origin_id(pk)
    if entity_type == EntityType.IMAGE:
        return image_origin_id(pk)
    if entity_type == EntityType.DOCUMENT:
        return document_origin_id(pk)
    return snippet_origin_id(model, pk)


def get_origin_id(obj: models.Model) -> str:
    return origin_id_for(type(obj), obj.pk)


def get_locale_code(obj: models.Model) -> str:
    """The language code of a translatable object; ``""`` for everything else."""
    if isinstance(obj, TranslatableMixin):
        return obj.locale.language_code
    return ""


def get_model_for_origin_id(origin_id: str) -> tuple[type[models.Model], Any]:
    """
    ``"page-3"`` → (base page model, "3"); ``"blog.author-7"`` → (Author, "7").
    Raises LookupError when the id names no model that syncs.
    """
    # Model labels have no hyphen, primary keys may (UUIDs, strings): split at the first.
    prefix, sep, pk = origin_id.partition("-")
    if not sep or not pk:
        raise LookupError(f"{origin_id!r} is not an Enterspeed origin id of this site.")
    fixed = {
        "page": get_base_page_model,
        "image": get_image_model,
        "document": get_document_model,
    }
    if prefix in fixed:
        return fixed[prefix](), pk
    for model in get_synced_snippet_models():
        if model._meta.label_lower == prefix.lower():
            return model, pk
    raise LookupError(f"{origin_id!r} names no page, image, document or synced snippet model.")


def get_object_for_origin_id(origin_id: str) -> models.Model:
    """
    The page, image, document or snippet ``origin_id`` names. Raises LookupError when the
    id names no model that syncs, or no object of it (gone, or a key it cannot hold).
    """
    model, pk = get_model_for_origin_id(origin_id)
    try:
        key = model._meta.pk.to_python(pk)
    except ValidationError:
        raise LookupError(f"{origin_id!r} is not a key of {model._meta.label}.") from None
    obj = model._default_manager.filter(pk=key).first()
    if obj is None:
        raise LookupError(f"There is no {model._meta.verbose_name} {origin_id!r}.")
    return obj
