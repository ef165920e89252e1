"""
The default class lists, as dotted paths, for extending in ``settings.py``.

This module imports nothing (no Django, no Wagtail, no models), so settings can import it
before the app registry is ready, as django-cors-headers' ``corsheaders.defaults``::

    from enterspeed_sync.defaults import DEFAULT_JOB_HANDLERS

    ENTERSPEED_SYNC = {
        "JOB_HANDLERS": ["myproject.enterspeed.BlogPagePublishHandler", *DEFAULT_JOB_HANDLERS],
    }

Each list is a tuple, so extending it in settings cannot change the defaults themselves.
"""

#: ``JOB_HANDLERS`` when unset: for each job, the first whose ``can_handle(job)`` is true.
DEFAULT_JOB_HANDLERS: tuple[str, ...] = (
    "enterspeed_sync.handlers.pages.PagePublishHandler",
    "enterspeed_sync.handlers.media.ImagePublishHandler",
    "enterspeed_sync.handlers.media.DocumentPublishHandler",
    "enterspeed_sync.handlers.snippets.SnippetPublishHandler",
    "enterspeed_sync.handlers.translation_groups.TranslationGroupHandler",
    "enterspeed_sync.handlers.base.DeleteHandler",
)

#: ``BASE_URL`` when unset: Enterspeed's Ingest API (the client's default, too).
DEFAULT_BASE_URL = "https://api.enterspeed.com"

#: ``GUARDS`` when unset: checks that can veto sending an object.
DEFAULT_GUARDS: tuple[str, ...] = ("enterspeed_sync.guards.RoutablePageGuard",)

#: The built-in field converters, tried after ``FIELD_CONVERTERS``, in this order.
DEFAULT_FIELD_CONVERTERS: tuple[str, ...] = (
    "enterspeed_sync.mapping.fields.RichTextFieldConverter",
    "enterspeed_sync.mapping.fields.StreamFieldConverter",
    "enterspeed_sync.mapping.fields.TagsConverter",
    "enterspeed_sync.mapping.fields.ForeignKeyConverter",
    "enterspeed_sync.mapping.fields.ManyToManyConverter",
    "enterspeed_sync.mapping.fields.ChildRelationConverter",
    "enterspeed_sync.mapping.fields.ReverseRelationConverter",
    "enterspeed_sync.mapping.fields.FileFieldConverter",
    "enterspeed_sync.mapping.fields.DateTimeFieldConverter",
    "enterspeed_sync.mapping.fields.ScalarFieldConverter",
)

#: The built-in block converters, tried after ``BLOCK_CONVERTERS``, in this order.
DEFAULT_BLOCK_CONVERTERS: tuple[str, ...] = (
    "enterspeed_sync.mapping.blocks.CustomAPIRepresentationConverter",
    "enterspeed_sync.mapping.blocks.StreamBlockConverter",
    "enterspeed_sync.mapping.blocks.ListBlockConverter",
    "enterspeed_sync.mapping.blocks.ImageBlockConverter",
    "enterspeed_sync.mapping.blocks.TypedTableBlockConverter",
    "enterspeed_sync.mapping.blocks.StructBlockConverter",
    "enterspeed_sync.mapping.blocks.RichTextBlockConverter",
    "enterspeed_sync.mapping.blocks.ChooserBlockConverter",
    "enterspeed_sync.mapping.blocks.EmbedBlockConverter",
    "enterspeed_sync.mapping.blocks.APIRepresentationConverter",
)
