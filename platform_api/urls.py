from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from platform_api import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("platform_api.api_urls")),
    re_path(r"^api/.*$", views.api_not_found, name="_api-not-found-outer"),
    path("", include("researchers.urls")),
]

handler400 = "platform_api.errors.handler400"
handler403 = "platform_api.errors.handler403"
handler404 = "platform_api.errors.handler404"
handler500 = "platform_api.errors.handler500"
