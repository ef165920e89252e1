"""
Routes of the operations API. Mount them in the project's URLconf *before* Wagtail's admin,
which would otherwise answer (and send a token client to the login page)::

    path("admin/enterspeed/api/", include("enterspeed_sync.api.urls")),
    path("admin/", include(wagtailadmin_urls)),
"""

from django.urls import include, path, re_path

from enterspeed_sync.api.endpoints import api
from enterspeed_sync.api.errors import json_route, not_found

app_name = "enterspeed_sync_api"


def routes():
    """ninja's routes, each wrapped to answer JSON only (ninja's own root view is not used)."""
    patterns = []
    for pattern in api.urls[0]:
        if pattern.name == "api-root":
            continue
        pattern.callback = json_route(pattern.callback)
        patterns.append(pattern)
    return patterns


urlpatterns = [
    path("v1/", include(routes())),
    re_path(r"^", not_found, name="not_found"),
]
