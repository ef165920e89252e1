from django.contrib.contenttypes.fields import GenericRelation
from django.db import models
from modelcluster.contrib.taggit import ClusterTaggableManager
from modelcluster.fields import ParentalKey, ParentalManyToManyField
from rest_framework import serializers
from rest_framework.fields import SkipField
from taggit.models import TaggedItemBase
from wagtail import blocks
from wagtail.api import APIField
from wagtail.contrib.table_block.blocks import TableBlock
from wagtail.contrib.typed_table_block.blocks import TypedTableBlock
from wagtail.documents.blocks import DocumentChooserBlock
from wagtail.embeds.blocks import EmbedBlock
from wagtail.fields import RichTextField, StreamField
from wagtail.images.api.fields import ImageRenditionField
from wagtail.images.blocks import ImageBlock, ImageChooserBlock
from wagtail.models import DraftStateMixin, Orderable, Page, RevisionMixin, TranslatableMixin
from wagtail.snippets.blocks import SnippetChooserBlock
from wagtail.snippets.models import register_snippet


class HomePage(Page):
    intro = RichTextField(blank=True)


class BlogIndexPage(Page):
    pass


class BlogPage(Page):
    date = models.DateField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    rating = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    featured = models.BooleanField(default=False)
    body = RichTextField(blank=True)
    content = StreamField(
        [
            ("heading", blocks.CharBlock()),
            ("paragraph", blocks.RichTextBlock()),
            ("image", ImageChooserBlock()),
            (
                "quote",
                blocks.StructBlock([("text", blocks.TextBlock()), ("author", blocks.CharBlock())]),
            ),
        ],
        blank=True,
    )
    related_page = models.ForeignKey(
        "wagtailcore.Page", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    hero_image = models.ForeignKey(
        "wagtailimages.Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )


class LandingPage(Page):
    """A page model with an explicit Enterspeed type."""

    enterspeed_type = "landing"


# Snippets: one plain, one with draft state and translations, one translatable only. ------


@register_snippet
class Category(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField()

    class Meta:
        verbose_name_plural = "categories"

    def __str__(self):
        return self.name


@register_snippet
class Author(DraftStateMixin, RevisionMixin, TranslatableMixin, models.Model):
    name = models.CharField(max_length=100)
    bio = RichTextField(blank=True)
    portrait = models.ForeignKey(
        "wagtailimages.Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revisions = GenericRelation("wagtailcore.Revision", related_query_name="author")

    class Meta(TranslatableMixin.Meta):
        pass

    def __str__(self):
        return self.name


@register_snippet
class FooterText(TranslatableMixin, models.Model):
    body = RichTextField()

    class Meta(TranslatableMixin.Meta):
        pass

    def __str__(self):
        return "Footer"


class Supplier(models.Model):
    """A model that is not a snippet: references to it carry no origin id."""

    name = models.CharField(max_length=100)

    def __str__(self):
        return self.name


# Pages: one per kind of field and block. --------------------------------------------------


class FieldsPage(Page):
    """Every scalar Django field, rich text, a file, and a field no converter knows."""

    text = models.CharField(max_length=100, blank=True)
    long_text = models.TextField(blank=True)
    count = models.IntegerField(null=True, blank=True)
    big_count = models.BigIntegerField(null=True, blank=True)
    ratio = models.FloatField(null=True, blank=True)
    price = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    flag = models.BooleanField(default=False)
    size = models.CharField(max_length=1, choices=[("s", "Small"), ("l", "Large")], blank=True)
    day = models.DateField(null=True, blank=True)
    moment = models.DateTimeField(null=True, blank=True)
    alarm = models.TimeField(null=True, blank=True)
    duration = models.DurationField(null=True, blank=True)
    data = models.JSONField(null=True, blank=True)
    website = models.URLField(blank=True)
    email = models.EmailField(blank=True)
    uid = models.UUIDField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    attachment = models.FileField(upload_to="attachments", blank=True)
    body = RichTextField(blank=True)
    checksum = models.BinaryField(null=True, blank=True)


class RelationsPage(Page):
    """Foreign keys to every kind of entity, many-to-many, tags and inline children."""

    related_page = models.ForeignKey(
        "wagtailcore.Page", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    hero_image = models.ForeignKey(
        "wagtailimages.Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    brochure = models.ForeignKey(
        "wagtaildocs.Document", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author = models.ForeignKey(
        Author, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    supplier = models.ForeignKey(
        Supplier, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    categories = ParentalManyToManyField(Category, blank=True, related_name="+")
    tags = ClusterTaggableManager(through="RelationsPageTag", blank=True)


class RelationsPageTag(TaggedItemBase):
    content_object = ParentalKey(RelationsPage, related_name="tagged_items")


class RelationsPageLink(Orderable):
    page = ParentalKey(RelationsPage, related_name="links")
    label = models.CharField(max_length=100)
    link_page = models.ForeignKey(
        "wagtailcore.Page", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    link_url = models.URLField(blank=True)


class ShoutBlock(blocks.CharBlock):
    """A custom block with its own API representation."""

    def get_api_representation(self, value, context=None):
        return {"shout": value.upper()}


class StreamPage(Page):
    """Every StreamField block kind."""

    body = StreamField(
        [
            ("heading", blocks.CharBlock()),
            ("text", blocks.TextBlock()),
            ("paragraph", blocks.RichTextBlock()),
            ("email", blocks.EmailBlock()),
            ("url", blocks.URLBlock()),
            ("integer", blocks.IntegerBlock()),
            ("decimal", blocks.DecimalBlock()),
            ("float", blocks.FloatBlock()),
            ("flag", blocks.BooleanBlock(required=False)),
            ("date", blocks.DateBlock()),
            ("time", blocks.TimeBlock()),
            ("datetime", blocks.DateTimeBlock()),
            ("choice", blocks.ChoiceBlock(choices=[("a", "A"), ("b", "B")])),
            ("choices", blocks.MultipleChoiceBlock(choices=[("a", "A"), ("b", "B")])),
            ("raw_html", blocks.RawHTMLBlock()),
            ("quote", blocks.BlockQuoteBlock()),
            ("divider", blocks.StaticBlock()),
            ("page", blocks.PageChooserBlock()),
            ("image", ImageChooserBlock()),
            ("image_with_alt", ImageBlock()),
            ("document", DocumentChooserBlock()),
            ("snippet", SnippetChooserBlock("testapp.Category")),
            ("embed", EmbedBlock()),
            ("table", TableBlock()),
            (
                "typed_table",
                TypedTableBlock(
                    [("text", blocks.CharBlock()), ("page", blocks.PageChooserBlock())]
                ),
            ),
            (
                "card",
                blocks.StructBlock(
                    [("title", blocks.CharBlock()), ("image", ImageChooserBlock(required=False))]
                ),
            ),
            ("keywords", blocks.ListBlock(blocks.CharBlock())),
            (
                "section",
                blocks.StreamBlock(
                    [("heading", blocks.CharBlock()), ("page", blocks.PageChooserBlock())]
                ),
            ),
            ("shout", ShoutBlock()),
        ],
        blank=True,
    )


class ApiFieldsPage(Page):
    """Sends what its Wagtail API configuration names, not every field."""

    body = models.TextField(blank=True)
    internal_note = models.TextField(blank=True)

    api_fields = [APIField("body"), APIField("summary")]

    @property
    def summary(self):
        return self.body[:10]


class CustomPropertiesPage(Page):
    """Provides its own properties."""

    rating = models.IntegerField(default=0)

    def get_enterspeed_properties(self, mapper):
        return {"headline": self.title.upper(), "stars": "★" * self.rating}


# API fields as Wagtail's API docs teach them: serializers, sources, methods. ---------------


class OverviewField(serializers.Field):
    """A custom serializer field that renders the whole object (``source="*"``)."""

    def to_representation(self, page):
        return {"title": page.title, "words": page.word_count()}


class NonEmptyCharField(serializers.CharField):
    """Leaves the property out when empty, the way DRF fields skip (``SkipField``)."""

    def get_attribute(self, instance):
        value = super().get_attribute(instance)
        if not value:
            raise SkipField
        return value


class AbsoluteURLField(serializers.Field):
    """Needs the request from the serializer context, as many API fields do."""

    def to_representation(self, value):
        return self.context["request"].build_absolute_uri(value)


class ArticlePage(Page):
    image = models.ForeignKey(
        "wagtailimages.Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author = models.ForeignKey(
        Author, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    summary = models.TextField(blank=True)

    api_fields = [
        APIField("summary"),
        APIField("hero", serializer=ImageRenditionField("fill-200x100", source="image")),
        APIField("heading", serializer=serializers.CharField(source="title")),
        APIField(
            "author_name", serializer=serializers.CharField(source="author.name", allow_null=True)
        ),
        APIField("overview", serializer=OverviewField(source="*")),
        APIField("teaser", serializer=NonEmptyCharField(source="summary")),
        APIField("canonical", serializer=AbsoluteURLField(source="url")),
        APIField("word_count"),
        "author",
        "notes",
    ]

    def word_count(self):
        return len(self.summary.split())


class ArticleNote(Orderable):
    page = ParentalKey(ArticlePage, related_name="notes")
    text = models.CharField(max_length=100)
    internal = models.CharField(max_length=100, blank=True)

    api_fields = ["text", APIField("loud", serializer=serializers.CharField(source="loud_text"))]

    @property
    def loud_text(self):
        return self.text.upper()


@register_snippet
class Promo(models.Model):
    text = models.CharField(max_length=100)
    image = models.ForeignKey(
        "wagtailimages.Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    api_fields = [
        APIField("text"),
        APIField("thumbnail", serializer=ImageRenditionField("max-40x40", source="image")),
    ]

    def __str__(self):
        return self.text


# A page model like a real site's (bench/realistic.py builds thousands of them). ----------


class NewsPage(Page):
    """
    An ordinary page of a real site: a hero image, a StreamField body with chooser blocks, two
    snippets, topics (``ParentalManyToManyField``), related links (an inline panel), reviews
    (another model's foreign key, named in ``api_fields``) and two image renditions.
    """

    intro = models.TextField(blank=True)
    hero_image = models.ForeignKey(
        "wagtailimages.Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author = models.ForeignKey(
        Author, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    topics = ParentalManyToManyField(Category, blank=True, related_name="+")
    body = StreamField(
        [
            ("heading", blocks.CharBlock()),
            ("paragraph", blocks.RichTextBlock()),
            ("image", ImageChooserBlock()),
            ("page", blocks.PageChooserBlock()),
            ("snippet", SnippetChooserBlock("testapp.Category")),
            (
                "quote",
                blocks.StructBlock([("text", blocks.TextBlock()), ("author", blocks.CharBlock())]),
            ),
        ],
        blank=True,
    )

    api_fields = [
        "intro",
        "body",
        "hero_image",
        APIField(
            "hero_thumbnail", serializer=ImageRenditionField("fill-300x200", source="hero_image")
        ),
        APIField("hero_wide", serializer=ImageRenditionField("width-1200", source="hero_image")),
        "author",
        "category",
        "topics",
        "related_links",
        "reviews",
    ]


class NewsPageRelatedLink(Orderable):
    page = ParentalKey(NewsPage, related_name="related_links")
    title = models.CharField(max_length=100)
    link_page = models.ForeignKey(
        "wagtailcore.Page", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    link_url = models.URLField(blank=True)


class NewsReview(models.Model):
    """Not part of the page's cluster: a plain foreign key, shown through ``api_fields``."""

    page = models.ForeignKey(NewsPage, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.CharField(max_length=100)
    stars = models.IntegerField(default=3)

    def __str__(self):
        return f"{self.reviewer}: {self.stars}"
