"""
A synthetic Wagtail site for the benchmarks: a home page, ``sections`` section pages and
``pages`` blog posts spread evenly under them, with realistic content: rich text with page
links and embedded images, a StreamField of headings, paragraphs, images and quotes, a hero
image and a related page. A pool of real images is shared by every post.

Pages are written in bulk, tree paths and all, so 50,000 posts take seconds instead of the
hour ``add_child`` would need; ``fix_tree`` would find nothing to repair. Jobs are not
written while building (``pause_sync``): the benchmark seeds them itself.
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, date, datetime, timedelta

from django.core.files.images import ImageFile
from django.db import connection, transaction
from PIL import Image as PILImage
from wagtail.models import Locale, Page, Site

from enterspeed_sync.capture.outbox import pause_sync

CHUNK = 1000
IMAGE_POOL = 20


def build_site(pages: int, *, sections: int = 50) -> dict[str, int]:
    """Build the site on an empty database. Returns the counts of what was created."""
    from tests.testapp.models import BlogIndexPage, BlogPage, HomePage

    with pause_sync(), transaction.atomic():
        root = Page.objects.get(depth=1)
        Page.objects.filter(depth__gt=1).delete()  # Wagtail's welcome page
        root.refresh_from_db()
        home = root.add_child(instance=HomePage(title="Home", slug="home"))
        Site.objects.all().delete()
        Site.objects.create(hostname="bench.example", port=80, root_page=home, is_default_site=True)
        images = [_make_image(i) for i in range(IMAGE_POOL)]
        section_pages = [
            home.add_child(instance=BlogIndexPage(title=f"Section {s}", slug=f"section-{s}"))
            for s in range(max(1, min(sections, pages)))
        ]
        locale = Locale.get_default()
        blog_type = BlogPage._meta.concrete_model
        from django.contrib.contenttypes.models import ContentType

        content_type = ContentType.objects.get_for_model(blog_type)
        per_section = -(-pages // len(section_pages))
        created = 0
        for section in section_pages:
            count = min(per_section, pages - created)
            if count <= 0:
                break
            _bulk_posts(section, count, created, images, section_pages, locale, content_type)
            created += count
            section.numchild = count
            section.save(update_fields=["numchild"])
    return {"pages": created + len(section_pages) + 1, "images": len(images)}


def _bulk_posts(section, count, offset, images, sections, locale, content_type) -> None:
    from tests.testapp.models import BlogPage

    first_published = datetime(2026, 1, 1, tzinfo=UTC)
    for start in range(0, count, CHUNK):
        posts = []
        for n in range(start, min(count, start + CHUNK)):
            number = offset + n
            slug = f"post-{number}"
            image = images[number % len(images)]
            other = images[(number * 7 + 3) % len(images)]
            link = sections[(number + 1) % len(sections)]
            posts.append(
                BlogPage(
                    title=f"Post {number}: notes on a synthetic subject",
                    draft_title=f"Post {number}: notes on a synthetic subject",
                    slug=slug,
                    path=Page._get_path(section.path, section.depth + 1, n + 1),
                    depth=section.depth + 1,
                    numchild=0,
                    url_path=f"{section.url_path}{slug}/",
                    live=True,
                    has_unpublished_changes=False,
                    first_published_at=first_published + timedelta(minutes=number),
                    last_published_at=first_published + timedelta(minutes=number),
                    locale=locale,
                    translation_key=uuid.uuid4(),
                    content_type=content_type,
                    date=date(2026, 1, 1) + timedelta(days=number % 365),
                    featured=number % 10 == 0,
                    rating=f"{number % 5}.{number % 100:02d}",
                    hero_image=image,
                    related_page=link,
                    body=_rich_text(number, link.pk, other.pk),
                    content=_stream(number, image.pk, other.pk, link.pk),
                )
            )
        _insert_pages(BlogPage, posts)


def _insert_pages(model, pages) -> None:
    """Insert page rows and their specific rows (Django cannot bulk-create a subclass)."""
    Page.objects.bulk_create(pages)
    for page in pages:
        # bulk_create filled in the base row's id (RETURNING, on SQLite 3.35+ and PostgreSQL).
        page.page_ptr_id = page.id
    local_fields = model._meta.local_concrete_fields
    model._base_manager._insert(pages, fields=local_fields, using=connection.alias)


def _rich_text(number: int, page_id: int, image_id: int) -> str:
    words = " ".join(f"word{(number * 31 + i) % 997}" for i in range(60))
    return (
        f"<h2>About post {number}</h2>"
        f"<p>{words} <b>bold</b> and <i>italic</i> text with a "
        f'<a linktype="page" id="{page_id}">link to a section</a> and an '
        f'<a href="https://www.example.com/{number}">external link</a>.</p>'
        f'<embed alt="Picture {number}" embedtype="image" format="left" id="{image_id}"/>'
        f"<ul><li>First point</li><li>Second point</li><li>Third point</li></ul>"
        f"<p>{words}</p>"
    )


def _stream(number: int, image_id: int, other_id: int, page_id: int) -> list[dict]:
    paragraph = (
        f'<p>Paragraph of post {number} with a <a linktype="page" id="{page_id}">link</a> '
        "and some more words to make it a realistic length for a body paragraph.</p>"
    )
    return [
        {"type": "heading", "value": f"Introduction to {number}", "id": _block_id(number, 1)},
        {"type": "paragraph", "value": paragraph, "id": _block_id(number, 2)},
        {"type": "image", "value": image_id, "id": _block_id(number, 3)},
        {
            "type": "quote",
            "value": {"text": f"A quote in post {number}.", "author": "Someone"},
            "id": _block_id(number, 4),
        },
        {"type": "heading", "value": "Details", "id": _block_id(number, 5)},
        {"type": "paragraph", "value": paragraph, "id": _block_id(number, 6)},
        {"type": "image", "value": other_id, "id": _block_id(number, 7)},
        {"type": "paragraph", "value": paragraph, "id": _block_id(number, 8)},
    ]


def _block_id(number: int, position: int) -> str:
    return str(uuid.UUID(int=number * 100 + position))


def _make_image(index: int):
    from wagtail.images import get_image_model

    buffer = io.BytesIO()
    PILImage.new("RGB", (64, 48), (index * 12 % 256, 80, 160)).save(buffer, "PNG")
    return get_image_model().objects.create(
        title=f"Bench image {index}",
        file=ImageFile(buffer, name=f"bench-{index}.png"),
    )
