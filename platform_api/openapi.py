"""OpenAPI pieces every API view shares: the error envelope and the documented error responses.

One table says which codes each HTTP status carries (the codes themselves are defined once, in
``platform_api.errors``); views list the statuses they can answer with :func:`error_responses`.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerExtension
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


class StrictSerializerExtension(OpenApiSerializerExtension):
    """Bodies of a :class:`~platform_api.serializers.StrictSerializer` refuse unknown keys: say so.

    ``additionalProperties: false``; and a serializer's ``openapi_exactly_one_of`` (field names of
    which a body must give exactly one) becomes a ``oneOf`` of ``required`` lists.
    """

    target_class = "platform_api.serializers.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["additionalProperties"] = False
        exactly_one = getattr(self.target, "openapi_exactly_one_of", ())
        if exactly_one:
            schema["oneOf"] = [{"required": [name]} for name in exactly_one]
        return schema


# The edge (platform_api/edge.py) refuses a NUL byte or a lone UTF-16 surrogate in any path, query
# parameter, header or JSON string or key: no request string accepts them. Free-text request strings
# (no enum, pattern or format of their own) state it as a pattern, so a client (or a fuzzer's valid
# data) never sends one and expects it to be accepted.
TEXT_PATTERN = "^[^\\u0000\\ud800-\\udfff]*$"


def _mark_text(schema, components: dict, seen: set) -> None:
    """Give every free-text string of this request schema (refs followed once) :data:`TEXT_PATTERN`."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[-1]
            if name not in seen and name in components:
                seen.add(name)
                stack.append(components[name])
            continue
        if node.get("type") == "string" and not {"enum", "pattern", "format"} & set(node):
            node["pattern"] = TEXT_PATTERN
        for key in ("properties", "patternProperties"):
            stack.extend((node.get(key) or {}).values())
        for key in ("items", "additionalProperties", "not"):
            stack.append(node.get(key))
        for key in ("allOf", "oneOf", "anyOf"):
            stack.extend(node.get(key) or [])


def document_text_limits(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: request strings carry :data:`TEXT_PATTERN`."""
    components = result.get("components", {}).get("schemas", {})
    seen: set = set()
    for item in result.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                _mark_text(parameter.get("schema"), components, seen)
            for media in (operation.get("requestBody") or {}).get("content", {}).values():
                _mark_text(media.get("schema"), components, seen)
    return result


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


# --------------------------------------------------------------------------- links
# OpenAPI links: which value of one operation's response fills which parameter of the next. They
# document how a client walks the API (list the datasets, open one, its release, page through its
# records, export it and fetch the export) and they drive Schemathesis' stateful tests
# (tests/security/test_schema_fuzzing_stateful.py). One table, attached by one postprocessing hook;
# tests/platform_api/test_openapi_links.py proves every link names a real operation, real parameters
# and a real field of the response it reads, so the links cannot drift from the views.
#
# (source operationId, status) -> {link name: (target operationId, {parameter: expression}, body)}
# A body is a dict of request-body fields to runtime expressions, merged into the target's body.
_RELEASE = {"slug": "$response.body#/dataset", "version": "$response.body#/version"}
_EXPORT = {"export_id": "$response.body#/id"}
LINKS: dict[tuple[str, str], dict[str, tuple[str, dict[str, str], dict[str, str] | None]]] = {
    ("datasets_list", "200"): {
        "OpenDataset": ("datasets_retrieve", {"slug": "$response.body#/data/0/slug"}, None),
        "OpenLatestRelease": (
            "releases_retrieve",
            {"slug": "$response.body#/data/0/slug", "version": "$response.body#/data/0/latest_release"},
            None,
        ),
    },
    ("me_retrieve", "200"): {
        "OpenGrantedDataset": ("datasets_retrieve", {"slug": "$response.body#/datasets/0"}, None),
    },
    ("datasets_retrieve", "200"): {
        "OpenLatestRelease": (
            "releases_retrieve",
            {"slug": "$response.body#/slug", "version": "$response.body#/latest_release"},
            None,
        ),
        "OpenFirstListedRelease": (
            "releases_retrieve",
            {"slug": "$response.body#/slug", "version": "$response.body#/releases/0/version"},
            None,
        ),
    },
    ("releases_retrieve", "200"): {
        "ReadRecords": ("records_list", _RELEASE, None),
        "QueryRecords": ("records_query", _RELEASE, None),
        "CountRecords": ("records_count", _RELEASE, None),
        "Aggregate": ("aggregate", _RELEASE, None),
        "EstimateAggregate": ("aggregate_estimate", _RELEASE, None),
        "Cite": ("releases_citation", _RELEASE, None),
        "ExportRelease": (
            "exports_create",
            {},
            {"dataset": "$response.body#/dataset", "release": "$response.body#/version"},
        ),
    },
    ("records_list", "200"): {
        "NextPage": (
            "records_list",
            {
                "slug": "$request.path.slug",
                "version": "$response.body#/release",
                "cursor": "$response.body#/next_cursor",
            },
            None,
        ),
    },
    ("records_query", "200"): {
        "NextPage": (
            "records_query",
            {"slug": "$request.path.slug", "version": "$response.body#/release"},
            {"cursor": "$response.body#/next_cursor"},
        ),
    },
    ("exports_create", "202"): {
        "GetExport": ("exports_retrieve", _EXPORT, None),
        "DownloadExport": ("exports_file", _EXPORT, None),
        "CancelExport": ("exports_cancel", _EXPORT, None),
    },
    ("exports_list", "200"): {
        "GetExport": ("exports_retrieve", {"export_id": "$response.body#/data/0/id"}, None),
    },
    ("exports_retrieve", "200"): {
        "DownloadExport": ("exports_file", _EXPORT, None),
        "CancelExport": ("exports_cancel", _EXPORT, None),
    },
}


def add_links(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: the responses above get their OpenAPI ``links``.

    A link whose source operation or response is absent from this schema (e.g. a schema generated
    for a subset of the URLs) is left out rather than pointing at nothing.
    """
    sources = {
        operation["operationId"]: operation
        for item in result.get("paths", {}).values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    for (source, status), links in LINKS.items():
        response = sources.get(source, {}).get("responses", {}).get(status)
        if response is None:
            continue
        for name, (target, parameters, body) in links.items():
            if target not in sources:
                continue
            link: dict = {"operationId": target}
            if parameters:
                link["parameters"] = dict(parameters)
            if body:
                link["requestBody"] = dict(body)
            response.setdefault("links", {})[name] = link
    return result
