"""Everything under /api/v1/: each app contributes its own API routes."""

from django.urls import include, path, re_path

from platform_api import views

urlpatterns = [
    path("", views.api_root, name="api-root"),
    path("", include("researchers.api_urls")),
    path("", include("moderation_data.urls")),
    # Anything else under /api/v1/ is an enveloped 404, whatever DEBUG says.
    # (A prefix match: `^.*$` would let a newline, `%0A`, in the path escape to an HTML 404.)
    re_path(r"^", views.api_not_found, name="_api-not-found"),
]
