"""
Field converters: one model field's value → plain JSON.

The first converter whose ``can_convert(field)`` is true converts the field. The order is:
the mapper's own ``field_converters``, then ``ENTERSPEED_SYNC["FIELD_CONVERTERS"]``, then
``DEFAULT_FIELD_CONVERTERS``. A field none of them knows is skipped and logged once, or fails
the job when ``ENTERSPEED_SYNC["UNKNOWN_FIELDS"]`` is ``"fail"``.

``field`` is a model field or, for ``ParentalKey`` children, the reverse relation.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from django.db import models
from django.utils import timezone
from modelcluster.fields import ParentalKey
from taggit.managers import TaggableManager
from wagtail.fields import RichTextField, StreamField

from enterspeed_sync import defaults
from enterspeed_sync.mapping.values import absolute_url, to_json_value

if TYPE_CHECKING:
    from enterspeed_sync.mapping.base import BaseMapper

__all__ = ["DEFAULT_FIELD_CONVERTERS", "BaseFieldConverter"]


class BaseFieldConverter:
    """Converts the value of one kind of field. Instantiated once; keep no state on ``self``."""

    def can_convert(self, field: Any) -> bool:
        raise NotImplementedError

    def convert(self, obj: models.Model, field: Any, mapper: BaseMapper) -> Any:
        raise NotImplementedError


class RichTextFieldConverter(BaseFieldConverter):
    """HTML with page links and images expanded and every URL absolute."""

    def can_convert(self, field):
        return isinstance(field, RichTextField)

    def convert(self, obj, field, mapper):
        html = getattr(obj, field.attname)
        return mapper.expand_rich_text(html) if html else html


class StreamFieldConverter(BaseFieldConverter):
    """``[{"type", "id", "value"}, …]`` with every block converted (see ``blocks.py``)."""

    def can_convert(self, field):
        return isinstance(field, StreamField)

    def convert(self, obj, field, mapper):
        value = getattr(obj, field.attname)
        return mapper.convert_block(value.stream_block, value)


class TagsConverter(BaseFieldConverter):
    """Tag names, sorted so the payload does not change when nothing changed."""

    def can_convert(self, field):
        return isinstance(field, TaggableManager)

    def convert(self, obj, field, mapper):
        return sorted(tag.name for tag in getattr(obj, field.name).all())


class ForeignKeyConverter(BaseFieldConverter):
    """A reference (origin id, title, URL) to the related object, or None."""

    def can_convert(self, field):
        return isinstance(field, models.ForeignKey)  # OneToOneField included

    def convert(self, obj, field, mapper):
        related = getattr(obj, field.name)
        return mapper.reference_for(related) if related is not None else None


class ManyToManyConverter(BaseFieldConverter):
    """A list of references (``ManyToManyField`` and ``ParentalManyToManyField``)."""

    def can_convert(self, field):
        return isinstance(field, models.ManyToManyField)

    def convert(self, obj, field, mapper):
        return [mapper.reference_for(related) for related in getattr(obj, field.name).all()]


class ChildRelationConverter(BaseFieldConverter):
    """``ParentalKey`` children (inline panels) as a list of objects, in their editor order."""

    def can_convert(self, field):
        return isinstance(field, models.ManyToOneRel) and isinstance(field.field, ParentalKey)

    def convert(self, obj, field, mapper):
        return [
            mapper.convert_child(child, parental_key=field.field)
            for child in getattr(obj, field.get_accessor_name()).all()
        ]


class ReverseRelationConverter(BaseFieldConverter):
    """
    Another model's foreign key to this one, named in ``api_fields``: references to the
    objects pointing here (one, or None, for a one-to-one), as Wagtail's API nests them.
    """

    def can_convert(self, field):
        return isinstance(field, models.ForeignObjectRel)

    def convert(self, obj, field, mapper):
        if field.one_to_one:
            related = getattr(obj, field.get_accessor_name(), None)
            return mapper.reference_for(related) if related is not None else None
        related = getattr(obj, field.get_accessor_name()).all()
        return [mapper.reference_for(item) for item in related]


class FileFieldConverter(BaseFieldConverter):
    """The file's absolute URL (``FileField`` and ``ImageField``), or None."""

    def can_convert(self, field):
        return isinstance(field, models.FileField)

    def convert(self, obj, field, mapper):
        file = getattr(obj, field.attname)
        return absolute_url(file.url, mapper.media_base_url) if file else None


class DateTimeFieldConverter(BaseFieldConverter):
    """ISO 8601 with the zone; a naive value is read in the current time zone."""

    def can_convert(self, field):
        return isinstance(field, models.DateTimeField)

    def convert(self, obj, field, mapper):
        value = getattr(obj, field.attname)
        if isinstance(value, datetime.datetime) and timezone.is_naive(value):
            value = timezone.make_aware(value)
        return to_json_value(value)


class ScalarFieldConverter(BaseFieldConverter):
    """Text, numbers, booleans, choices (their stored value), dates, times, UUIDs, JSON."""

    field_classes = (
        models.CharField,  # also slug, email, URL, file path fields
        models.TextField,
        models.IntegerField,  # every integer field, also auto fields
        models.FloatField,
        models.DecimalField,
        models.BooleanField,
        models.DateField,
        models.TimeField,
        models.DurationField,
        models.UUIDField,
        models.JSONField,
        models.GenericIPAddressField,
    )

    def can_convert(self, field):
        return isinstance(field, self.field_classes)

    def convert(self, obj, field, mapper):
        return to_json_value(getattr(obj, field.attname))


#: Dotted paths of the built-in converters, in the order they are tried (the list
#: lives in enterspeed_sync.defaults, which settings can import).
DEFAULT_FIELD_CONVERTERS: list[str] = list(defaults.DEFAULT_FIELD_CONVERTERS)
