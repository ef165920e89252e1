"""
Content → Enterspeed source entity (``type``, ``url``, ``redirects``, ``originParentId``,
``properties``). Reads the database and media storage, never the ingest API.

``get_mapper(obj).to_entity()`` maps any page, image, document or synced snippet.
"""

from enterspeed_sync.mapping.base import BaseMapper
from enterspeed_sync.mapping.blocks import DEFAULT_BLOCK_CONVERTERS, BaseBlockConverter
from enterspeed_sync.mapping.fields import DEFAULT_FIELD_CONVERTERS, BaseFieldConverter
from enterspeed_sync.mapping.identity import (
    document_origin_id,
    get_base_page_model,
    get_entity_type,
    get_locale_code,
    get_model_for_origin_id,
    get_object_for_origin_id,
    get_origin_id,
    get_synced_snippet_models,
    image_origin_id,
    origin_id_for,
    page_origin_id,
    snippet_origin_id,
)
from enterspeed_sync.mapping.media import DocumentMapper, ImageMapper
from enterspeed_sync.mapping.pages import PageMapper
from enterspeed_sync.mapping.registry import get_mapper, get_mapper_class
from enterspeed_sync.mapping.snippets import SnippetMapper
from enterspeed_sync.mapping.values import is_valid_property_name, lower_camel, to_json_value

__all__ = [
    "DEFAULT_BLOCK_CONVERTERS",
    "DEFAULT_FIELD_CONVERTERS",
    "BaseBlockConverter",
    "BaseFieldConverter",
    "BaseMapper",
    "DocumentMapper",
    "ImageMapper",
    "PageMapper",
    "SnippetMapper",
    "document_origin_id",
    "get_base_page_model",
    "get_entity_type",
    "get_locale_code",
    "get_mapper",
    "get_mapper_class",
    "get_model_for_origin_id",
    "get_object_for_origin_id",
    "get_origin_id",
    "get_synced_snippet_models",
    "image_origin_id",
    "is_valid_property_name",
    "lower_camel",
    "origin_id_for",
    "page_origin_id",
    "snippet_origin_id",
    "to_json_value",
]
