from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils import timezone

from enterspeed_sync.delivery.gate import resume_sending
from enterspeed_sync.management.output import plural
from enterspeed_sync.processing.runner import process_pending_jobs
from enterspeed_sync.status import get_sync_status


class Command(BaseCommand):
    help = (
        "Process the Enterspeed job queue in the foreground until no job is due "
        "(no django-q2 cluster needed), then say how the sync is doing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, help="Jobs claimed per batch.")
        parser.add_argument(
            "--resume",
            action="store_true",
            help="Clear a pause first: a refused API key (after fixing it in Enterspeed), a "
            "rate-limit pause or an open circuit breaker.",
        )
        parser.add_argument(
            "--status", action="store_true", help="Only show the sync status; send nothing."
        )

    def handle(self, *args, **options):
        try:
            self.run(**options)
        except DatabaseError as exc:
            # Not migrated, or the database is down: say so instead of a traceback (the
            # system checks, which would have said it first, can be skipped).
            raise CommandError(
                f"The job queue cannot be read: {exc}. Has `manage.py migrate` run on this "
                "database?"
            ) from exc

    def run(self, *, batch_size=None, resume=False, status=False, **options):
        if resume:
            resume_sending()
            self.stdout.write("Cleared every pause; sending resumes.")
        if not status:
            result = process_pending_jobs(batch_size=batch_size)
            self.stdout.write(
                f"Processed {plural(result.processed, 'job')}: {result.succeeded} succeeded "
                f"({result.unchanged} unchanged, not sent again), {result.failed} failed, "
                f"{result.retried} to retry later."
            )
        sync = get_sync_status()
        for row in sync.destinations:
            style = self.style.SUCCESS if row.ok else self.style.WARNING
            label = "Status" if len(sync.destinations) == 1 else f"Status ({row.label})"
            self.stdout.write(style(f"{label}: {row.message}"))
            label = "State" if len(sync.destinations) == 1 else f"State ({row.label})"
            self.stdout.write(f"{label}: {row.state} (health endpoint: HTTP {row.http_status})")
        self.stdout.write(
            f"Jobs: {sync.pending} pending ({sync.due} due now), {sync.processing} processing, "
            f"{sync.failed} failed."
        )
        self.write_clusters(sync.clusters)
        for hook in sync.failing_hooks:
            self.stdout.write(
                self.style.WARNING(
                    f"The post-sync hook {hook} failed {plural(hook.consecutive_failures, 'time')}"
                    f" in a row: {hook.last_error}"
                )
            )
        if sync.failed:
            verb = "is" if sync.failed == 1 else "are"
            self.stdout.write(
                self.style.WARNING(
                    f"{plural(sync.failed, 'failed job')} {verb} waiting; see the reasons in "
                    "the admin's job list and retry with `manage.py enterspeed_retry`."
                )
            )

    def write_clusters(self, clusters):
        if not clusters.needed:
            self.stdout.write("Clusters: none needed (Q_CLUSTER['sync'] runs tasks inline).")
        elif not clusters.visible:
            self.stdout.write(
                "Clusters: cannot be seen from here (django-q2 keeps its statistics in a "
                "per-process cache; see check enterspeed_sync.W030)."
            )
        elif not clusters.live:
            self.stdout.write(
                self.style.WARNING("Clusters: none running; start `manage.py qcluster`.")
            )
        else:
            self.stdout.write(
                f"Clusters: {len(clusters.live)} running, "
                f"{plural(clusters.workers, 'worker')} in all."
            )
            for cluster in clusters.live:
                beat = (timezone.now() - cluster.last_beat).total_seconds()
                self.stdout.write(
                    f"  {cluster.host} pid {cluster.pid}: {cluster.status}, "
                    f"{plural(cluster.workers, 'worker')}, last beat {beat:.1f} s ago"
                )
