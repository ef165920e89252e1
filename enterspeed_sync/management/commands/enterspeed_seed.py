from django.core.management.base import BaseCommand, CommandError

from enterspeed_sync.actions import run_seed
from enterspeed_sync.capture.seed_scope import SeedScope, SeedScopeError, validate_seed_scope
from enterspeed_sync.capture.seeding import SEED_KINDS
from enterspeed_sync.management.output import plural
from enterspeed_sync.models import Destination

#: The option that sets each field of a seed's scope, to name it in errors.
OPTIONS = {
    "kinds": "--kind",
    "root_pages": "--root",
    "collections": "--collection",
    "snippet_models": "--snippet-model",
    "descendants": "--no-descendants",
    "locales": "--locale",
    "destination": "--destination",
}


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
            help="Only this kind of entity (repeatable). Default: the kinds the other options "
            "narrow (pages with --root, images and documents with --collection, snippets with "
            "--snippet-model), or every kind.",
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
        try:
            scope = validate_seed_scope(
                SeedScope(
                    kinds=kinds or [],
                    root_pages=root or [],
                    collections=collections or [],
                    snippet_models=snippet_models or [],
                    descendants=descendants,
                    locales=locales or [],
                    force=force,
                    destination=destination,
                )
            )
        except SeedScopeError as exc:
            raise CommandError(
                " ".join(
                    f"{OPTIONS[name]}: {message}"
                    for name, messages in exc.errors.items()
                    for message in messages
                )
            ) from None
        result = run_seed(scope)
        for kind, count in result.counts.items():
            self.stdout.write(f"{kind}: {plural(count, 'job')} queued")
        label = Destination(scope.destination).label.lower()
        self.stdout.write(
            self.style.SUCCESS(f"Seeded {plural(result.total, 'job')} for the {label}.")
        )
