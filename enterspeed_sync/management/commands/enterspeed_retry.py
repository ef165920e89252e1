from django.core.management.base import BaseCommand, CommandError

from enterspeed_sync.actions import (
    retry_all_failed,
    retry_jobs,
    send_all_waiting_now,
    send_jobs_now,
    waiting_jobs,
)
from enterspeed_sync.management.output import plural
from enterspeed_sync.models import EnterspeedJob, JobState

#: The audit log's note of where an operation came from.
AUDIT = {"via": "command"}


class Command(BaseCommand):
    help = (
        "Queue failed Enterspeed jobs again: all of them, or those with the given ids. With "
        "--pending, send pending jobs that wait for their next attempt now instead."
    )

    def add_arguments(self, parser):
        parser.add_argument("ids", nargs="*", type=int, metavar="JOB_ID")
        parser.add_argument(
            "--all", action="store_true", help="Every failed job (with --pending: waiting job)."
        )
        parser.add_argument(
            "--pending",
            action="store_true",
            help="Pending jobs waiting for their next attempt (after a failure): move that "
            "attempt to now, for the given ids or, without ids, every waiting job. Attempts "
            "already spent stay spent.",
        )

    def handle(self, *args, ids=None, all=False, pending=False, **options):
        if pending:
            # Nothing is lost by sending sooner: without ids, every waiting job.
            self.send_now(ids, all or not ids)
            return
        if not ids and not all:
            raise CommandError("Name the job ids to retry, or pass --all.")
        if all:
            queued = retry_all_failed(audit=AUDIT, inline_limit=None).queued
        else:
            # Refuse before retrying anything: a typo should not half-run the command.
            jobs = list(EnterspeedJob.objects.filter(pk__in=ids))
            states = {job.pk: job.state for job in jobs}
            problems = [
                f"No job with id {pk}." if pk not in states else f"Job {pk} is {states[pk]}."
                for pk in dict.fromkeys(ids)
                if states.get(pk) != JobState.FAILED
            ]
            if problems:
                hint = "Only failed jobs can be retried."
                if any(states.get(pk) == JobState.PENDING for pk in ids):
                    hint += (
                        " Pass --pending to send a pending job that waits for its next attempt now."
                    )
                raise CommandError(" ".join([*problems, hint]))
            queued = retry_jobs(jobs, audit=AUDIT)
        self.stdout.write(self.style.SUCCESS(f"Queued {plural(queued, 'failed job')} again."))

    def send_now(self, ids, all):
        if all:
            moved = send_all_waiting_now(audit=AUDIT)
        else:
            jobs = list(EnterspeedJob.objects.filter(pk__in=ids))
            waiting = set(waiting_jobs().filter(pk__in=ids).values_list("pk", flat=True))
            states = {job.pk: job.state for job in jobs}
            problems = [
                f"No job with id {pk}."
                if pk not in states
                else f"Job {pk} is {states[pk]} and not waiting for a later attempt."
                for pk in dict.fromkeys(ids)
                if pk not in waiting
            ]
            if problems:
                raise CommandError(" ".join(problems))
            moved = send_jobs_now(jobs, audit=AUDIT)
        self.stdout.write(self.style.SUCCESS(f"{plural(moved, 'waiting job')} will be sent now."))
