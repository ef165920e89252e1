from django.core.management.base import BaseCommand, CommandError

from enterspeed_sync.processing import retry_failed_jobs


class Command(BaseCommand):
    help = "Queue failed Enterspeed jobs again: all of them, or those with the given ids."

    def add_arguments(self, parser):
        parser.add_argument("ids", nargs="*", type=int, metavar="JOB_ID")
        parser.add_argument("--all", action="store_true", help="Retry every failed job.")

    def handle(self, *args, ids=None, all=False, **options):
        if not ids and not all:
            raise CommandError("Name the job ids to retry, or pass --all.")
        queued = retry_failed_jobs(None if all else ids)
        self.stdout.write(self.style.SUCCESS(f"Queued {queued} failed jobs again."))
