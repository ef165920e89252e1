"""
Block converters: one StreamField block value → plain JSON.

Tried in order: ``ENTERSPEED_SYNC["BLOCK_CONVERTERS"]``, then ``DEFAULT_BLOCK_CONVERTERS``;
the first whose ``can_convert(block)`` is true wins. Unlike Wagtail's API representation,
chooser blocks become references (origin id, title, URL) instead of bare primary keys, and
rich text comes out as expanded HTML with absolute URLs. A block class of your own that
overrides ``get_api_representation`` is sent as that representation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wagtail import blocks
from wagtail.contrib.typed_table_block.blocks import TypedTableBlock
from wagtail.documents.blocks import DocumentChooserBlock
from wagtail.embeds.blocks import EmbedBlock
from wagtail.images.blocks import ImageBlock, ImageChooserBlock
from wagtail.snippets.blocks import SnippetChooserBlock

from enterspeed_sync import defaults
from enterspeed_sync.mapping.values import to_json_value

if TYPE_CHECKING:
    from enterspeed_sync.mapping.base import BaseMapper

__all__ = ["DEFAULT_BLOCK_CONVERTERS", "BaseBlockConverter"]


class BaseBlockConverter:
    """Converts the value of one kind of block. Instantiated once; keep no state on ``self``."""

    def can_convert(self, block: blocks.Block) -> bool:
        raise NotImplementedError

    def convert(self, block: blocks.Block, value: Any, mapper: BaseMapper) -> Any:
        raise NotImplementedError


def has_own_api_representation(block: blocks.Block) -> bool:
    """True when a class outside Wagtail overrides ``get_api_representation``."""
    for cls in type(block).__mro__:
        if cls.__module__.split(".")[0] == "wagtail":
            return False
        if "get_api_representation" in vars(cls):
            return True
    return False


class CustomAPIRepresentationConverter(BaseBlockConverter):
    """Your block's own ``get_api_representation``, as the Wagtail API would send it."""

    def can_convert(self, block):
        return has_own_api_representation(block)

    def convert(self, block, value, mapper):
        return to_json_value(block.get_api_representation(value, mapper.api_context))


class StreamBlockConverter(BaseBlockConverter):
    def can_convert(self, block):
        return isinstance(block, blocks.BaseStreamBlock)

    def convert(self, block, value, mapper):
        return [
            {
                "type": child.block.name,
                "id": child.id,
                "value": mapper.convert_block(child.block, child.value),
            }
            for child in value
        ]


class ListBlockConverter(BaseBlockConverter):
    def can_convert(self, block):
        return isinstance(block, blocks.ListBlock)

    def convert(self, block, value, mapper):
        return [mapper.convert_block(block.child_block, item) for item in value]


class ImageBlockConverter(BaseBlockConverter):
    """``ImageBlock`` (image with alt text): the image reference with this use's alt text."""

    def can_convert(self, block):
        return isinstance(block, ImageBlock)

    def convert(self, block, value, mapper):
        if value is None:
            return None
        reference = mapper.reference_for(value)
        reference["alt"] = getattr(value, "contextual_alt_text", reference.get("alt"))
        reference["decorative"] = bool(getattr(value, "decorative", False))
        return reference


class TypedTableBlockConverter(BaseBlockConverter):
    """``TypedTableBlock``: columns with their block type and heading, rows of converted cells."""

    def can_convert(self, block):
        return isinstance(block, TypedTableBlock)

    def convert(self, block, value, mapper):
        if value is None:
            return None
        columns = list(value.columns)
        return {
            "caption": getattr(value, "caption", ""),
            "columns": [{"type": col["block"].name, "heading": col["heading"]} for col in columns],
            # The shape of Wagtail's API representation: [{"values": [cell, …]}, …].
            "rows": [
                {
                    "values": [
                        mapper.convert_block(col["block"], cell)
                        for col, cell in zip(columns, row["values"], strict=False)
                    ]
                }
                for row in value.row_data
            ],
        }


class StructBlockConverter(BaseBlockConverter):
    def can_convert(self, block):
        return isinstance(block, blocks.BaseStructBlock)

    def convert(self, block, value, mapper):
        return {
            name: mapper.convert_block(child_block, value.get(name))
            for name, child_block in block.child_blocks.items()
        }


class RichTextBlockConverter(BaseBlockConverter):
    def can_convert(self, block):
        return isinstance(block, blocks.RichTextBlock)

    def convert(self, block, value, mapper):
        source = getattr(value, "source", value)
        return mapper.expand_rich_text(source) if source else ""


class ChooserBlockConverter(BaseBlockConverter):
    """Page, image, document and snippet choosers: a reference, or None when empty."""

    def can_convert(self, block):
        return isinstance(
            block,
            blocks.PageChooserBlock
            | ImageChooserBlock
            | DocumentChooserBlock
            | SnippetChooserBlock,
        )

    def convert(self, block, value, mapper):
        return mapper.reference_for(value) if value is not None else None


class EmbedBlockConverter(BaseBlockConverter):
    """
    The embed's URL, plus its oEmbed data (title, HTML, thumbnail) when Wagtail can fetch
    it. A provider that is down gives just the URL; it is fetched again on the next ingest.
    """

    def can_convert(self, block):
        return isinstance(block, EmbedBlock)

    def convert(self, block, value, mapper):
        if value is None:
            return None
        # wagtail.embeds is optional: its models (the embed cache) need the app installed.
        from wagtail.embeds.embeds import get_embed
        from wagtail.embeds.exceptions import EmbedException

        data: dict[str, Any] = {"url": value.url}
        try:
            embed = get_embed(value.url, value.max_width, value.max_height)
        except EmbedException:
            return data
        data.update(
            title=embed.title,
            type=embed.type,
            html=embed.html,
            width=embed.width,
            height=embed.height,
            thumbnailUrl=embed.thumbnail_url,
            providerName=embed.provider_name,
        )
        return data


class APIRepresentationConverter(BaseBlockConverter):
    """Every other block (text, numbers, dates, choices, tables, …): its API representation."""

    def can_convert(self, block):
        return True

    def convert(self, block, value, mapper):
        return to_json_value(block.get_api_representation(value, mapper.api_context))


#: Dotted paths of the built-in converters, in the order they are tried (the list
#: lives in enterspeed_sync.defaults, which settings can import).
DEFAULT_BLOCK_CONVERTERS: list[str] = list(defaults.DEFAULT_BLOCK_CONVERTERS)
