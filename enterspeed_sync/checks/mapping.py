"""
Checks of what the sync maps and how: handler, converter, guard and mapper classes, the
models and renditions the settings name, and each synced model's property entries.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.apps import apps
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from modelcluster.models import get_all_child_relations
from wagtail.images.exceptions import InvalidFilterSpecError
from wagtail.images.models import Filter
from wagtail.models import get_page_models

from enterspeed_sync.checks.settings import is_dict_setting
from enterspeed_sync.conf import SETTING_NAME, conf
from enterspeed_sync.guards import BaseGuard
from enterspeed_sync.handlers import load_handler_class
from enterspeed_sync.loading import SettingImportError, describe, load_class
from enterspeed_sync.mapping import (
    BaseBlockConverter,
    BaseFieldConverter,
    BaseMapper,
    get_synced_snippet_models,
)
from enterspeed_sync.mapping.api_fields import find_entry_problems
from enterspeed_sync.mapping.identity import get_document_model, get_image_model


@register(Tags.compatibility)
def check_job_handlers(app_configs=None, **kwargs):

    if not is_dict_setting():
        return []
    errors = []
    seen_keys: dict[str, str] = {}
    # Not a list of paths or classes: E003 from check_setting_values.
    for entry in conf.JOB_HANDLERS:
        path = describe(entry)
        try:
            handler_class = load_handler_class(entry)
        except ImproperlyConfigured as e:
            error_id = "E003" if isinstance(e, SettingImportError) else "E004"
            errors.append(Error(str(e), id=f"enterspeed_sync.{error_id}"))
            continue
        key = handler_class.key or path
        if key in seen_keys:
            errors.append(
                Warning(
                    f"{path!r} and {seen_keys[key]!r} in {SETTING_NAME}['JOB_HANDLERS'] share "
                    f"the key {key!r}.",
                    hint="Give every handler class its own `key`.",
                    id="enterspeed_sync.W003",
                )
            )
        seen_keys[key] = path
    return errors


@register(Tags.compatibility)
def check_mapping_classes(app_configs=None, **kwargs):

    if not is_dict_setting():
        return []
    listed = [
        *(("FIELD_CONVERTERS", path, BaseFieldConverter) for path in conf.FIELD_CONVERTERS),
        *(("BLOCK_CONVERTERS", path, BaseBlockConverter) for path in conf.BLOCK_CONVERTERS),
        *(("GUARDS", path, BaseGuard) for path in conf.GUARDS),
        *(("MAPPERS", path, BaseMapper) for path in conf.MAPPERS.values()),
    ]
    errors = []
    for setting, path, base_class in listed:
        try:
            load_class(path, base_class, setting)
        except ImproperlyConfigured as e:
            errors.append(Error(str(e), id="enterspeed_sync.E009"))
    return errors


@register(Tags.compatibility)
def check_mapping_settings(app_configs=None, **kwargs):
    if not is_dict_setting():
        return []
    warnings = []
    for label in conf.MAPPERS:
        try:
            apps.get_model(label)
        except (LookupError, ValueError):
            warnings.append(
                Warning(
                    f"{SETTING_NAME}['MAPPERS'] names {label!r}, which is not an installed model.",
                    hint="Use 'app_label.ModelName', e.g. 'blog.BlogPage'.",
                    id="enterspeed_sync.W006",
                )
            )
    if conf.SNIPPET_MODELS is not None:
        synced = {model._meta.label_lower for model in get_synced_snippet_models()}
        for label in conf.SNIPPET_MODELS:
            if label.lower() not in synced:
                warnings.append(
                    Warning(
                        f"{SETTING_NAME}['SNIPPET_MODELS'] names {label!r}, which is not a "
                        "registered snippet model; it does not sync.",
                        hint="Register it with wagtail.snippets.models.register_snippet.",
                        id="enterspeed_sync.W007",
                    )
                )
    media_base_url = conf.MEDIA_BASE_URL
    if media_base_url and urlsplit(media_base_url).scheme not in ("http", "https"):
        warnings.append(
            Warning(
                f"{SETTING_NAME}['MEDIA_BASE_URL'] should be an absolute http(s) URL, not "
                f"{media_base_url!r}.",
                id="enterspeed_sync.W008",
            )
        )
    warnings += _check_renditions()
    return warnings


def _check_renditions():
    warnings = []
    for name, spec in conf.IMAGE_RENDITIONS.items():
        try:
            Filter(spec=spec).operations  # noqa: B018  (parsing is the check)
        except InvalidFilterSpecError as e:
            warnings.append(
                Warning(
                    f"{SETTING_NAME}['IMAGE_RENDITIONS'][{name!r}] is not a valid filter spec: {e}",
                    hint="Use a Wagtail filter spec such as 'fill-300x200' or 'width-800'.",
                    id="enterspeed_sync.W009",
                )
            )
    return warnings


@register(Tags.models)
def check_property_entries(app_configs=None, **kwargs):
    """Each synced model's enterspeed_fields/api_fields entry must resolve, as Wagtail's API
    needs it to; otherwise every job of that model fails."""

    if not is_dict_setting():
        return []  # E008 says so; which models sync is unknown
    synced = [*get_page_models(), *get_synced_snippet_models()]
    if conf.SYNC_IMAGES:
        synced.append(get_image_model())
    if conf.SYNC_DOCUMENTS:
        synced.append(get_document_model())
    # Inline children are mapped with their own entries too.
    models = list(
        dict.fromkeys(
            model
            for parent in synced
            for model in [parent, *(rel.related_model for rel in get_all_child_relations(parent))]
        )
    )
    errors = []
    for model in models:
        if callable(getattr(model, "get_enterspeed_properties", None)):
            continue  # the model builds its properties itself
        uses_own = getattr(model, "enterspeed_fields", None) is not None
        setting = "enterspeed_fields" if uses_own else "api_fields"
        for entry, problem in find_entry_problems(model, setting):
            errors.append(
                Error(
                    f"{model._meta.label}.{setting} entry {entry!r}: {problem}.",
                    hint=f"Every {setting} entry needs a field, relation, property or method "
                    "of the model, or a serializer whose source is one (as for Wagtail's API). "
                    "Fix or remove the entry; until then every job of this model fails.",
                    obj=model,
                    id="enterspeed_sync.E013",
                )
            )
    return errors
