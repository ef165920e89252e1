"""
StreamField values for a whole batch, with the objects chosen in chooser blocks (pages,
images, documents, snippets) looked up once for the batch.

Wagtail reads a StreamField lazily: the first time a page's stream is read, each chooser
block type in it costs one query, for that page alone. Here prefetch collects the chosen
ids from the raw stream data of every object in the batch (``collect_chosen``), loads them
in one query per model (``load_chosen``, ``in_bulk`` as Wagtail's ``bulk_to_python`` does),
and gives each object a stream built from its raw data with the chooser blocks answered
from the batch (``resolve_streams``). The block converters then read ordinary values.

Only Wagtail's own stream, struct, list, image and chooser blocks are walked: a block
class that converts its value in a way of its own (``to_python`` or ``bulk_to_python``
overridden) converts exactly as Wagtail would, its queries included.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from copy import copy
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from wagtail import blocks
from wagtail.blocks import StreamValue
from wagtail.blocks.list_block import ListValue
from wagtail.fields import StreamField
from wagtail.images.blocks import ImageBlock

#: (chooser's model, pk) → the chosen object, None when it no longer exists.
Chosen = dict[tuple[type[models.Model], Any], models.Model | None]

_CHOOSER, _IMAGE, _STREAM, _STRUCT, _LIST = "chooser", "image", "stream", "struct", "list"
_WALKED = (
    (blocks.ChooserBlock, _CHOOSER),
    (ImageBlock, _IMAGE),
    (blocks.BaseStreamBlock, _STREAM),
    (blocks.BaseStructBlock, _STRUCT),
    (blocks.ListBlock, _LIST),
)


@functools.cache
def _kind(block_class: type[blocks.Block]) -> str | None:
    """How a block class is walked; None: its own ``to_python`` converts it."""
    for base, kind in _WALKED:
        if issubclass(block_class, base):
            own = any(
                getattr(block_class, name) is not getattr(base, name)
                for name in ("to_python", "bulk_to_python")
            )
            return None if own else kind
    return None


def stream_fields(model: type[models.Model]) -> list[StreamField]:
    return [f for f in model._meta.concrete_fields if isinstance(f, StreamField)]


def loaded_streams(objects: Iterable[models.Model]) -> Iterable[tuple[models.Model, Any]]:
    """``(obj, field)`` for every StreamField already loaded and still unread (lazy)."""
    for obj in objects:
        for field in stream_fields(type(obj)):
            value = obj.__dict__.get(field.attname)
            if isinstance(value, StreamValue) and value.is_lazy and value.raw_text is None:
                yield obj, field


def collect_chosen(objects: Iterable[models.Model]) -> dict[type[models.Model], set]:
    """The pks chosen in the objects' StreamFields, per chooser model."""
    wanted: dict[type[models.Model], set] = {}
    for obj, field in loaded_streams(objects):
        value = obj.__dict__[field.attname]
        _collect(value.stream_block, list(value.raw_data), wanted)
    return wanted


def load_chosen(wanted: dict[type[models.Model], set], chosen: Chosen) -> None:
    """Look up the wanted pks not in ``chosen`` yet, one query per model."""
    for model, pks in wanted.items():
        missing = [pk for pk in pks if (model, pk) not in chosen]
        if missing:
            found = model.objects.in_bulk(missing)
            chosen.update(((model, pk), found.get(pk)) for pk in missing)


def resolve_streams(objects: Iterable[models.Model], chosen: Chosen) -> None:
    """Give each object's unread StreamFields their values, chooser blocks from ``chosen``."""
    for obj, field in list(loaded_streams(objects)):
        value = obj.__dict__[field.attname]
        try:
            resolved = _resolve(value.stream_block, list(value.raw_data), chosen)
        except (TypeError, ValueError, KeyError, AttributeError, ValidationError):
            continue  # malformed data: left to Wagtail, which reports it as it always has
        setattr(obj, field.attname, resolved)


def _chooser_key(block: blocks.ChooserBlock, raw: Any) -> tuple[type[models.Model], Any]:
    model = block.model_class
    return model, model._meta.pk.to_python(raw)


def _collect(block: blocks.Block, raw: Any, wanted: dict) -> None:
    kind = _kind(type(block))
    if kind is None or raw is None:
        return
    if kind == _CHOOSER:
        try:
            model, pk = _chooser_key(block, raw)
        except (TypeError, ValueError, ValidationError):
            return
        wanted.setdefault(model, set()).add(pk)
    elif kind == _IMAGE and isinstance(raw, int):
        _collect(block.child_blocks["image"], raw, wanted)
    elif kind in (_IMAGE, _STRUCT) and isinstance(raw, dict):
        for name, child in block.child_blocks.items():
            if name in raw:
                _collect(child, raw[name], wanted)
    elif kind == _STREAM and isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict) and item.get("type") in block.child_blocks:
                _collect(block.child_blocks[item["type"]], item.get("value"), wanted)
    elif kind == _LIST and isinstance(raw, list):
        for item in raw:
            _collect(block.child_block, _list_item(block, item)[0], wanted)


def _resolve(block: blocks.Block, raw: Any, chosen: Chosen) -> Any:
    """``block.to_python(raw)`` as Wagtail's ``bulk_to_python`` would give it, from ``chosen``."""
    kind = _kind(type(block))
    if kind == _CHOOSER:
        if raw is None:
            return None
        key = _chooser_key(block, raw)
        if key not in chosen:
            return block.to_python(raw)
        # The batch's instance: mapping reads it (an ImageBlock, which writes on it, copies it).
        return chosen[key]
    if kind == _IMAGE:
        if raw is None or isinstance(raw, int):
            image = _resolve(block.child_blocks["image"], raw, chosen)
            alt_text = image.default_alt_text if image else ""
            struct = {"image": image, "decorative": False, "alt_text": alt_text}
        else:
            struct = _struct_items(block, raw, chosen)
        # Each use gets its own instance, as in Wagtail: the block sets its alt text on it.
        if struct.get("image") is not None:
            struct["image"] = copy(struct["image"])
        return block._struct_value_to_image(struct)
    if kind == _STRUCT:
        return block._to_struct_value(_struct_items(block, raw, chosen))
    if kind == _STREAM:
        items = [
            (
                item["type"],
                _resolve(block.child_blocks[item["type"]], item["value"], chosen),
                item.get("id"),
            )
            for item in raw
            if item["type"] in block.child_blocks
        ]
        return StreamValue(block, items, is_lazy=False)
    if kind == _LIST:
        children = []
        for item in raw:
            value, item_id = _list_item(block, item)
            child_value = _resolve(block.child_block, value, chosen)
            children.append(ListValue.ListChild(block.child_block, child_value, id=item_id))
        return ListValue(block, bound_blocks=children)
    return block.to_python(raw)


def _struct_items(block: blocks.BaseStructBlock, raw: dict, chosen: Chosen) -> dict[str, Any]:
    return {
        name: _resolve(child, raw[name], chosen) if name in raw else child.get_default()
        for name, child in block.child_blocks.items()
    }


def _list_item(block: blocks.ListBlock, item: Any) -> tuple[Any, str | None]:
    """A list item's raw value and id (None in the old format without ids)."""
    if block._item_is_in_block_format(item):
        return item["value"], item["id"]
    return item, None
