from django.core.management.base import BaseCommand, CommandError

from enterspeed_sync.management.output import plural
from enterspeed_sync.models import EnterspeedJob, JobState
from enterspeed_sync.processing.transitions import retry_failed_jobs


class Command(BaseCommand):
    help = "Queue failed Enterspeed jobs again: all of them, or those with the given ids."

    def add_arguments(self, parser):
        parser.add_argument("ids", nargs="*", type=int, metavar="JOB_ID")
        parser.add_argument("--all", action="store_true", help="Retry every failed job.")

    def handle(self, *args, ids=None, all=False, **options):
        if not ids and not all:
            raise CommandError("Name the job ids to retry, or pass --all.")
        if ids and not all:
            # Refuse before retrying anything: a typo should not half-run the command.
            states = dict(EnterspeedJob.objects.filter(pk__in=ids).values_list("pk", "state"))
            problems = [
                f"No job with id {pk}." if pk not in states else f"Job {pk} is {states[pk]}."
                for pk in dict.fromkeys(ids)
                if states.get(pk) != JobState.FAILED
            ]
            if problems:
                raise CommandError(" ".join([*problems, "Only failed jobs can be retried."]))
        queued = retry_failed_jobs(None if all else ids)
        self.stdout.write(self.style.SUCCESS(f"Queued {plural(queued, 'failed job')} again."))
