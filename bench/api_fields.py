"""
What mapping ``api_fields`` with serializers costs: N ``ArticlePage``s (tests/testapp, ten
entries: an ``ImageRenditionField``, ``CharField(source=…)`` fields, ``source="*"``, a method,
a reference and inline children) mapped one by one, and the part of it spent copying and
binding the serializer fields (as Wagtail's API does per request).

    python bench/api_fields.py [--pages 200] [--postgres]

Prints numbers, asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.testdb import run_on_test_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--postgres", action="store_true", help="Use ENTERSPEED_TEST_PG_*.")
    args = parser.parse_args()
    run_on_test_database(lambda: run(args.pages), postgres=args.postgres, prefix="bench-api-")


def run(count: int) -> None:
    from django.conf import settings
    from wagtail.images.models import Image
    from wagtail.images.tests.utils import get_test_image_file
    from wagtail.models import Page

    from enterspeed_sync.capture.outbox import pause_sync
    from enterspeed_sync.mapping import get_mapper
    from enterspeed_sync.mapping.api_fields import bind_serializer_field, get_property_entries
    from tests.testapp.models import ArticleNote, ArticlePage, Author

    settings.MEDIA_ROOT = tempfile.mkdtemp(prefix="bench-api-media-")
    with pause_sync():
        image = Image.objects.create(title="Bench", file=get_test_image_file(size=(800, 600)))
        author = Author.objects.create(name="Ada")
        root = Page.objects.get(depth=1)
        pages = [
            root.add_child(
                instance=ArticlePage(
                    title=f"Article {i}",
                    slug=f"article-{i}",
                    summary="Boats and more boats",
                    image=image,
                    author=author,
                    notes=[ArticleNote(text="ahoy")],
                )
            )
            for i in range(count)
        ]
    pages = list(ArticlePage.objects.filter(pk__in=[p.pk for p in pages]))
    get_mapper(pages[0]).to_entity()  # the rendition is made once, as on a real site

    started = time.perf_counter()
    for page in pages:
        get_mapper(page).to_entity()
    mapping = (time.perf_counter() - started) / count

    entries = [e for e in get_property_entries(ArticlePage) if e.serializer is not None]
    context = get_mapper(pages[0]).api_context
    rounds = 2000
    started = time.perf_counter()
    for _ in range(rounds):
        for entry in entries:
            bind_serializer_field(entry, context)
    binding = (time.perf_counter() - started) / rounds

    print(f"pages mapped:                       {count}")
    print(f"mapping, per page:                  {mapping * 1000:.2f} ms")
    print(
        f"copying + binding {len(entries)} serializer fields: {binding * 1000:.3f} ms "
        f"({binding / mapping:.0%} of mapping)"
    )


if __name__ == "__main__":
    main()
