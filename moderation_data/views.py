"""Public endpoints of the moderation-data app (no token: a transparency report)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from moderation_data import selectors
from moderation_data.query_serializers import ErrorSerializer
from moderation_data.serializers import (
    EnforcementSummaryCellSerializer,
    EnforcementSummaryQuerySerializer,
    EnforcementSummaryResponseSerializer,
)
from platform_api.errors import InvalidRequest, NotFoundError
from platform_api.throttling import PublicAnonThrottle


class EnforcementSummaryView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [PublicAnonThrottle]

    @extend_schema(
        operation_id="public_enforcement_summary",
        summary="Public enforcement summary",
        description=(
            "Decisions by month, policy, uploader country, detection source and action, from the newest "
            "published release. Cells covering fewer than k decisions or k distinct accounts are suppressed. "
            "No authentication; rate limited per client address."
        ),
        parameters=[EnforcementSummaryQuerySerializer],
        responses={
            200: EnforcementSummaryResponseSerializer,
            400: OpenApiResponse(ErrorSerializer, description="invalid_request: a filter is malformed"),
            404: OpenApiResponse(ErrorSerializer, description="not_found: no release has been published yet"),
            429: OpenApiResponse(ErrorSerializer, description="rate_limited (see Retry-After)"),
        },
        auth=[],
        tags=["public"],
    )
    def get(self, request: Request) -> Response:
        query = EnforcementSummaryQuerySerializer(data=request.query_params)
        if not query.is_valid():
            raise InvalidRequest("The filters are invalid; see detail.", detail=query.errors)
        params = query.validated_data
        release = selectors.latest_summary_release()
        if release is None:
            raise NotFoundError("No enforcement summary has been published yet.")
        cells = selectors.enforcement_summary_cells(
            release,
            month_from=params.get("month_from"),
            month_to=params.get("month_to"),
            policy=params.get("policy"),
            country=params.get("country"),
        )
        page, size = params["page"], params["page_size"]
        count = cells.count()
        rows = cells[(page - 1) * size : page * size]
        return Response(
            {
                "release": release.version,
                "period_start": release.period_start,
                "period_end": release.period_end,
                "k": release.k_anonymity,
                "sha256": release.sha256,
                "page": page,
                "page_size": size,
                "count": count,
                "has_more": page * size < count,
                "data": EnforcementSummaryCellSerializer(rows, many=True).data,
            }
        )
