"""The operations API mounted behind Wagtail's admin: the mistake check W022 reports."""

from django.urls import include, path
from wagtail.admin import urls as wagtailadmin_urls

urlpatterns = [
    path("admin/", include(wagtailadmin_urls)),
    path("admin/enterspeed/api/", include("enterspeed_sync.api.urls")),
]
