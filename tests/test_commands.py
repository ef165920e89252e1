from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.test import override_settings
from wagtail.models import ModelLogEntry

from enterspeed_sync.management.commands import enterspeed_process
from enterspeed_sync.models import EnterspeedJob, JobState
from enterspeed_sync.processing.schedules import SCHEDULES, ensure_schedules

pytestmark = pytest.mark.django_db

NO_KICK = {"API_KEY": "source-tests", "PROCESS_ON_COMMIT": False}


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_seed_queues_every_live_page_once(site_tree, danish):
    from enterspeed_sync.capture.outbox import pause_sync
    from tests.testapp.models import BlogPage

    with pause_sync():
        site_tree["blog"].add_child(instance=BlogPage(title="Draft", slug="draft", live=False))
    output = run("enterspeed_seed")
    live = [site_tree["home"], site_tree["blog"], *site_tree["posts"]]
    # Wagtail's own welcome page is live too.
    assert "pages: 6 jobs queued" in output
    assert {f"page-{p.pk}" for p in live} <= set(
        EnterspeedJob.objects.values_list("origin_id", flat=True)
    )
    run("enterspeed_seed")
    assert EnterspeedJob.objects.count() == 6


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_seed_a_subtree(site_tree):
    output = run("enterspeed_seed", "--root", str(site_tree["blog"].pk))
    assert "pages: 4 jobs queued" in output


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_seed_by_locale(site_tree, danish):
    # A locale without pages seeds nothing; one the site does not have is a mistake.
    assert "pages: 0 jobs queued" in run("enterspeed_seed", "--locale", "da")
    assert "pages: 6 jobs queued" in run("enterspeed_seed", "--locale", "en", "--kind", "pages")
    with pytest.raises(CommandError, match="No locale 'dk'; the site's locales are da, en"):
        run("enterspeed_seed", "--locale", "dk")
    assert "pages: 1 job queued" in run(
        "enterspeed_seed", "--root", str(site_tree["home"].pk), "--no-descendants"
    )


def test_seed_no_descendants_needs_a_root(db):
    with pytest.raises(
        CommandError, match="--no-descendants: Leaving out descendants needs a root"
    ):
        run("enterspeed_seed", "--no-descendants")


def test_seed_rejects_an_unknown_root(db):
    with pytest.raises(CommandError, match="No page with id 999999"):
        run("enterspeed_seed", "--root", "999999")


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_process_sends_everything_to_the_standin(site_tree, standin):
    with override_settings(ENTERSPEED_SYNC={**NO_KICK, "BASE_URL": standin.url}):
        run("enterspeed_seed", "--root", str(site_tree["home"].pk))
        output = run("enterspeed_process")
    assert "Processed 5 jobs: 5 succeeded (0 unchanged, not sent again), 0 failed" in output
    assert set(standin.entities) == {
        f"page-{p.pk}" for p in [site_tree["home"], site_tree["blog"], *site_tree["posts"]]
    }
    assert not EnterspeedJob.objects.exists()


def test_process_reports_failures(site_tree, standin):
    standin.fail_next(422, count=100)
    with override_settings(ENTERSPEED_SYNC={**NO_KICK, "BASE_URL": standin.url}):
        run("enterspeed_seed", "--root", str(site_tree["blog"].pk))
        output = run("enterspeed_process")
    assert "4 failed" in output
    assert "4 failed jobs are waiting" in output
    assert EnterspeedJob.objects.failed().count() == 4
    assert "HTTP 422" in EnterspeedJob.objects.failed().first().error


@override_settings(ENTERSPEED_SYNC=NO_KICK)
def test_retry_command(db):
    for i in range(3):
        EnterspeedJob.objects.create(
            entity_type="page",
            entity_id=str(i),
            job_type="delete",
            origin_id=f"page-{i}",
            state=JobState.FAILED,
            error="x",
        )
    with pytest.raises(CommandError):
        run("enterspeed_retry")
    first = EnterspeedJob.objects.order_by("pk").first()
    with pytest.raises(CommandError, match="^No job with id 12345. Only failed jobs"):
        run("enterspeed_retry", "12345", str(first.pk))
    assert EnterspeedJob.objects.failed().count() == 3  # nothing was retried
    assert "Queued 1 failed job again." in run("enterspeed_retry", str(first.pk))
    assert "Queued 2 failed jobs again." in run("enterspeed_retry", "--all")
    assert EnterspeedJob.objects.pending().count() == 3
    with pytest.raises(CommandError, match=f"^Job {first.pk} is pending. Only failed jobs"):
        run("enterspeed_retry", str(first.pk))


def test_verify_help_names_every_kind_of_drift(capsys):
    from enterspeed_sync.diagnostics.verify import MISSING, ORPHAN, STALE

    with pytest.raises(SystemExit):
        call_command("enterspeed_verify", "--help")
    help_text = " ".join(capsys.readouterr().out.split())
    for kind in (MISSING, STALE, ORPHAN):
        assert f"{kind} (" in help_text


def test_schedules_exist_after_migrate_and_are_idempotent(db):
    from django_q.models import Schedule

    assert set(Schedule.objects.values_list("name", flat=True)) >= set(SCHEDULES)
    ensure_schedules()
    ensure_schedules()
    for name, (func, minutes) in SCHEDULES.items():
        schedule = Schedule.objects.get(name=name)
        assert (schedule.func, schedule.minutes, schedule.repeats) == (func, minutes, -1)


def test_refused_key_status_says_it_once_and_as_troubleshooting_does(db):
    from pathlib import Path

    from enterspeed_sync.delivery import gate as sending
    from enterspeed_sync.delivery.client import EnterspeedHTTPError

    refused = str(EnterspeedHTTPError(status=401, message="Unauthorized"))
    sending.record_auth_failure(sending.current_source(), refused)
    status = run("enterspeed_process", "--status")
    assert status.count("refused the API key") == 1, status
    assert refused in status
    troubleshooting = (Path(__file__).parent.parent / "docs" / "troubleshooting.md").read_text()
    heading = refused.split(":")[0]  # "Enterspeed refused the API key (HTTP 401)"
    section = " ".join(troubleshooting.split(f"## `{heading}`", 1)[1].split("\n## ")[0].split())
    for advice in ("sending resumes by itself", "enterspeed_process --resume"):
        assert advice in section and advice in " ".join(status.split()), advice


def test_retry_command_writes_the_audit_log(db):
    job = EnterspeedJob.objects.create(
        entity_type="page", entity_id="1", job_type="publish", origin_id="page-1", state="failed"
    )
    with override_settings(ENTERSPEED_SYNC=NO_KICK):
        call_command("enterspeed_retry", str(job.pk), stdout=StringIO())
    entry = ModelLogEntry.objects.get(action="enterspeed_sync.retry")
    assert entry.object_id == str(job.pk) and entry.data["via"] == "command"


def test_process_says_what_is_wrong_when_the_job_table_is_missing(monkeypatch):
    # What `--skip-checks` on an unmigrated database meets: a message, not a traceback.
    def missing_table(*args, **kwargs):
        raise OperationalError("no such table: enterspeed_sync_enterspeedjob")

    monkeypatch.setattr(enterspeed_process, "get_sync_status", missing_table)
    with pytest.raises(CommandError, match="Has `manage.py migrate` run on this database"):
        call_command("enterspeed_process", "--status", "--skip-checks", stdout=StringIO())
