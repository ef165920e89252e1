"""
Routes of the operations API. Mount them in the project's URLconf *before* Wagtail's admin,
which would otherwise answer (and send a token client to the login page)::

    path("admin/enterspeed/api/", include("enterspeed_sync.api.urls")),
    path("admin/", include(wagtailadmin_urls)),
"""

from django.urls import path, re_path

from enterspeed_sync.api import base, views

app_name = "enterspeed_sync_api"

urlpatterns = [
    path("v1/openapi.json", views.OpenAPIView.as_view(), name="openapi"),
    path("v1/health/", views.HealthView.as_view(), name="health"),
    path("v1/jobs/", views.JobListView.as_view(), name="jobs"),
    path("v1/jobs/failed/", views.FailedJobsView.as_view(), name="failed_jobs"),
    path("v1/jobs/failed/retry/", views.FailedJobsRetryView.as_view(), name="failed_jobs_retry"),
    path("v1/jobs/<int:pk>/", views.JobDetailView.as_view(), name="job"),
    path("v1/jobs/<int:pk>/retry/", views.JobRetryView.as_view(), name="job_retry"),
    path("v1/seeds/", views.SeedListView.as_view(), name="seeds"),
    path("v1/seeds/<slug:seed_id>/", views.SeedDetailView.as_view(), name="seed"),
    re_path(r"^", base.not_found, name="not_found"),
]
