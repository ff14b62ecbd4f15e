"""Routes of the exports API (under /api/v1/)."""

from django.urls import path

from moderation_data import export_api

urlpatterns = [
    path("exports", export_api.ExportListView.as_view(), name="exports"),
    path("exports/<str:export_id>", export_api.ExportDetailView.as_view(), name="export-detail"),
    path("exports/<str:export_id>/file", export_api.ExportFileView.as_view(), name="export-file"),
]
