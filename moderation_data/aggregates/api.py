"""The aggregate endpoints (docs/aggregates.md): differentially private group counts, and their estimate.

Both are audited (one access event per request, refused ones included), rate limited per grant,
and open to every tier: the aggregate tier may use nothing else that reads rows.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from moderation_data.aggregates import serializers as s
from moderation_data.aggregates import services
from moderation_data.aggregates.spec import AggregateSpec, build_spec
from moderation_data.catalog.api import SLUG
from moderation_data.catalog.selectors import get_visible_dataset
from moderation_data.releases.api import RELEASE_PATH, VERSION
from moderation_data.releases.models import Release
from moderation_data.releases.selectors import get_release_for_rows
from platform_api.audit import scrub
from platform_api.dataapi import AuditedAPIView
from platform_api.openapi import error_responses
from researchers.authentication import grant_of
from researchers.permissions import HasAggregateAccess, HasDatasetScope

EXAMPLE = OpenApiExample(
    "Decisions by policy and detection source in Germany",
    value={
        "group_by": ["policy", "detection_source"],
        "query": {"and": [{"operation": "EQ", "field_name": "country", "field_values": ["DE"]}]},
        "measure": "decisions",
        "epsilon": 0.25,
    },
    request_only=True,
)
ESTIMATE_EXAMPLES = [
    OpenApiExample(
        "The ε that buys ±50 per month and policy",
        value={"group_by": ["decided_on", "policy"], "ci95_width": 100},
        request_only=True,
    ),
    OpenApiExample(
        "The error of appealed decisions' accounts per policy at ε = 0.5",
        value={
            "group_by": ["policy"],
            "query": {"and": [{"operation": "EQ", "field_name": "appealed", "field_values": [True]}]},
            "measure": "accounts",
            "epsilon": 0.5,
        },
        request_only=True,
    ),
]


class _AggregateBase(AuditedAPIView):
    permission_classes = [HasDatasetScope, HasAggregateAccess]

    def _spec(self, request: Request, slug: str, version: str, body_class) -> tuple[Release, AggregateSpec, dict]:
        # The request as sent (plain JSON) goes to the audit log, refused or not.
        self.audit["query"] = scrub(request.data) if isinstance(request.data, dict) else {}
        body = body_class(data=request.data)
        body.is_valid(raise_exception=True)
        release = get_release_for_rows(get_visible_dataset(grant_of(request), slug), version)
        self.audit["release"] = release.version
        return release, build_spec(release, body.validated_data, grant=grant_of(request)), body.validated_data


class AggregateView(_AggregateBase):
    @extend_schema(
        operation_id="aggregate",
        summary="Differentially private counts per group",
        description=(
            "Counts (or sums, means) per group of up to three groupable codebook fields, over the rows a query "
            "matches, with noise from OpenDP's discrete Laplace mechanism: every group of the fields' public "
            "domains is answered, zero or not, with its noise scale and 95% interval. Each account counts at "
            "most `contribution_bound` decisions (accounts: groups). The answer costs `epsilon` from your "
            "project's budget on this release (and the release's global cap), charged before it is returned; "
            "repeating a request already answered returns the same answer and costs nothing. See "
            "docs/aggregates.md."
        ),
        parameters=[SLUG, VERSION],
        request=s.AggregateBodySerializer,
        examples=[EXAMPLE],
        responses={
            200: s.AggregateResponseSerializer,
            **error_responses(
                400,
                401,
                403,
                404,
                429,
                503,
                s403="scope_missing, permission_denied, grant_inactive or privacy_budget_exhausted (spent and "
                "total in detail)",
            ),
        },
    )
    def post(self, request: Request, slug: str, version: str) -> Response:
        release, spec, _ = self._spec(request, slug, version, s.AggregateBodySerializer)
        result = services.answer_aggregate(grant=grant_of(request), release=release, spec=spec)
        answer = result.answer
        rows = services.answer_rows(answer.answer, spec.group_by)
        self.audit["rows_returned"] = len(rows)
        body = {
            "dataset": release.dataset.slug,
            "release": release.version,
            "group_by": list(spec.group_by),
            "measure": spec.measure,
            "value": spec.value.name if spec.value else None,
            "query": answer.request["query"],
            "epsilon": answer.epsilon,
            "epsilon_spent": result.epsilon_spent,
            "cached": result.cached,
            "budget_remaining": result.budget.remaining,
            "budget": result.budget.as_dict(),
            "answered_at": answer.created_at,
            "mechanism": answer.answer["mechanism"],
            "data": rows,
        }
        return Response(s.AggregateResponseSerializer(body).data)


class AggregateEstimateView(_AggregateBase):
    @extend_schema(
        operation_id="aggregate_estimate",
        summary="The cost and noise of an aggregate, spending nothing",
        description=(
            "Validates an aggregate request and answers what it would cost (ε; nothing for a repeat) and how "
            "noisy each group would be (noise scale, standard deviation, expected absolute error, 95% interval "
            "width). Give `epsilon`, or `ci95_width` to learn the ε that buys intervals that narrow. Reads no "
            "data and spends no budget."
        ),
        parameters=[SLUG, VERSION],
        request=s.EstimateBodySerializer,
        examples=ESTIMATE_EXAMPLES,
        responses={200: s.EstimateResponseSerializer, **error_responses(400, 401, 403, 404, 429)},
    )
    def post(self, request: Request, slug: str, version: str) -> Response:
        release, spec, data = self._spec(request, slug, version, s.EstimateBodySerializer)
        estimate = services.estimate_aggregate(
            grant=grant_of(request), release=release, spec=spec, ci95_width=data.get("ci95_width")
        )
        return Response(s.EstimateResponseSerializer(estimate).data)


urlpatterns = [
    path(f"{RELEASE_PATH}/aggregate", AggregateView.as_view(), name="aggregate"),
    path(f"{RELEASE_PATH}/aggregate/estimate", AggregateEstimateView.as_view(), name="aggregate-estimate"),
]
