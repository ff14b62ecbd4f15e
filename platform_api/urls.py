from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from platform_api import views

# API paths have no trailing slash; the other spelling is served too (platform_api.slashes, docs/api.md).
urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI and ReDoc come from the platform itself (drf-spectacular-sidecar): no CDN, works offline.
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api/v1/", include("platform_api.api_urls")),
    # No `.*$`: `.` stops at a newline, and `/api/%0A…` would escape into the portal's HTML 404.
    re_path(r"^api/", views.api_not_found, name="_api-not-found-outer"),
    path("", include("researchers.urls")),
]

handler400 = "platform_api.errors.handler400"
handler403 = "platform_api.errors.handler403"
handler404 = "platform_api.errors.handler404"
handler500 = "platform_api.errors.handler500"
