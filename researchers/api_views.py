"""The research client's own view of its grant: ``/me`` and ``/usage``."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from platform_api.dataapi import AuditedAPIView
from platform_api.openapi import error_responses
from researchers.authentication import grant_of
from researchers.permissions import HasActiveGrant
from researchers.quotas import usage_today
from researchers.selectors import grant_for_api, team_of, usage_of
from researchers.serializers import MeSerializer, UsageSerializer


@extend_schema(
    summary="The calling grant",
    description="Project, researchers, datasets, modality, validity, quotas and today's usage of the token's grant.",
    responses=MeSerializer,
    tags=["access"],
)
@api_view(["GET"])
def me(request: Request) -> Response:
    grant = grant_for_api(grant_of(request).pk)
    application = grant.application
    data = {
        "client_id": request.auth.application.client_id,
        "project": {"id": grant.project_id, "title": application.title, "organisation": application.organisation.name},
        "researchers": team_of(application),
        "datasets": sorted(d.slug for d in grant.datasets.all()),
        "modality": grant.modality,
        "status": grant.status,
        "valid_from": grant.valid_from,
        "valid_until": grant.valid_until,
        "scopes": sorted(request.auth.scope.split()),
        "quotas": grant.quotas,
        "usage_today": usage_today(grant),
        "dsc_reference": grant.dsc_reference or None,
        "data_limits": grant.data_limits,
    }
    return Response(MeSerializer(data).data)


class UsageView(AuditedAPIView):
    permission_classes = [HasActiveGrant]

    @extend_schema(
        operation_id="usage_retrieve",
        summary="This client's usage per day, remaining quotas",
        responses={200: UsageSerializer, **error_responses(401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        return Response(UsageSerializer(usage_of(grant_of(request))).data)


urlpatterns = [
    path("me", me, name="me"),
    path("usage", UsageView.as_view(), name="usage"),
]
