"""
``BaseMapper``: one object → one Enterspeed source entity. The page, image, document and
snippet mappers subclass it; so can you (see ``ENTERSPEED_SYNC["MAPPERS"]``).

What goes into ``properties``, first match wins:

1. the model's ``get_enterspeed_properties(mapper)`` method, when it has one;
2. the entries in the model's ``enterspeed_fields``;
3. the entries in the model's ``api_fields`` (Wagtail's API configuration), each rendered as
   Wagtail's API v2 renders it, serializers included (``mapping/api_fields.py``);
4. every field the model adds (concrete fields, many-to-many fields, tags and
   ``ParentalKey`` children), leaving out Wagtail's bookkeeping.

A ``meta`` property (ids, locale, translations, dates) is always added.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from contextlib import nullcontext
from functools import cached_property
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import translation
from modelcluster.models import get_all_child_relations
from rest_framework.fields import SkipField
from taggit.models import ItemBase
from wagtail.api import APIField
from wagtail.blocks import StreamValue
from wagtail.models import DraftStateMixin, TranslatableMixin
from wagtail.rich_text import RichText

from enterspeed_sync.conf import conf
from enterspeed_sync.delivery.retries import Verdict, classify
from enterspeed_sync.exceptions import MappingError
from enterspeed_sync.loading import load_instances
from enterspeed_sync.mapping import batch
from enterspeed_sync.mapping.api_fields import (
    SKIP,
    bind_serializer_field,
    find_model_field,
    get_property_entries,
    read_attribute,
    represent,
    serializer_of,
)
from enterspeed_sync.mapping.blocks import DEFAULT_BLOCK_CONVERTERS, BaseBlockConverter
from enterspeed_sync.mapping.fields import DEFAULT_FIELD_CONVERTERS, BaseFieldConverter
from enterspeed_sync.mapping.identity import get_origin_id, origin_id_for
from enterspeed_sync.mapping.references import reference_for
from enterspeed_sync.mapping.values import absolutize_html, lower_camel, to_json_value

logger = logging.getLogger(__name__)

# A value not read yet, for error messages.
_NOT_READ = object()
# (model label, field name) pairs already reported as unknown in this process.
_reported_unknown_fields: set[tuple[str, str]] = set()


class BaseMapper:
    """Maps ``obj`` to an entity. Override a ``get_*`` method to change one part of it."""

    #: Dotted paths of field converters tried before the configured ones, for this mapper only.
    field_converters: Sequence[str] = ()
    #: Field names never sent as properties.
    excluded_fields: frozenset[str] = frozenset()

    def __init__(self, obj: models.Model) -> None:
        self.obj = obj

    # The entity --------------------------------------------------------------------------

    def origin_id(self) -> str:
        return get_origin_id(self.obj)

    def to_entity(self) -> dict[str, Any]:
        """The entity body for ``POST /ingest/v2/{originId}``."""
        with self.language():
            entity: dict[str, Any] = {"type": self.get_type()}
            if url := self.get_url():
                entity["url"] = url
            if redirects := self.get_redirects():
                entity["redirects"] = redirects
            if parent_id := self.get_origin_parent_id():
                entity["originParentId"] = parent_id
            entity["properties"] = self.get_properties()
        return entity

    def get_type(self) -> str:
        if explicit := getattr(self.obj, "enterspeed_type", None):
            return str(explicit)
        return lower_camel(type(self.obj).__name__)

    def get_url(self) -> str | None:
        return None

    def get_redirects(self) -> list[str]:
        return []

    def get_origin_parent_id(self) -> str | None:
        return None

    def get_properties(self) -> dict[str, Any]:
        custom = getattr(self.obj, "get_enterspeed_properties", None)
        if callable(custom):
            properties = dict(custom(self))
        else:
            properties = {**self.get_base_properties(), **self.get_field_properties()}
        properties.setdefault("meta", self.get_meta())
        converted = {}
        for name, value in properties.items():
            try:
                converted[str(name)] = to_json_value(value)
            except TypeError as e:
                raise self.conversion_error(self.obj, str(name), value, e) from e
        return converted

    def get_base_properties(self) -> dict[str, Any]:
        """Properties every object of this kind has (a page's title, an image's size…)."""
        return {}

    def get_meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"pk": self.obj.pk, "content_type": self.obj._meta.label_lower}
        if isinstance(self.obj, TranslatableMixin):
            meta.update(
                locale=self.obj.locale.language_code,
                translation_key=self.obj.translation_key,
                translations=self.get_translation_origin_ids(),
            )
        return meta

    def get_translation_origin_ids(self) -> list[str]:
        """Origin ids of the object's translations that are in Enterspeed, sorted."""
        model = self.translation_model
        pks = batch.translation_pks(self.obj, model)
        if pks is None:
            translations = self.obj.get_translations()
            if isinstance(self.obj, DraftStateMixin):
                translations = translations.filter(live=True)
            return sorted((get_origin_id(obj) for obj in translations), key=_natural_key)
        return sorted((origin_id_for(model, pk) for pk in pks), key=_natural_key)

    @property
    def translation_model(self) -> type[models.Model]:
        """The model whose rows are the object's translations (its own, for snippets)."""
        return type(self.obj)

    # Choosing fields ---------------------------------------------------------------------

    def get_property_entries(self) -> list[APIField] | None:
        """
        The model's ``enterspeed_fields``, else ``api_fields``, as ``APIField``s (plain names
        become ``APIField(name)``); None means every field. Follows ``get_property_names``
        when a subclass overrides that.
        """
        names = self.get_property_names()
        if names is None:
            return None
        declared = {entry.name: entry for entry in get_property_entries(type(self.obj)) or ()}
        return [declared.get(name) or APIField(name) for name in names]

    def get_property_names(self) -> list[str] | None:
        """Names from ``enterspeed_fields`` or ``api_fields``; None means every field."""
        entries = get_property_entries(type(self.obj))
        return None if entries is None else [entry.name for entry in entries]

    def get_default_fields(self) -> list[Any]:
        """Every field the model adds: concrete, many-to-many (tags too) and child relations."""
        opts = self.obj._meta
        excluded = set(self.excluded_fields)
        fields = [
            field
            for field in [*opts.concrete_fields, *opts.many_to_many]
            if field.name not in excluded
            and not field.primary_key
            and not (isinstance(field, models.OneToOneField) and field.remote_field.parent_link)
        ]
        fields += [
            relation
            for relation in _child_relations(type(self.obj))
            if relation.name not in excluded
            and relation.get_accessor_name() not in excluded
            # A tag field's through model: the tags field itself sends the names.
            and not issubclass(relation.related_model, ItemBase)
        ]
        return fields

    def get_field_properties(self) -> dict[str, Any]:
        entries = self.get_property_entries()
        properties: dict[str, Any] = {}
        if entries is None:
            for field in self.get_default_fields():
                self._add_field(properties, self.obj, field)
            return properties
        return self.convert_entries(self.obj, entries)

    def convert_entries(self, obj: models.Model, entries: Sequence[APIField]) -> dict[str, Any]:
        """``{name: value}`` for ``api_fields``-style entries, as Wagtail's API renders them."""
        properties: dict[str, Any] = {}
        for entry in entries:
            value = self.convert_entry(obj, entry)
            if value is not SKIP:
                properties[entry.name] = value
        return properties

    def convert_entry(self, obj: models.Model, entry: APIField) -> Any:
        """
        One entry: its serializer's representation (Django REST framework, bound with
        ``api_context``), else our converter for the model field or relation of that name,
        else the attribute's value converted. ``SKIP`` leaves it out.
        """
        has_serializer = serializer_of(entry) is not None
        if not has_serializer:
            field = find_model_field(type(obj), entry.name)
            if field is not None:
                return self.convert_field(obj, field, name=entry.name)
        value: Any = _NOT_READ
        try:
            if not has_serializer:
                value = read_attribute(obj, entry.name)
                return self.convert_value(value)
            serializer_field = bind_serializer_field(entry, self.api_context)
            try:
                value = serializer_field.get_attribute(obj)
            except SkipField:
                return SKIP
            # Wagtail's BaseSerializer: None is None, without to_representation.
            if value is None:
                return None
            return self.convert_value(represent(serializer_field, value))
        except Exception as e:
            if not _is_content_error(e):
                raise
            raise self.conversion_error(obj, entry.name, value, e) from e

    def convert_field(self, obj: models.Model, field: Any, *, name: str | None = None) -> Any:
        """A model field's (or relation's) value, through the first converter that knows it."""
        converter = self.find_field_converter(field)
        if converter is None:
            self.report_unknown_field(obj, field)
            return SKIP
        try:
            return converter.convert(obj, field, self)
        except Exception as e:
            if not _is_content_error(e):
                raise
            value = _peek(obj, getattr(field, "attname", None) or _accessor(field))
            raise self.conversion_error(obj, name or _accessor(field), value, e) from e

    def conversion_error(
        self, obj: models.Model, name: str, value: Any, error: Exception
    ) -> MappingError:
        """A MappingError naming the model, the field and the value's type."""
        value_type = "" if value is _NOT_READ else f" (a {type(value).__name__} value)"
        return MappingError(
            f"Cannot convert {obj._meta.label}.{name}{value_type}: {type(error).__name__}: {error}"
        )

    def _add_field(self, properties: dict[str, Any], obj: models.Model, field: Any) -> None:
        value = self.convert_field(obj, field)
        if value is not SKIP:
            properties[_accessor(field)] = value

    # Converting values -------------------------------------------------------------------

    @cached_property
    def _field_converters(self) -> tuple[BaseFieldConverter, ...]:
        own = load_instances(tuple(self.field_converters), BaseFieldConverter, "MAPPERS")
        configured = load_instances(
            (*conf.FIELD_CONVERTERS, *DEFAULT_FIELD_CONVERTERS),
            BaseFieldConverter,
            "FIELD_CONVERTERS",
        )
        return own + configured

    @cached_property
    def _block_converters(self) -> tuple[BaseBlockConverter, ...]:
        return load_instances(
            (*conf.BLOCK_CONVERTERS, *DEFAULT_BLOCK_CONVERTERS),
            BaseBlockConverter,
            "BLOCK_CONVERTERS",
        )

    def find_field_converter(self, field: Any) -> BaseFieldConverter | None:
        for converter in self._field_converters:
            if converter.can_convert(field):
                return converter
        return None

    def convert_block(self, block: Any, value: Any) -> Any:
        for converter in self._block_converters:
            if converter.can_convert(block):
                return converter.convert(block, value, self)
        raise MappingError(f"No block converter can convert {type(block).__name__} blocks.")

    def convert_child(self, child: models.Model, *, parental_key: models.Field) -> dict[str, Any]:
        """One ``ParentalKey`` child (an inline panel row) as an object of its fields."""
        if (entries := get_property_entries(type(child))) is not None:
            # As Wagtail's API renders child relations: with the child model's api_fields.
            return self.convert_entries(child, entries)
        properties: dict[str, Any] = {}
        opts = child._meta
        for field in [*opts.concrete_fields, *opts.many_to_many]:
            if field.primary_key or field.name in (parental_key.name, "sort_order"):
                continue
            self._add_field(properties, child, field)
        return properties

    def convert_value(self, value: Any) -> Any:
        """Any attribute's value: models become references, rich text and streams convert."""
        if isinstance(value, models.Model):
            return self.reference_for(value)
        if isinstance(value, models.Manager | models.QuerySet):
            return [self.convert_value(item) for item in value.all()]
        if isinstance(value, RichText):
            return self.expand_rich_text(value.source)
        if isinstance(value, StreamValue):
            return self.convert_block(value.stream_block, value)
        if isinstance(value, list | tuple):
            return [self.convert_value(item) for item in value]
        if isinstance(value, dict):
            return {str(key): self.convert_value(item) for key, item in value.items()}
        return to_json_value(value)

    def reference_for(self, obj: models.Model) -> dict[str, Any]:
        return reference_for(obj, self.media_base_url)

    def expand_rich_text(self, html: str) -> str:
        """Expand page links, documents and images, and make every URL absolute."""
        return absolutize_html(batch.expand_db_html(html), self.base_url)

    def report_unknown_field(self, obj: models.Model, field: Any) -> None:
        label = obj._meta.label
        message = (
            f"No field converter knows {label}.{field.name} ({type(field).__name__}). Add one "
            "to ENTERSPEED_SYNC['FIELD_CONVERTERS'], or leave the field out with "
            "enterspeed_fields."
        )
        if conf.UNKNOWN_FIELDS == "fail":
            raise MappingError(message)
        if (label, field.name) not in _reported_unknown_fields:
            _reported_unknown_fields.add((label, field.name))
            logger.warning("%s It is skipped.", message)

    # Context -----------------------------------------------------------------------------

    @cached_property
    def base_url(self) -> str:
        """The root URL relative links in this object's content are made absolute against."""
        if root_url := batch.default_root_url():
            return root_url
        return getattr(settings, "WAGTAILADMIN_BASE_URL", "") or "http://localhost"

    @cached_property
    def media_base_url(self) -> str:
        return conf.MEDIA_BASE_URL or self.base_url

    @cached_property
    def api_context(self) -> dict[str, Any]:
        """The context blocks' ``get_api_representation`` gets: a request, as in the v2 API."""
        return batch.request_context(self.base_url)

    def language(self):
        """Map a translatable object in its own language, so ``.localized`` links match it."""
        if isinstance(self.obj, TranslatableMixin):
            return translation.override(self.obj.locale.language_code)
        return nullcontext()


@functools.cache
def _child_relations(model: type[models.Model]) -> tuple[Any, ...]:
    """modelcluster's child relations of a model (fixed once the app registry is ready)."""
    return tuple(get_all_child_relations(model))


def _is_content_error(error: Exception) -> bool:
    """An error the object's content causes (wrapped with its field), not a network error
    worth a retry, nor a MappingError that already says what is wrong."""
    return not isinstance(error, MappingError) and classify(error).verdict is Verdict.PERMANENT


def _peek(obj: models.Model, attribute: str) -> Any:
    try:
        return getattr(obj, attribute)
    except Exception:  # noqa: BLE001 (only for the error message)
        return _NOT_READ


def _accessor(field: Any) -> str:
    """The attribute a field or reverse relation is read through."""
    return field.get_accessor_name() if isinstance(field, models.ForeignObjectRel) else field.name


def _natural_key(origin_id: str) -> tuple[str, int, str]:
    # "page-9" before "page-10"; primary keys may hold hyphens, model labels do not.
    prefix, _, pk = origin_id.partition("-")
    return (prefix, len(pk), pk)
