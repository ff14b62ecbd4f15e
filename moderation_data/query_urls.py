"""Routes of the researcher query API (under /api/v1/)."""

from django.urls import path

from moderation_data import query_api

RELEASE = "datasets/<slug:slug>/releases/<str:version>"

urlpatterns = [
    path("datasets", query_api.DatasetListView.as_view(), name="datasets"),
    path("datasets/<slug:slug>", query_api.DatasetDetailView.as_view(), name="dataset-detail"),
    path(RELEASE, query_api.ReleaseDetailView.as_view(), name="release-detail"),
    path(f"{RELEASE}/records", query_api.RecordsView.as_view(), name="records"),
    path(f"{RELEASE}/count", query_api.CountView.as_view(), name="count"),
    path("usage", query_api.UsageView.as_view(), name="usage"),
]
