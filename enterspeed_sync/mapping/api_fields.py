"""
A model's ``enterspeed_fields`` / ``api_fields`` entries, read the way Wagtail's API v2 reads
them (``wagtail/api/v2/views.py`` and ``serializers.py``, on Django REST framework):

- a plain name is ``APIField(name)``;
- ``APIField(name, serializer=field)``: the Django REST framework field is bound to ``name`` on
  a serializer whose context holds the mapper's request (``BaseMapper.api_context``), takes its
  value with DRF's ``get_attribute`` (``source``, dotted sources, ``source="*"``, methods called
  without arguments) and renders it with ``to_representation``. ``None`` stays ``None`` and a
  ``SkipField`` leaves the property out, as in Wagtail's ``BaseSerializer``;
- without a serializer, a model field or reverse relation (found by accessor name, like
  ``wagtail.api.conf.get_model_field``) goes through our field converters, and any other name
  must be an attribute of the model class (a property, or a method called without arguments).

``find_entry_problems`` reports what Wagtail's API would refuse; the system check
``enterspeed_sync.E013`` runs it for every synced model.
"""

from __future__ import annotations

import copy
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from modelcluster.models import get_all_child_relations
from rest_framework import serializers
from rest_framework.fields import Field, get_attribute
from wagtail.api import APIField
from wagtail.images.api.fields import ImageRenditionField
from wagtail.images.models import AbstractImage

from enterspeed_sync.mapping import batch

__all__ = [
    "SKIP",
    "bind_serializer_field",
    "find_entry_problems",
    "find_model_field",
    "get_property_entries",
    "read_attribute",
    "represent",
    "serializer_of",
]

#: Returned for an entry Wagtail's API would leave out (its serializer raised ``SkipField``).
SKIP = object()


def get_property_entries(model: type[models.Model]) -> list[APIField] | None:
    """The model's ``enterspeed_fields``, else its ``api_fields``, as ``APIField``s; else None."""
    entries = getattr(model, "enterspeed_fields", None)
    if entries is None:
        entries = getattr(model, "api_fields", None)
    if entries is None:
        return None
    return [entry if isinstance(entry, APIField) else APIField(entry) for entry in entries]


def find_model_field(model: type[models.Model], name: str) -> Any:
    """The model field, or reverse relation by accessor name (child relations too), or None."""
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        pass
    relations = [*model._meta.related_objects, *get_all_child_relations(model)]
    return next((rel for rel in relations if rel.get_accessor_name() == name), None)


def serializer_of(entry: APIField) -> Field | None:
    """
    The entry's serializer field. Anything else (a serializer class, say) is ignored, as in
    Wagtail's API: Django REST framework only takes ``Field`` instances as declared fields.
    """
    return entry.serializer if isinstance(entry.serializer, Field) else None


class _HostSerializer(serializers.Serializer):
    """The parent an ``APIField``'s serializer field is bound to; it carries the context."""


def bind_serializer_field(entry: APIField, context: dict[str, Any]) -> Field:
    """
    A copy of the entry's serializer field, bound to its name, as DRF binds fields. Inside a
    batch one copy per context serves every object, as one serializer's fields serve every
    object of a list in DRF (``many=True``).
    """
    serializer = serializer_of(entry)
    current = batch.current_batch()
    key = (id(serializer), id(context))
    if current is not None and key in current.bound_fields:
        kept, kept_context, field = current.bound_fields[key]
        if kept is serializer and kept_context is context:
            return field
    field = copy.deepcopy(serializer)
    field.bind(entry.name, _HostSerializer(context=context))
    if current is not None:
        current.bound_fields[key] = (serializer, context, field)
    return field


def represent(field: Field, value: Any) -> Any:
    """
    ``field.to_representation(value)``. Inside a batch, Wagtail's own ``ImageRenditionField``
    renders each image once per filter spec (and alt text) for the whole batch: its output
    depends on nothing else, and the rendition it reads was prefetched for the batch
    (``prefetch.prefetch_renditions``). A subclass that renders its own way is called as it is.
    """
    current = batch.current_batch()
    if (
        current is None
        or not isinstance(value, AbstractImage)
        or type(field).to_representation is not ImageRenditionField.to_representation
    ):
        return field.to_representation(value)
    key = (
        type(field),
        field.filter_spec,
        field.preserve_svg,
        type(value),
        value.pk,
        # Set on an image by an ImageBlock; the rendition's alt text follows them.
        getattr(value, "decorative", None),
        getattr(value, "contextual_alt_text", None),
    )
    if key not in current.representations:
        current.representations[key] = field.to_representation(value)
    return copy.copy(current.representations[key])


def read_attribute(obj: models.Model, name: str) -> Any:
    """``obj.<name>`` as DRF's ``ReadOnlyField`` reads it: a method without arguments is called,
    a missing related object is None."""
    return get_attribute(obj, [name])


def find_entry_problems(model: type[models.Model], setting: str) -> list[tuple[str, str]]:
    """``(entry, problem)`` for each entry of ``model.<setting>`` Wagtail's API would refuse."""
    problems = []
    for raw in getattr(model, setting, None) or ():
        if not isinstance(raw, str | APIField):
            problems.append((repr(raw), "is neither a name nor an APIField"))
            continue
        entry = raw if isinstance(raw, APIField) else APIField(raw)
        if problem := _entry_problem(model, entry):
            problems.append((entry.name, problem))
    return problems


def _entry_problem(model: type[models.Model], entry: APIField) -> str | None:
    serializer = serializer_of(entry)
    if serializer is None:
        return _name_problem(model, entry.name)
    if isinstance(serializer, serializers.SerializerMethodField):
        return (
            "uses SerializerMethodField, whose method lives on a serializer; the serializer "
            "Wagtail's API builds has none"
        )
    if serializer.source == entry.name:
        return f"repeats its name as source={entry.name!r}, which Django REST framework refuses"
    source = serializer.source or entry.name
    if source == "*":
        return None
    if problem := _name_problem(model, source.split(".")[0]):
        return f"has source={source!r}: {problem}"
    return None


def _name_problem(model: type[models.Model], name: str) -> str | None:
    if find_model_field(model, name) is not None or hasattr(model, name):
        return None
    return f"{name!r} is no field, relation, property or method of {model.__name__}"
