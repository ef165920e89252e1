from django.db import models
from wagtail import blocks
from wagtail.fields import RichTextField, StreamField
from wagtail.images.blocks import ImageChooserBlock
from wagtail.models import Page


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
