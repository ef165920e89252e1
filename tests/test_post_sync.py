"""
After Enterspeed accepted changes: post-sync hooks (a real HTTP server on loopback stands in
for a site's build hook) and the entity_synced signal.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import override_settings
from django.urls import reverse
from wagtail.models import Page

from enterspeed_sync.capture.outbox import pause_sync
from enterspeed_sync.capture.seeding import seed
from enterspeed_sync.models import EnterspeedJob, PostSyncHookStatus
from enterspeed_sync.processing.runner import process_pending_jobs
from enterspeed_sync.signals import entity_synced
from enterspeed_sync.testing import IngestStandIn


class HookServer:
    """A build-hook endpoint: records each call and answers with the next scripted status."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)  # then 200 for ever
        self.calls = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.calls.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": json.loads(body) if body else None,
                    }
                )
                status = server.statuses.pop(0) if server.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/build_hooks/secret-id"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def hook(url, **options):
    return {"url": url, "retry_delay": 0.05, "headers": {"X-Token": "t0ken"}, **options}


@pytest.fixture
def synced(site_tree):
    """The stand-in, and the site tree already synced (so a re-seed changes nothing)."""
    with pause_sync():
        # Wagtail's welcome page is outside the site: each seed would send its delete again.
        Page.objects.filter(depth=2).exclude(pk=site_tree["home"].pk).delete()
    with IngestStandIn(api_keys=["source-tests", "source-preview"]) as standin:
        base = {"API_KEY": "source-tests", "BASE_URL": standin.url, "TIMEOUT": 5}
        with override_settings(ENTERSPEED_SYNC=base):
            seed()
            process_pending_jobs(wait_seconds=0)
        standin.clear_requests()
        yield standin, base


def process():
    result = process_pending_jobs(wait_seconds=0)
    assert not EnterspeedJob.objects.exists()
    return result


def test_the_hook_is_called_once_after_a_run_that_changed_something(synced, site_tree):
    standin, base = synced
    with (
        HookServer() as server,
        override_settings(ENTERSPEED_SYNC={**base, "POST_SYNC_HOOKS": [hook(server.url)]}),
    ):
        for post in site_tree["posts"]:
            post.title = f"{post.title} (edited)"
            post.save_revision().publish()
        process()
        assert sum(len(r.accepted_ids) for r in standin.requests) == 3  # one bulk request
        assert len(server.calls) == 1
        call = server.calls[0]
        assert call["path"] == "/build_hooks/secret-id"
        assert call["headers"]["X-Token"] == "t0ken"
        assert call["body"] == {"event": "enterspeed_sync.synced", "destinations": ["publish"]}
        status = PostSyncHookStatus.objects.get()
        assert status.last_success_at is not None and status.consecutive_failures == 0
        assert status.url_hint == f"http://127.0.0.1:{server.httpd.server_address[1]}/…"


def test_no_hook_call_when_everything_was_unchanged(synced):
    standin, base = synced
    with (
        HookServer() as server,
        override_settings(ENTERSPEED_SYNC={**base, "POST_SYNC_HOOKS": [hook(server.url)]}),
    ):
        seed()
        result = process()
        assert result.succeeded > 0 and result.unchanged == result.succeeded
        assert standin.requests == []
        assert server.calls == []


def test_a_failing_hook_is_retried(synced, site_tree):
    standin, base = synced
    with (
        HookServer(statuses=[500, 502]) as server,
        override_settings(
            ENTERSPEED_SYNC={**base, "POST_SYNC_HOOKS": [hook(server.url, attempts=3)]}
        ),
    ):
        site_tree["posts"][0].specific.save_revision().publish()
        process()
        assert len(server.calls) == 3
        assert PostSyncHookStatus.objects.get().consecutive_failures == 0


def test_a_hook_that_keeps_failing_is_recorded_and_never_fails_the_jobs(
    synced, site_tree, admin_client
):
    standin, base = synced
    post = site_tree["posts"][0].specific
    with (
        HookServer(statuses=[503] * 10) as server,
        override_settings(
            ENTERSPEED_SYNC={
                **base,
                "POST_SYNC_HOOKS": [hook(server.url, name="Site build", attempts=2)],
            }
        ),
    ):
        post.title = "Changed"
        post.save_revision().publish()
        process()  # asserts no job is left: the page went through
        assert standin.entities[f"page-{post.pk}"]["properties"]["title"] == "Changed"
        assert len(server.calls) == 2
        status = PostSyncHookStatus.objects.get()
        assert (status.name, status.consecutive_failures, status.total_failures) == (
            "Site build",
            1,
            1,
        )
        assert status.last_status == 503
        assert "Failed after 2 attempts" in status.last_error and "HTTP 503" in status.last_error
        dashboard = admin_client.get(reverse("enterspeed_sync:dashboard")).content.decode()
        assert "The post-sync hook Site build failed 1 times in a row" in dashboard
        assert "secret-id" not in dashboard  # a build hook's path is its secret

        # The next successful call clears the failure run.
        server.statuses = []
        post.title = "Changed again"
        post.save_revision().publish()
        process()
        status.refresh_from_db()
        assert (status.consecutive_failures, status.total_failures) == (0, 1)


def test_an_unreachable_hook_is_recorded(synced, site_tree):
    standin, base = synced
    unreachable = hook("http://127.0.0.1:9/hook", attempts=2, timeout=2)
    with override_settings(ENTERSPEED_SYNC={**base, "POST_SYNC_HOOKS": [unreachable]}):
        site_tree["posts"][0].specific.save_revision().publish()
        process()
    status = PostSyncHookStatus.objects.get()
    assert status.consecutive_failures == 1
    assert "Could not reach the hook" in status.last_error


def test_hooks_follow_their_destinations(synced, site_tree):
    standin, base = synced
    two_sources = {**base, "PREVIEW_API_KEY": "source-preview", "PREVIEW_SETTLE_SECONDS": 0}
    with (
        HookServer() as build,
        HookServer() as preview_hook,
        override_settings(
            ENTERSPEED_SYNC={
                **two_sources,
                "POST_SYNC_HOOKS": [
                    hook(build.url),
                    hook(preview_hook.url, destinations=["preview"]),
                ],
            }
        ),
    ):
        post = site_tree["posts"][0].specific
        post.title = "Draft"
        post.save_revision()  # a draft: only the preview source changes
        process()
        assert build.calls == []
        assert [c["body"]["destinations"] for c in preview_hook.calls] == [["preview"]]


def test_entity_synced_is_sent_for_each_accepted_save_and_delete(synced, site_tree):
    standin, base = synced
    received = []

    def on_synced(sender, origin_id, action, destination, job, **kwargs):
        received.append((origin_id, action, destination, job.origin_id))

    def broken(sender, **kwargs):
        raise RuntimeError("a project's receiver has a bug")

    entity_synced.connect(on_synced)
    entity_synced.connect(broken)
    try:
        with override_settings(ENTERSPEED_SYNC=base):
            post = site_tree["posts"][0].specific
            origin_id = f"page-{post.pk}"
            post.title = "Signalled"
            post.save_revision().publish()
            process()
            assert received == [(origin_id, "save", "publish", origin_id)]
            seed()
            process()  # everything unchanged: nothing was sent, nothing is announced
            assert len(received) == 1
            post.refresh_from_db()
            post.unpublish()
            process()
            assert received[-1] == (origin_id, "delete", "publish", origin_id)
            assert origin_id not in standin.entities
    finally:
        entity_synced.disconnect(on_synced)
        entity_synced.disconnect(broken)
