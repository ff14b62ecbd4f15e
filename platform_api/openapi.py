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


# Statuses any API operation can answer whatever it documents itself: an unknown object or path
# (404), an outage or a cancelled query (503), a bug (500); with parameters or a body, a bad value
# (400); with a body, one too large (413). A postprocessing hook adds them, so the schema states
# every status a client (or a fuzzer) can see.
COMMON_RESPONSES = {
    "404": "not_found: no such object for this client, or no such endpoint",
    "500": "server_error: an internal error (the request id identifies it in the logs)",
    "503": "unavailable: the database or Redis is unreachable, or the query took too long (see Retry-After)",
}
INPUT_RESPONSES = {"400": "invalid_request: a parameter or the body is invalid"}
BODY_RESPONSES = {"413": "payload_too_large: the body exceeds the size limit"}


def document_common_responses(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: every operation documents the statuses above."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for item in result.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            extra = dict(COMMON_RESPONSES)
            if operation.get("parameters") or operation.get("requestBody"):
                extra.update(INPUT_RESPONSES)
            if operation.get("requestBody"):
                extra.update(BODY_RESPONSES)
            for status, description in extra.items():
                operation["responses"].setdefault(status, {"content": error, "description": description})
    return result
