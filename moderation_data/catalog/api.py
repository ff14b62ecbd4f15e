"""The catalog endpoints: the datasets a client may use, each with its codebook and releases."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from moderation_data.catalog.codebook import CODEBOOK_VERSION, codebook_for
from moderation_data.catalog.models import Dataset
from moderation_data.catalog.selectors import datasets_visible_to, get_visible_dataset
from moderation_data.catalog.serializers import DatasetDetailSerializer, DatasetListSerializer
from moderation_data.releases.selectors import LATEST, get_release, published_releases
from platform_api.dataapi import AuditedAPIView
from platform_api.openapi import error_responses
from researchers.authentication import grant_of
from researchers.permissions import HasActiveGrant, HasDatasetScope

SLUG = OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="dataset slug")


def dataset_summary(dataset: Dataset) -> dict:
    releases = list(published_releases(dataset))
    return {
        "slug": dataset.slug,
        "title": dataset.title,
        "description": dataset.description,
        "level": dataset.level,
        "sensitivity": dataset.sensitivity,
        "latest_release": releases[0].version if releases else None,
        "releases": releases,
    }


class DatasetListView(AuditedAPIView):
    permission_classes = [HasActiveGrant]

    @extend_schema(
        operation_id="datasets_list",
        summary="Datasets this client may use",
        description=(
            "The datasets your grant covers, each with its published releases (newest first) and `latest_release`. "
            "Use a dataset's `slug` in the other paths."
        ),
        responses={200: DatasetListSerializer, **error_responses(401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        datasets = [dataset_summary(d) for d in datasets_visible_to(grant_of(request))]
        return Response(DatasetListSerializer({"data": datasets}).data)


class DatasetDetailView(AuditedAPIView):
    permission_classes = [HasDatasetScope]

    @extend_schema(
        operation_id="datasets_retrieve",
        summary="A dataset, its codebook and releases",
        description=(
            "A dataset and its codebook: every field's name, type, description, allowed values (with labels), "
            "whether it can be filtered and with which operations. The codebook is the newest published "
            "release's (each release keeps its own, at `.../releases/{version}`). The same codebook, for "
            "reading: /portal/docs/codebook/{slug}."
        ),
        parameters=[SLUG],
        responses={200: DatasetDetailSerializer, **error_responses(401, 403, 429)},
    )
    def get(self, request: Request, slug: str) -> Response:
        dataset = get_visible_dataset(grant_of(request), slug)
        latest = get_release(dataset, LATEST)
        body = dataset_summary(dataset)
        body["codebook_version"] = latest.codebook_version if latest else CODEBOOK_VERSION
        body["codebook"] = latest.codebook if latest else codebook_for(dataset.slug)
        return Response(DatasetDetailSerializer(body).data)


urlpatterns = [
    path("datasets", DatasetListView.as_view(), name="datasets"),
    path("datasets/<slug:slug>", DatasetDetailView.as_view(), name="dataset-detail"),
]
