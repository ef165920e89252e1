from django.core.management.base import BaseCommand, CommandError

from enterspeed_sync.diagnostics.verify import MISSING, ORPHAN, STALE, verify
from enterspeed_sync.management.output import plural


class Command(BaseCommand):
    help = (
        "Compare the site's published pages, images, documents and snippets with what "
        "Enterspeed last accepted (the ledger) and report the drift: "
        f"{MISSING} (published here, never accepted by Enterspeed), "
        f"{STALE} (Enterspeed has an older version than the site would send now), "
        f"{ORPHAN} (Enterspeed has it, the site no longer publishes it). "
        "Entities with a pending or failed job are counted as such, not as drift. "
        "Entities that only lag behind a page they link to (moved or renamed since) are "
        "catch-up, not drift; --catch-up re-sends them. --repair queues the jobs that fix it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--repair", action="store_true", help="Queue jobs to fix drift.")
        parser.add_argument(
            "--fail-on-drift",
            action="store_true",
            help="Exit with status 1 when drift is found (for monitoring).",
        )
        parser.add_argument(
            "--list", action="store_true", help="List every drifted entity, not just counts."
        )
        parser.add_argument(
            "--catch-up",
            action="store_true",
            help="Re-send the entities whose links point at a page moved or renamed since.",
        )

    def handle(
        self, *args, repair=False, fail_on_drift=False, list=False, catch_up=False, **options
    ):
        report = verify(repair=repair, catch_up=catch_up)
        self.stdout.write(
            f"Checked {plural(report.checked, 'published entity', 'published entities')}: "
            f"{report.in_sync} in sync, "
            f"{report.in_flight} on their way (queued), {report.failed} with a failed job."
        )
        self.stdout.write(
            f"Drift: {report.count(MISSING)} missing, {report.count(STALE)} stale, "
            f"{report.count(ORPHAN)} orphaned (no longer published)."
        )
        self.stdout.write(
            f"Catch-up: {len(report.catch_up)} link to a page moved or renamed since they "
            "were sent (normal editing, not drift)."
        )
        if list:
            for item in [*report.drift, *report.catch_up]:
                self.stdout.write(f"  {item}")
        for origin_id, error in report.errors:
            self.stdout.write(self.style.ERROR(f"Cannot map {origin_id}: {error}"))
        if repair:
            self.stdout.write(
                self.style.SUCCESS(f"Queued {plural(report.repaired, 'repair job')}.")
            )
        elif report.drift:
            self.stdout.write("Run with --repair to queue the jobs that fix it.")
        if catch_up:
            self.stdout.write(self.style.SUCCESS(f"Queued {report.caught_up} catch-up jobs."))
        elif report.catch_up:
            self.stdout.write("Run with --catch-up to send them again.")
        if fail_on_drift and report.drift and not repair:
            raise CommandError(f"{plural(len(report.drift), 'entity', 'entities')} drifted.")
