from django.core.management.base import BaseCommand, CommandError
from wagtail.models import Collection, Locale

from enterspeed_sync.capture.seeding import SEED_KINDS
from enterspeed_sync.conf import get_destinations
from enterspeed_sync.management.output import plural
from enterspeed_sync.mapping import get_base_page_model, get_synced_snippet_models
from enterspeed_sync.models import Destination
from enterspeed_sync.operations import SeedScope, run_seed


class Command(BaseCommand):
    help = (
        "Queue a publish job for every live page, image, document and snippet, so Enterspeed "
        "gets the whole site."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--kind",
            action="append",
            dest="kinds",
            choices=SEED_KINDS,
            help="Only this kind of entity (repeatable; default: all kinds, or pages with --root).",
        )
        parser.add_argument(
            "--root",
            type=int,
            action="append",
            metavar="PAGE_ID",
            help="Only this page and its descendants (repeatable: several subtrees).",
        )
        parser.add_argument(
            "--collection",
            type=int,
            action="append",
            dest="collections",
            metavar="ID",
            help="Only images and documents in this collection (repeatable).",
        )
        parser.add_argument(
            "--snippet-model",
            action="append",
            dest="snippet_models",
            metavar="APP.MODEL",
            help="Only snippets of this synced model, e.g. blog.author (repeatable).",
        )
        parser.add_argument(
            "--no-descendants",
            action="store_false",
            dest="descendants",
            help="With --root: only the page itself.",
        )
        parser.add_argument(
            "--locale",
            action="append",
            dest="locales",
            metavar="CODE",
            help="Only pages and translatable snippets in this locale (repeatable).",
        )
        parser.add_argument(
            "--destination",
            choices=Destination.values,
            default=Destination.PUBLISH,
            help="The Enterspeed source to seed: 'publish' (live content, the default) or "
            "'preview' (every page's and snippet's latest draft; needs PREVIEW_API_KEY).",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Send everything seeded even if Enterspeed already has the same payload "
            "(forgets the ledger entries of what is seeded).",
        )

    def handle(
        self,
        *args,
        kinds=None,
        root=None,
        descendants=True,
        locales=None,
        force=False,
        destination=Destination.PUBLISH,
        collections=None,
        snippet_models=None,
        **options,
    ):
        roots = root or []
        if destination not in get_destinations():
            raise CommandError(
                f"The {destination!r} destination is not configured: set "
                "ENTERSPEED_SYNC['PREVIEW_API_KEY'] to seed the preview source."
            )
        if not roots and not descendants:
            raise CommandError("--no-descendants needs --root: it seeds only the root page.")
        if locales:
            known = set(Locale.objects.values_list("language_code", flat=True))
            if unknown := [code for code in locales if code not in known]:
                raise CommandError(
                    f"No locale {', '.join(map(repr, unknown))}; the site's locales are "
                    f"{', '.join(sorted(known))}."
                )
        found = set(get_base_page_model().objects.filter(pk__in=roots).values_list("pk", flat=True))
        if missing := [pk for pk in roots if pk not in found]:
            raise CommandError(f"No page with id {', '.join(map(str, missing))}.")
        if collections:
            known = set(Collection.objects.values_list("pk", flat=True))
            if missing := [pk for pk in collections if pk not in known]:
                raise CommandError(f"No collection with id {', '.join(map(str, missing))}.")
        if snippet_models:
            synced = {model._meta.label_lower for model in get_synced_snippet_models()}
            if unknown := [label for label in snippet_models if label.lower() not in synced]:
                raise CommandError(
                    f"Not a synced snippet model: {', '.join(unknown)}; "
                    f"synced: {', '.join(sorted(synced))}."
                )
        if not kinds:
            kinds = ["pages"] if roots else SEED_KINDS
        scope = SeedScope(
            kinds=list(kinds),
            root_pages=roots,
            collections=collections or [],
            snippet_models=[label.lower() for label in snippet_models or []],
            descendants=descendants,
            locales=locales or [],
            force=force,
            destination=destination,
        )
        result = run_seed(scope)
        for kind, count in result.counts.items():
            self.stdout.write(f"{kind}: {plural(count, 'job')} queued")
        label = Destination(destination).label.lower()
        self.stdout.write(
            self.style.SUCCESS(f"Seeded {plural(result.total, 'job')} for the {label}.")
        )
