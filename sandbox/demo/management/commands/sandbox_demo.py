"""
Set up and run the demo: migrate, create content, start the ingest stand-in (unless a real
API key is configured) and a real django-q2 cluster, seed every page, wait until all of it
arrived, then serve the site.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from enterspeed_sync.management.output import plural
from enterspeed_sync.mapping import get_base_page_model
from enterspeed_sync.mapping.identity import get_image_model
from enterspeed_sync.models import EnterspeedJob
from sandbox.demo.models import SiteMessage

WAIT_SECONDS = 120


def standin_guide(url: str, port: int) -> str:
    """What the stand-in's page shows and can do, and the failure demo in four steps."""
    return (
        f"Enterspeed stand-in: {url}/ shows what Enterspeed received and the recent requests\n"
        "with their answers. Publish, move or delete a page in the admin and reload it.\n"
        "Its fault switches make Enterspeed fail: the next N requests with 500, 503, 429,\n"
        "401, 403 or 422, an outage (connections closed unanswered), or latency. Try it:\n"
        "  1. on the stand-in's page, fail the next 3 requests with 500;\n"
        "  2. publish a page in the admin;\n"
        f"  3. after a few seconds the job is failed: http://127.0.0.1:{port}/admin/enterspeed/\n"
        "     and its jobs list say why;\n"
        "  4. switch all faults off, click Retry on the job, and reload the stand-in's page.\n"
        "docs/sandbox.md walks through it.\n"
    )


class Command(BaseCommand):
    help = "Set up the sandbox, sync it to Enterspeed (or the embedded stand-in) and serve it."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="Port of the demo site.")
        parser.add_argument(
            "--no-serve", action="store_true", help="Stop after the first sync (for CI)."
        )

    def handle(self, *args, port=8000, no_serve=False, **options):
        self.step("Migrating the database")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)  # django-q2's cluster statistics
        self.step("Creating demo content")
        call_command("sandbox_content", port=port, stdout=self.stdout)
        # The cluster maps the pages: its settings take the port from the environment.
        os.environ["SANDBOX_PORT"] = str(port)
        settings.WAGTAILADMIN_BASE_URL = f"http://127.0.0.1:{port}"

        standin = None
        if settings.SANDBOX_USES_STANDIN:
            from enterspeed_sync.testing import IngestStandIn

            standin = IngestStandIn(api_keys=["source-sandbox"], port=settings.STANDIN_PORT)
            try:
                standin.start()
            except OSError as e:
                raise CommandError(
                    f"Could not start the ingest stand-in on port {settings.STANDIN_PORT}: {e}. "
                    "Set ENTERSPEED_STANDIN_PORT to a free port."
                ) from e
            self.step(
                f"Ingest stand-in listening on {standin.url}/ (what Enterspeed receives, "
                "the recent requests, and fault switches)"
            )
        else:
            self.step(f"Sending to Enterspeed at {settings.ENTERSPEED_SYNC['BASE_URL']}")

        cluster = self.start_cluster()
        # Stop the cluster on SIGTERM too, not only on Ctrl-C: it runs in its own session.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        try:
            self.step("Seeding: queueing every live page")
            call_command("enterspeed_seed", stdout=self.stdout)
            ok = self.wait_for_queue(standin)
            # What the dashboard and the health endpoint say now, clusters included.
            call_command("enterspeed_process", "--status", stdout=self.stdout)
            if no_serve:
                if not ok:
                    raise CommandError("The first sync did not complete; see the messages above.")
                return
            self.stdout.write(
                self.style.SUCCESS(
                    f"\nSite:  http://127.0.0.1:{port}/\n"
                    f"Admin: http://127.0.0.1:{port}/admin/ (admin / admin)\n"
                )
                + (standin_guide(standin.url, port) if standin else "")
            )
            call_command("runserver", f"127.0.0.1:{port}", use_reloader=False)
        finally:
            self.stop_cluster(cluster)
            if standin:
                standin.stop()

    def step(self, message):
        self.stdout.write(self.style.MIGRATE_HEADING(f"» {message}"))

    def start_cluster(self):
        # Beside the database: sandbox/qcluster.log, or the folder SANDBOX_DB_PATH names.
        log_path = Path(settings.DATABASES["default"]["NAME"]).parent / "qcluster.log"
        self.step(f"Starting a django-q2 cluster (log: {log_path})")
        log = log_path.open("ab")
        process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=Path(settings.SANDBOX_DIR).parent,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process.log_path = log_path
        return process

    def stop_cluster(self, process):
        if process.poll() is not None:
            return
        # SIGTERM to the main process only: django-q2 then finishes its tasks and exits.
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def wait_for_queue(self, standin) -> bool:
        started = time.monotonic()
        last_report = 0.0
        while time.monotonic() - started < WAIT_SECONDS:
            waiting = EnterspeedJob.objects.exclude(state="failed").count()
            if not waiting:
                break
            if time.monotonic() - last_report >= 2:
                self.stdout.write(f"  {plural(waiting, 'job')} waiting for the cluster …")
                last_report = time.monotonic()
            time.sleep(0.5)
        else:
            self.stderr.write(f"Jobs still waiting after {WAIT_SECONDS} s.")
            return False
        seconds = time.monotonic() - started
        failed = EnterspeedJob.objects.failed()
        if failed.exists():
            first = failed.first()
            self.stderr.write(
                f"{failed.count()} jobs failed. First: {first.origin_id}: {first.error[:300]}"
            )
            return False
        live_pages = get_base_page_model().objects.live().filter(depth__gt=1).count()
        others = get_image_model().objects.count() + SiteMessage.objects.count()
        expected = live_pages + others
        if standin is None:
            self.stdout.write(
                self.style.SUCCESS(f"All {expected} entities sent in {seconds:.1f} s.")
            )
            return True
        entities = standin.entities
        by_type = {}
        for entity in entities.values():
            by_type[entity["type"]] = by_type.get(entity["type"], 0) + 1
        summary = ", ".join(f"{count} {kind}" for kind, count in sorted(by_type.items()))
        if len(entities) < expected:
            self.stderr.write(f"Only {len(entities)} of {expected} entities arrived.")
            return False
        self.stdout.write(
            self.style.SUCCESS(
                f"All {live_pages} live pages and {others} images and snippets arrived in "
                f"{seconds:.1f} s ({summary})."
            )
        )
        return True
