"""
A small site with one page of every kind, built deterministically (fixed pks, dates, keys and
block ids) so its entities can be compared with the snapshots in tests/snapshots/.
"""

from __future__ import annotations

import datetime
import decimal
import uuid

from django.core.files.base import ContentFile
from wagtail.contrib.redirects.models import Redirect
from wagtail.documents import get_document_model
from wagtail.embeds.embeds import get_embed_hash
from wagtail.embeds.models import Embed
from wagtail.images import get_image_model
from wagtail.images.tests.utils import get_test_image_file
from wagtail.models import Collection, Locale, Page, Site

from enterspeed_sync.capture.outbox import pause_sync
from tests.testapp import models as app

MOMENT = datetime.datetime(2026, 11, 1, 9, 30, tzinfo=datetime.UTC)
EMBED_URL = "https://www.youtube.com/watch?v=enterspeed"


def key(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


def block_id(n: int) -> str:
    return str(uuid.UUID(int=0xB10C0000 + n))


def build_content_site() -> dict:
    """Create the site (sync paused; no jobs). Returns the objects by name."""
    with pause_sync():
        objects = _build()
    _freeze_dates(objects)
    return objects


def _build() -> dict:
    root = Page.objects.get(depth=1)
    # Wagtail's "Welcome to your new Wagtail site!" page; this site has its own home.
    Page.objects.filter(depth=2, slug="home").delete()
    english = Locale.objects.get(language_code="en")
    danish, _ = Locale.objects.get_or_create(language_code="da")
    collection = Collection.get_first_root_node().add_child(
        instance=Collection(pk=7601, name="Marketing")
    )

    image = get_image_model().objects.create(
        pk=7001,
        title="Harbour",
        description="The harbour at dawn",
        file=get_test_image_file(filename="harbour.png"),
        collection=collection,
        focal_point_x=320,
        focal_point_y=240,
        focal_point_width=100,
        focal_point_height=80,
    )
    image.file_size = image.file.size  # as Wagtail's upload form sets it
    image.save()
    image.tags.add("sea", "dawn")
    document = get_document_model().objects.create(
        pk=7101,
        title="Brochure",
        file=ContentFile(b"%PDF-1.4 brochure", name="brochure.pdf"),
        file_size=17,
    )
    category = app.Category.objects.create(pk=7201, name="News", slug="news")
    app.Category.objects.create(pk=7202, name="Events", slug="events")
    author = app.Author(
        pk=7301,
        name="Ada",
        bio="<p>Writes <b>things</b>.</p>",
        portrait=image,
        locale=english,
        translation_key=key(301),
    )
    author.save()
    author.save_revision().publish()
    footer = app.FooterText.objects.create(
        pk=7401, body="<p>© Example</p>", locale=english, translation_key=key(401)
    )
    supplier = app.Supplier.objects.create(pk=7501, name="Acme")
    Embed.objects.create(
        url=EMBED_URL,
        max_width=None,
        hash=get_embed_hash(EMBED_URL, None, None),
        type="video",
        html='<iframe src="https://www.youtube.com/embed/enterspeed"></iframe>',
        title="Enterspeed in 60 seconds",
        provider_name="YouTube",
        thumbnail_url="https://i.ytimg.com/vi/enterspeed/hqdefault.jpg",
        width=480,
        height=270,
    )

    home = root.add_child(
        instance=app.HomePage(
            pk=8001, title="Home", slug="home-content", locale=english, translation_key=key(8001)
        )
    )
    Site.objects.update_or_create(
        is_default_site=True,
        defaults={"hostname": "www.example.com", "port": 443, "root_page": home},
    )

    def add(model, pk, parent=home, **fields):
        page = parent.add_child(
            instance=model(pk=pk, locale=english, translation_key=key(pk), **fields)
        )
        page.save_revision().publish()
        return page

    fields_page = add(
        app.FieldsPage,
        8002,
        title="Fields",
        slug="fields",
        seo_title="All the fields",
        text="Plain text",
        long_text="Line one\nLine two",
        count=42,
        big_count=9_007_199_254_740_993,
        ratio=0.25,
        price=decimal.Decimal("19.90"),
        flag=True,
        size="l",
        day=datetime.date(2026, 11, 22),
        moment=MOMENT,
        alarm=datetime.time(7, 45),
        duration=datetime.timedelta(hours=1, minutes=30),
        data={"colours": ["red", "blue"], "nested": {"ok": True}},
        website="https://enterspeed.com/",
        email="hello@example.com",
        uid=key(99),
        ip="192.0.2.1",
        attachment=ContentFile(b"a,b\n1,2\n", name="numbers.csv"),
        body=(
            '<p>Read <a linktype="page" id="8003">the relations</a>, '
            '<a linktype="document" id="7101">the brochure</a> and '
            '<a href="/contact/">contact us</a>.</p>'
            '<embed embedtype="image" id="7001" format="fullwidth" alt="Harbour"/>'
            f'<embed embedtype="media" url="{EMBED_URL}"/>'
        ),
        checksum=b"\x00\x01",
    )
    relations_page = add(
        app.RelationsPage,
        8003,
        title="Relations",
        slug="relations",
        related_page=fields_page,
        hero_image=image,
        brochure=document,
        category=category,
        author=author,
        supplier=supplier,
    )
    relations_page.categories.set([category, app.Category.objects.get(pk=7202)])
    relations_page.tags.add("wagtail", "enterspeed")
    relations_page.links.create(label="Fields", link_page=fields_page, sort_order=0)
    relations_page.links.create(label="Docs", link_url="https://docs.enterspeed.com/", sort_order=1)
    relations_page.save_revision().publish()
    Redirect.objects.create(old_path="/old-relations", redirect_page=relations_page)

    stream_page = add(app.StreamPage, 8004, title="Stream", slug="stream", body=_stream_data())
    api_page = add(
        app.ApiFieldsPage,
        8005,
        title="API fields",
        slug="api-fields",
        body="Shown through api_fields",
        internal_note="Never sent",
    )
    custom_page = add(app.CustomPropertiesPage, 8006, title="Custom", slug="custom", rating=3)

    # Translations share the translation key; made by hand for fixed pks.
    home_da = root.add_child(
        instance=app.HomePage(
            pk=8101, title="Hjem", slug="home-content-da", locale=danish, translation_key=key(8001)
        )
    )
    home_da.save_revision().publish()
    fields_da = home_da.add_child(
        instance=app.FieldsPage(
            pk=8102, title="Felter", slug="fields", locale=danish, translation_key=key(8002)
        )
    )
    fields_da.save_revision().publish()
    return {
        "home": home,
        "home_da": home_da,
        "fields_page": fields_page,
        "fields_da": fields_da,
        "relations_page": relations_page,
        "stream_page": stream_page,
        "api_page": api_page,
        "custom_page": custom_page,
        "image": image,
        "document": document,
        "category": category,
        "author": author,
        "footer": footer,
        "supplier": supplier,
        "collection": collection,
    }


def _stream_data() -> list[dict]:
    blocks = [
        ("heading", "Every block"),
        ("text", "Plain\ntext"),
        ("paragraph", '<p>See <a linktype="page" id="8002">fields</a>.</p>'),
        ("email", "hello@example.com"),
        ("url", "https://wagtail.org/"),
        ("integer", 7),
        ("decimal", "3.14"),
        ("float", 2.5),
        ("flag", True),
        ("date", "2026-11-22"),
        ("time", "07:45:00"),
        ("datetime", "2026-11-01T09:30:00Z"),
        ("choice", "b"),
        ("choices", ["a", "b"]),
        ("raw_html", "<hr>"),
        ("quote", "To be or not to be"),
        ("divider", None),
        ("page", 8003),
        ("image", 7001),
        ("image_with_alt", {"image": 7001, "decorative": False, "alt_text": "Boats"}),
        ("document", 7101),
        ("snippet", 7201),
        ("embed", EMBED_URL),
        (
            "table",
            {
                "data": [["Name", "Age"], ["Ada", "36"]],
                "first_row_is_table_header": True,
                "first_col_is_header": False,
                "table_caption": "People",
            },
        ),
        (
            "typed_table",
            {
                "caption": "Links",
                "columns": [
                    {"type": "text", "heading": "Label"},
                    {"type": "page", "heading": "Page"},
                ],
                "rows": [{"values": ["Fields", 8002]}],
            },
        ),
        ("card", {"title": "A card", "image": 7001}),
        (
            "keywords",
            [
                {"type": "item", "value": "alpha", "id": block_id(900)},
                {"type": "item", "value": "beta", "id": block_id(901)},
            ],
        ),
        (
            "section",
            [
                {"type": "heading", "value": "Inside", "id": block_id(910)},
                {"type": "page", "value": 8002, "id": block_id(911)},
            ],
        ),
        ("shout", "quiet"),
    ]
    return [
        {"type": name, "value": value, "id": block_id(n)} for n, (name, value) in enumerate(blocks)
    ]


def _freeze_dates(objects: dict) -> None:
    """Publish dates and upload times are 'now'; pin them so entities are reproducible."""
    page_ids = [obj.pk for obj in objects.values() if isinstance(obj, Page)]
    Page.objects.filter(pk__in=page_ids).update(first_published_at=MOMENT, last_published_at=MOMENT)
    get_image_model().objects.filter(pk=objects["image"].pk).update(created_at=MOMENT)
    get_document_model().objects.filter(pk=objects["document"].pk).update(created_at=MOMENT)
