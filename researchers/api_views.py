"""The research client's own view of its grant."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from platform_api.ratelimit import usage_today
from researchers.authentication import grant_of
from researchers.selectors import grant_for_api, team_of
from researchers.serializers import MeSerializer


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
        "usage_today": usage_today(grant.pk),
    }
    return Response(MeSerializer(data).data)
