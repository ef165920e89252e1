"""Page types that show what enterspeed_sync sends: rich text, StreamField, images, dates."""

from django.db import models
from wagtail import blocks
from wagtail.admin.panels import FieldPanel
from wagtail.fields import RichTextField, StreamField
from wagtail.images.blocks import ImageChooserBlock
from wagtail.models import Page, TranslatableMixin
from wagtail.snippets.models import register_snippet


class HomePage(Page):
    intro = RichTextField(blank=True)

    content_panels = [*Page.content_panels, FieldPanel("intro")]
    subpage_types = ["demo.ArticleIndexPage", "demo.ContactPage"]


class ArticleIndexPage(Page):
    intro = RichTextField(blank=True)

    content_panels = [*Page.content_panels, FieldPanel("intro")]
    parent_page_types = ["demo.HomePage"]
    subpage_types = ["demo.ArticlePage"]

    def get_context(self, request, *args, **kwargs):
        context = super().get_context(request, *args, **kwargs)
        context["articles"] = self.get_children().live().specific().order_by("-first_published_at")
        return context


class ArticlePage(Page):
    date = models.DateField(null=True, blank=True)
    intro = models.CharField(max_length=250, blank=True)
    hero_image = models.ForeignKey(
        "wagtailimages.Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = StreamField(
        [
            ("heading", blocks.CharBlock(form_classname="title")),
            ("paragraph", blocks.RichTextBlock()),
            ("image", ImageChooserBlock()),
            (
                "quote",
                blocks.StructBlock(
                    [("text", blocks.TextBlock()), ("author", blocks.CharBlock(required=False))]
                ),
            ),
            ("facts", blocks.ListBlock(blocks.CharBlock())),
        ],
        blank=True,
    )

    content_panels = [
        *Page.content_panels,
        FieldPanel("date"),
        FieldPanel("intro"),
        FieldPanel("hero_image"),
        FieldPanel("body"),
    ]
    parent_page_types = ["demo.ArticleIndexPage"]
    subpage_types = []


class ContactPage(Page):
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)

    content_panels = [*Page.content_panels, FieldPanel("email"), FieldPanel("phone")]
    parent_page_types = ["demo.HomePage"]
    subpage_types = []


@register_snippet
class SiteMessage(TranslatableMixin, models.Model):
    """A translatable snippet (Umbraco's dictionary items): synced as `demo.sitemessage-{pk}`."""

    key = models.SlugField(help_text="How the front end finds this message, e.g. 'footer'.")
    text = models.CharField(max_length=250)

    panels = [FieldPanel("key"), FieldPanel("text")]

    class Meta(TranslatableMixin.Meta):
        pass

    def __str__(self):
        return f"{self.key}: {self.text}"
