"""A throwaway URLconf exercising the permission building blocks the data endpoints use."""

from django.urls import include, path
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from researchers.authentication import grant_of
from researchers.permissions import HasDatasetScope, HasExportsScope, HasRecordsAccess


@api_view(["GET"])
@permission_classes([HasDatasetScope])
def dataset_view(request, slug):
    return Response({"slug": slug, "project": grant_of(request).project_id})


@api_view(["GET"])
@permission_classes([HasDatasetScope, HasRecordsAccess])
def records_view(request, slug):
    return Response({"rows": []})


@api_view(["GET"])
@permission_classes([HasExportsScope])
def exports_view(request):
    return Response({"exports": []})


urlpatterns = [
    path("t/datasets/<slug:slug>", dataset_view),
    path("t/datasets/<slug:slug>/records", records_view),
    path("t/exports", exports_view),
    path("", include("platform_api.urls")),
]
