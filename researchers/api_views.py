"""The research client's own view of its grant: ``/me`` and ``/usage``."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from moderation_data.aggregates.selectors import budgets_of
from platform_api.dataapi import AuditedAPIView
from platform_api.openapi import error_responses
from researchers.authentication import grant_of
from researchers.permissions import HasActiveGrant
from researchers.quotas import export_allowance, usage_today
from researchers.selectors import grant_for_api, team_of, usage_of
from researchers.serializers import MeSerializer, UsageSerializer


class MeView(AuditedAPIView):
    permission_classes = [HasActiveGrant]

    @extend_schema(
        operation_id="me_retrieve",
        summary="Your grant: project, datasets, quotas and today's usage",
        description=(
            "Who you are to the API: the project and researchers of the token's grant, the datasets and modality "
            "it covers, how long it is valid, its quotas (requests per minute and per day, records per day, "
            "concurrent exports, export rows per month), today's usage, this month's export allowance and the "
            "privacy budget (ε) left on each release for differentially private aggregates. "
            "Start here when a request is refused."
        ),
        responses={200: MeSerializer, **error_responses(401, 403, 429)},
        tags=["access"],
    )
    def get(self, request: Request) -> Response:
        grant = grant_for_api(grant_of(request).pk)
        application = grant.application
        data = {
            "client_id": request.auth.application.client_id,
            "project": {
                "id": grant.project_id,
                "title": application.title,
                "organisation": application.organisation.name,
            },
            "researchers": team_of(application),
            "datasets": sorted(d.slug for d in grant.datasets.all()),
            "modality": grant.modality,
            "status": grant.status,
            "valid_from": grant.valid_from,
            "valid_until": grant.valid_until,
            "scopes": sorted(request.auth.scope.split()),
            "quotas": grant.quotas,
            "usage_today": usage_today(grant),
            "export_allowance": export_allowance(grant),
            "privacy_budgets": [budget.as_dict() for budget in budgets_of(grant)],
            "dsc_reference": grant.dsc_reference or None,
            "data_limits": grant.data_limits,
            "longitudinal_linkage": grant.longitudinal_linkage,
        }
        return Response(MeSerializer(data).data)


class UsageView(AuditedAPIView):
    permission_classes = [HasActiveGrant]

    @extend_schema(
        operation_id="usage_retrieve",
        summary="Your usage per day and what remains of each quota",
        description=(
            "Today's requests and records against your daily quotas (they reset at 00:00 UTC), this month's "
            "export allowance, the privacy budget (ε) left per release, and requests, records and refusals per day "
            "for the last 30 days (from the audit "
            "log). Counting continues across server restarts."
        ),
        responses={200: UsageSerializer, **error_responses(401, 403, 429)},
        tags=["access"],
    )
    def get(self, request: Request) -> Response:
        return Response(UsageSerializer(usage_of(grant_of(request))).data)


urlpatterns = [
    path("me", MeView.as_view(), name="me"),
    path("usage", UsageView.as_view(), name="usage"),
]
