"""OpenAPI pieces every API view shares: the error envelope and the documented error responses.

One table says which codes each HTTP status carries (the codes themselves are defined once, in
``platform_api.errors``); views list the statuses they can answer with :func:`error_responses`.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    detail = serializers.DictField()
    request_id = serializers.CharField(allow_null=True)


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


ERROR_DESCRIPTIONS = {
    400: "invalid_request, invalid_query or invalid_cursor",
    401: "authentication_failed",
    403: "scope_missing, permission_denied or grant_inactive",
    404: "not_found",
    409: "export_not_ready (see Retry-After)",
    410: "gone: expired, cancelled or failed",
    416: "invalid_request: the Range cannot be satisfied",
    429: "rate_limited or quota_exceeded (see Retry-After)",
    503: "unavailable (e.g. the query took too long)",
}


def error_responses(*statuses: int, **descriptions: str) -> dict[int, OpenApiResponse]:
    """``{status: OpenApiResponse(ErrorSerializer)}`` for ``extend_schema(responses=...)``.

    A keyword ``s<status>="..."`` overrides the standard description of that status.
    """
    return {
        status: OpenApiResponse(ErrorSerializer, description=descriptions.get(f"s{status}", ERROR_DESCRIPTIONS[status]))
        for status in statuses
    }
