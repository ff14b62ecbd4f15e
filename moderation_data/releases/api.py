"""Release endpoints: a release's metadata (for its readers) and the public enforcement summary (for anyone)."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from moderation_data.aggregates.selectors import latest_public_summary, public_summary_cells
from moderation_data.aggregates.serializers import PublicSummaryQuerySerializer, PublicSummaryResponseSerializer
from moderation_data.catalog.api import SLUG
from moderation_data.catalog.selectors import get_visible_dataset
from moderation_data.releases import selectors
from moderation_data.releases.serializers import ReleaseDetailSerializer
from platform_api.dataapi import AuditedAPIView
from platform_api.errors import InvalidRequest, NotFoundError
from platform_api.openapi import error_responses
from platform_api.throttling import PublicAnonThrottle
from researchers.authentication import grant_of
from researchers.permissions import HasDatasetScope

VERSION = OpenApiParameter(
    "version", OpenApiTypes.STR, OpenApiParameter.PATH, description="release version, or `latest`"
)
RELEASE_PATH = "datasets/<slug:slug>/releases/<str:version>"


class ReleaseDetailView(AuditedAPIView):
    permission_classes = [HasDatasetScope]

    @extend_schema(
        operation_id="releases_retrieve",
        summary="Release metadata",
        parameters=[SLUG, VERSION],
        responses={200: ReleaseDetailSerializer, **error_responses(401, 403, 404, 429)},
    )
    def get(self, request: Request, slug: str, version: str) -> Response:
        dataset = get_visible_dataset(grant_of(request), slug)
        release = selectors.get_published_release(dataset, version)
        self.audit["release"] = release.version
        return Response(ReleaseDetailSerializer(release).data)


class EnforcementSummaryView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [PublicAnonThrottle]

    @extend_schema(
        operation_id="public_enforcement_summary",
        summary="Public enforcement summary (differentially private)",
        description=(
            "Decisions per month by policy, detection source, country or region, appeal outcome and action, from "
            "the newest published release, like a platform's transparency report. Every cell is a noisy count from "
            "the same differentially private mechanism as the aggregates, with the release's public ε, noise scale "
            "and 95% interval stated; the values are computed once, so every caller gets the same ones. "
            "No authentication; rate limited per client address. See docs/aggregates.md."
        ),
        parameters=[PublicSummaryQuerySerializer],
        responses={
            200: PublicSummaryResponseSerializer,
            **error_responses(
                400,
                404,
                429,
                s400="invalid_request: a filter is malformed",
                s404="not_found: no release has been published yet",
                s429="rate_limited (see Retry-After)",
            ),
        },
        auth=[],
        tags=["public"],
    )
    def get(self, request: Request) -> Response:
        query = PublicSummaryQuerySerializer(data=request.query_params)
        if not query.is_valid():
            raise InvalidRequest("The filters are invalid; see detail.", detail=query.errors)
        params = query.validated_data
        summary = latest_public_summary()
        if summary is None:
            raise NotFoundError("No enforcement summary has been published yet.")
        release = summary.release
        cells = public_summary_cells(
            summary,
            month_from=params.get("month_from"),
            month_to=params.get("month_to"),
            dimension=params.get("dimension"),
            value=params.get("value"),
        )
        page, size = params["page"], params["page_size"]
        count = cells.count()
        rows = [
            {
                "month": cell.month,
                "dimension": cell.dimension,
                "value": cell.value,
                "decisions": cell.decisions,
                "noise_scale": summary.noise_scale,
                "ci95": [cell.ci95_low, cell.ci95_high],
            }
            for cell in cells[(page - 1) * size : page * size]
        ]
        body = {
            "release": release.version,
            "period_start": release.period_start,
            "period_end": release.period_end,
            "epsilon": summary.epsilon,
            "mechanism": {
                "name": "discrete Laplace",
                "library": f"OpenDP {summary.opendp_version}",
                "privacy_unit": "account",
                "epsilon": summary.epsilon,
                "contribution_bound": summary.contribution_bound,
                "noise_scale": summary.noise_scale,
                "ci95_half_width": summary.ci95_half_width,
                "dimensions": summary.dimensions,
            },
            "page": page,
            "page_size": size,
            "count": count,
            "has_more": page * size < count,
            "data": rows,
        }
        return Response(PublicSummaryResponseSerializer(body).data)


urlpatterns = [
    path(RELEASE_PATH, ReleaseDetailView.as_view(), name="release-detail"),
    path("public/enforcement-summary", EnforcementSummaryView.as_view(), name="public-enforcement-summary"),
]
