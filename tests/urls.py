from django.conf.urls.i18n import i18n_patterns
from django.urls import include, path
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls
from wagtail.documents import urls as wagtaildocs_urls

urlpatterns = [
    # The operations API (docs/api.md): before the admin, which would answer otherwise.
    path("admin/enterspeed/api/", include("enterspeed_sync.api.urls")),
    path("admin/", include(wagtailadmin_urls)),
    path("documents/", include(wagtaildocs_urls)),
]
# Danish pages live under /da/, as on most multilingual Wagtail sites.
urlpatterns += i18n_patterns(path("", include(wagtail_urls)), prefix_default_language=False)
