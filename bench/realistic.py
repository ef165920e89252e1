"""
A site like a real one for the benchmarks: news pages (``tests.testapp.models.NewsPage``)
with what an ordinary page model of a real site has, the things the synthetic site
(bench/site.py) lacks and mapping once read one page at a time:

- a hero image (a ForeignKey), sent as a reference and as two ``ImageRenditionField``
  serializers in ``api_fields`` (the pool's renditions exist, as on a site that has served
  its pages);
- a StreamField body of headings, rich text paragraphs that link pages and embed images,
  and image, page and snippet chooser blocks;
- two snippets (an author, translatable with draft state, and a category);
- topics, a ``ParentalManyToManyField`` of categories (three per page);
- related links, ``ParentalKey`` children (an inline panel) with a link to a page;
- reviews, another model's ForeignKey to the page, named in ``api_fields``;
- two locales: every other section is a Danish translation of an English one, with its
  pages translated (the same translation keys), and so are the authors.

Pages are written in bulk, like bench/site.py; jobs are not written while building.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from wagtail.models import Locale, Page, Site

from bench.site import CHUNK, IMAGE_POOL, _insert_pages, _make_image, _rich_text
from enterspeed_sync.capture.outbox import pause_sync

#: What the news pages' api_fields and rich text embeds ask for: created while building.
RENDITIONS = ("fill-300x200", "width-1200", "width-500")
CATEGORIES = 30
AUTHORS = 12


def build_realistic_site(pages: int, *, sections: int = 50) -> dict[str, int]:
    """Build the site on an empty database. Returns the counts of what was created."""
    from tests.testapp.models import Author, BlogIndexPage, Category, HomePage

    with pause_sync(), transaction.atomic():
        root = Page.objects.get(depth=1)
        Page.objects.filter(depth__gt=1).delete()  # Wagtail's welcome page
        root.refresh_from_db()
        english = Locale.get_default()
        danish, _ = Locale.objects.get_or_create(language_code="da")
        home = root.add_child(instance=HomePage(title="Home", slug="home"))
        home_da = home.copy_for_translation(danish)
        home_da.save_revision().publish()
        Site.objects.all().delete()
        Site.objects.create(hostname="bench.example", port=80, root_page=home, is_default_site=True)
        images = [_make_image(i) for i in range(IMAGE_POOL)]
        for image in images:
            image.get_renditions(*RENDITIONS)
        categories = Category.objects.bulk_create(
            Category(name=f"Category {n}", slug=f"category-{n}") for n in range(CATEGORIES)
        )
        authors = {english.pk: [], danish.pk: []}
        for n in range(AUTHORS):
            key = uuid.uuid4()
            for locale in (english, danish):
                authors[locale.pk].append(
                    Author.objects.create(
                        name=f"Author {n} ({locale.language_code})",
                        bio=f"<p>Writes about subject {n}.</p>",
                        portrait=images[n % len(images)],
                        locale=locale,
                        translation_key=key,
                        live=True,
                    )
                )
        count = max(1, min(sections, pages))
        section_pages = []
        for s in range(count):
            parent = home if s % 2 == 0 else home_da
            section_pages.append(
                parent.add_child(instance=BlogIndexPage(title=f"Section {s}", slug=f"section-{s}"))
            )
        content_type = ContentType.objects.get_for_model(_news_page_model())
        per_section = -(-pages // len(section_pages))
        created = 0
        # Danish sections translate the English section before them, page by page.
        keys: list[uuid.UUID] = []
        for section in section_pages:
            number = min(per_section, pages - created)
            if number <= 0:
                break
            if section.locale_id == english.pk:
                keys = [uuid.uuid4() for _ in range(number)]
            keys += [uuid.uuid4() for _ in range(number - len(keys))]
            site = _Parts(images, categories, authors[section.locale_id], section_pages)
            _bulk_news(section, number, created, site, content_type, keys[:number])
            created += number
            section.numchild = number
            section.save(update_fields=["numchild"])
    return {"pages": created + len(section_pages) + 2, "images": len(images)}


class _Parts:
    def __init__(self, images, categories, authors, sections):
        self.images, self.categories, self.authors = images, categories, authors
        self.sections = sections


def _news_page_model():
    from tests.testapp.models import NewsPage

    return NewsPage


def _bulk_news(section, count, offset, parts, content_type, keys) -> None:
    from tests.testapp.models import NewsPageRelatedLink, NewsReview

    model = _news_page_model()
    first_published = datetime(2026, 1, 1, tzinfo=UTC)
    for start in range(0, count, CHUNK):
        posts = []
        for n in range(start, min(count, start + CHUNK)):
            number = offset + n
            slug = f"news-{number}"
            image = parts.images[number % len(parts.images)]
            other = parts.images[(number * 7 + 3) % len(parts.images)]
            link = parts.sections[(number + 1) % len(parts.sections)]
            posts.append(
                model(
                    title=f"News {number}: notes on a realistic subject",
                    draft_title=f"News {number}: notes on a realistic subject",
                    slug=slug,
                    path=Page._get_path(section.path, section.depth + 1, n + 1),
                    depth=section.depth + 1,
                    numchild=0,
                    url_path=f"{section.url_path}{slug}/",
                    live=True,
                    has_unpublished_changes=False,
                    first_published_at=first_published + timedelta(minutes=number),
                    last_published_at=first_published + timedelta(minutes=number),
                    locale_id=section.locale_id,
                    translation_key=keys[n],
                    content_type=content_type,
                    intro=f"What news {number} is about, in a sentence or two.",
                    hero_image=image,
                    author=parts.authors[number % len(parts.authors)],
                    category=parts.categories[number % len(parts.categories)],
                    body=_body(number, image.pk, other.pk, link.pk, parts.categories),
                )
            )
        _insert_pages(model, posts)
        topics = model.topics.through
        topics.objects.bulk_create(
            topics(newspage_id=post.pk, category_id=parts.categories[(post.pk + i) % CATEGORIES].pk)
            for post in posts
            for i in range(3)
        )
        NewsPageRelatedLink.objects.bulk_create(
            NewsPageRelatedLink(
                page_id=post.pk,
                sort_order=i,
                title=f"Related {i}",
                link_page=parts.sections[(post.pk + i) % len(parts.sections)],
                link_url="" if i else f"https://www.example.com/{post.pk}",
            )
            for post in posts
            for i in range(2)
        )
        NewsReview.objects.bulk_create(
            NewsReview(page_id=post.pk, reviewer=f"Reader {post.pk}", stars=post.pk % 5 + 1)
            for post in posts
            if post.pk % 3 == 0
        )


def _body(number, image_id, other_id, page_id, categories) -> list[dict]:
    return [
        {"type": "heading", "value": f"News {number}", "id": _block_id(number, 1)},
        {
            "type": "paragraph",
            "value": _rich_text(number, page_id, other_id),
            "id": _block_id(number, 2),
        },
        {"type": "image", "value": image_id, "id": _block_id(number, 3)},
        {"type": "page", "value": page_id, "id": _block_id(number, 4)},
        {
            "type": "snippet",
            "value": categories[number % CATEGORIES].pk,
            "id": _block_id(number, 5),
        },
        {
            "type": "quote",
            "value": {"text": f"A quote in news {number}.", "author": "Someone"},
            "id": _block_id(number, 6),
        },
        {"type": "image", "value": other_id, "id": _block_id(number, 7)},
    ]


def _block_id(number: int, position: int) -> str:
    return str(uuid.UUID(int=number * 100 + position))
