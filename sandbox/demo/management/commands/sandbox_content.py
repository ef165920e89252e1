"""Create the sandbox's demo content: a small bilingual site. Running it again changes nothing."""

import datetime
import io

from django.contrib.auth import get_user_model
from django.core.files.images import ImageFile
from django.core.management.base import BaseCommand
from django.db import transaction
from PIL import Image as PILImage
from PIL import ImageDraw
from wagtail.images import get_image_model
from wagtail.models import Locale, Page, Site

from enterspeed_sync.capture.outbox import pause_sync
from sandbox.demo.models import ArticleIndexPage, ArticlePage, ContactPage, HomePage, SiteMessage

ARTICLES = [
    ("Why headless", "A front end that only reads JSON is fast and easy to replace."),
    ("Publishing is a transaction", "The job row commits with the page, or not at all."),
    ("Coalescing edits", "Ten quick edits to one page cost one request."),
    ("When the API is down", "Jobs wait in the database with the reason, ready to retry."),
    ("Moving a section", "Every live page below a moved page gets its new URL."),
    ("Seeding a big site", "Seed queues every live page in chunks, never all at once."),
]
COLOURS = [("Teal", "#2e7d6b"), ("Amber", "#f2a33a"), ("Indigo", "#3f51b5")]


class Command(BaseCommand):
    help = "Create the sandbox demo content (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--port", type=int, default=8000, help="Port the site is served on (its URLs)."
        )

    @transaction.atomic
    def handle(self, *args, port=8000, **options):
        with pause_sync():  # `sandbox_demo` seeds afterwards, in one go
            created = self.create_content()
            self.serve_on(port)
        self.stdout.write("Demo content created." if created else "Demo content already exists.")

    def serve_on(self, port: int) -> None:
        """Page URLs come from the default site: give it the port the demo serves on, also
        when the content exists already (the seed then sends the new URLs)."""
        site = Site.objects.get(is_default_site=True)
        if site.port != port:
            site.port = port
            site.save()  # save(), not update(): Wagtail clears its cached site URLs then

    def create_content(self) -> bool:
        User = get_user_model()
        if not User.objects.filter(username="admin").exists():
            User.objects.create_superuser("admin", "admin@example.com", "admin")
        english = Locale.objects.get_or_create(language_code="en")[0]
        danish = Locale.objects.get_or_create(language_code="da")[0]
        if HomePage.objects.filter(locale=english).exists():
            return False

        root = Page.get_first_root_node()
        home = root.add_child(
            instance=HomePage(
                title="Enterspeed sandbox",
                slug="sandbox-home",
                locale=english,
                intro="<p>A small Wagtail site kept in sync with Enterspeed.</p>",
            )
        )
        site = Site.objects.filter(is_default_site=True).first() or Site(is_default_site=True)
        old_root_id = site.root_page_id
        site.hostname, site.root_page = "127.0.0.1", home
        site.site_name = "enterspeed_sync sandbox"
        site.save()
        # Wagtail's "Welcome to your new Wagtail site!" page is not demo content.
        if old_root_id and old_root_id != home.pk:
            Page.objects.filter(pk=old_root_id, depth=2).delete()

        images = [self.make_image(name, colour) for name, colour in COLOURS]
        index = home.add_child(
            instance=ArticleIndexPage(
                title="Articles", slug="articles", intro="<p>Notes on syncing content.</p>"
            )
        )
        articles = []
        for number, (title, intro) in enumerate(ARTICLES):
            article = index.add_child(
                instance=ArticlePage(
                    title=title,
                    intro=intro,
                    date=datetime.date(2026, 11, 1) + datetime.timedelta(days=number),
                    hero_image=images[number % len(images)],
                )
            )
            articles.append(article)
        for number, article in enumerate(articles):
            previous = articles[number - 1]
            article.body = [
                ("heading", "In short"),
                (
                    "paragraph",
                    f"<p>{article.intro} Read also "
                    f'<a linktype="page" id="{previous.pk}">{previous.title}</a>.</p>',
                ),
                ("image", images[(number + 1) % len(images)]),
                ("quote", {"text": "Nothing is lost.", "author": "The sync"}),
                ("facts", ["Written in the same transaction", "Sent after commit"]),
            ]
            article.save_revision().publish()
        contact = home.add_child(
            instance=ContactPage(
                title="Contact", email="hello@example.com", phone="+45 12 34 56 78"
            )
        )
        for page in (home, index, contact):
            page.save_revision().publish()

        for page in [home, index, *articles, contact]:
            translation = page.specific.copy_for_translation(danish)
            translation.title = f"{page.title} (da)"
            translation.save_revision().publish()

        footer = SiteMessage.objects.create(
            key="footer", text="Content synced to Enterspeed", locale=english
        )
        SiteMessage.objects.create(
            key="footer",
            text="Indhold synkroniseret til Enterspeed",
            locale=danish,
            translation_key=footer.translation_key,
        )
        return True

    def make_image(self, name: str, colour: str):
        canvas = PILImage.new("RGB", (800, 450), "#f4f4f4")
        draw = ImageDraw.Draw(canvas)
        draw.ellipse((250, 75, 550, 375), fill=colour)
        draw.rectangle((40, 40, 200, 120), outline=colour, width=8)
        buffer = io.BytesIO()
        canvas.save(buffer, format="PNG")
        image_model = get_image_model()
        return image_model.objects.create(
            title=f"{name} circle",
            file=ImageFile(buffer, name=f"{name.lower()}-circle.png"),
        )
