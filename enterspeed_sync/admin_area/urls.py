"""URLs of the Enterspeed admin area, under /admin/enterspeed/ (namespace enterspeed_sync)."""

from django.urls import path, re_path

from enterspeed_sync.admin_area.views import dashboard, job_actions, jobs, pages, self_test

app_name = "enterspeed_sync"

urlpatterns = [
    path("", dashboard.DashboardView.as_view(), name="dashboard"),
    path("status/", dashboard.StatusView.as_view(), name="status"),
    path("test-connection/", dashboard.TestConnectionView.as_view(), name="test_connection"),
    path("seed/", dashboard.SeedView.as_view(), name="seed"),
    path("self-test/", self_test.SelfTestView.as_view(), name="self_test"),
    path("clear-pending/", dashboard.ClearPendingView.as_view(), name="clear_pending"),
    path("jobs/", jobs.JobIndexView.as_view(), name="jobs"),
    path(
        "jobs/results/",
        jobs.JobIndexView.as_view(results_only=True),
        name="jobs_results",
    ),
    path("jobs/bulk/", job_actions.BulkJobActionView.as_view(), name="jobs_bulk"),
    re_path(
        r"^jobs/all/(?P<action>retry|delete)/$",
        job_actions.AllFailedJobsView.as_view(),
        name="jobs_all",
    ),
    path(
        "jobs/waiting/send-now/",
        job_actions.SendAllWaitingNowView.as_view(),
        name="jobs_send_now",
    ),
    path("jobs/<int:pk>/", jobs.JobInspectView.as_view(), name="job"),
    re_path(
        r"^jobs/(?P<pk>[0-9]+)/(?P<action>retry|send_now|delete)/$",
        job_actions.JobActionView.as_view(),
        name="job_action",
    ),
    path("pages/<int:page_id>/sync/", pages.SyncPageView.as_view(), name="sync_page"),
]
