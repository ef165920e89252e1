from django.core.management.base import BaseCommand, CommandError

from enterspeed_sync.ledger import forget
from enterspeed_sync.mapping import get_base_page_model
from enterspeed_sync.seeding import seed
from enterspeed_sync.sending import current_source


class Command(BaseCommand):
    help = "Queue a publish job for every live page, so Enterspeed gets the whole site."

    def add_arguments(self, parser):
        parser.add_argument(
            "--root", type=int, metavar="PAGE_ID", help="Only this page and its descendants."
        )
        parser.add_argument(
            "--locale",
            action="append",
            dest="locales",
            metavar="CODE",
            help="Only pages in this locale (repeatable).",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Send every page even if Enterspeed already has the same payload (forgets "
            "the ledger of what was sent).",
        )

    def handle(self, *args, root=None, locales=None, force=False, **options):
        if force:
            forgotten = forget(current_source())
            self.stdout.write(f"Forgot {forgotten} ledger entries; everything is sent again.")
        root_page = None
        if root is not None:
            root_page = get_base_page_model().objects.filter(pk=root).first()
            if root_page is None:
                raise CommandError(f"No page with id {root}.")
        result = seed(root_page=root_page, locales=locales)
        for kind, count in result.counts.items():
            self.stdout.write(f"{kind}: {count} jobs queued")
        self.stdout.write(self.style.SUCCESS(f"Seeded {result.total} jobs."))
