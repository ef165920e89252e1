from django.core.management.base import BaseCommand

from enterspeed_sync.models import EnterspeedJob
from enterspeed_sync.processing import process_pending_jobs


class Command(BaseCommand):
    help = (
        "Process the Enterspeed job queue in the foreground until it is empty "
        "(no django-q2 cluster needed)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, help="Jobs claimed per batch.")

    def handle(self, *args, batch_size=None, **options):
        result = process_pending_jobs(batch_size=batch_size)
        self.stdout.write(
            f"Processed {result.processed} jobs: {result.succeeded} succeeded, "
            f"{result.failed} failed."
        )
        if failed := EnterspeedJob.objects.failed().count():
            self.stdout.write(
                self.style.WARNING(
                    f"{failed} failed jobs are waiting; see the reasons with the admin's job "
                    "list and retry them with `manage.py enterspeed_retry`."
                )
            )
