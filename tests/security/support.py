"""Helpers of the OWASP API Top 10 modules (no tests here): the OpenAPI schema and its operations."""

from __future__ import annotations

import functools
import re

# Route parameters a test fills in with real objects (an export's id, a dataset's slug, a version).
PARAMETER = re.compile(r"\{([a-z_]+)\}")


@functools.cache
def api_schema() -> dict:
    """The OpenAPI schema exactly as /api/schema serves it (generated in-process)."""
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema: dict | None = None) -> list[tuple[str, str, dict]]:
    """Every documented operation: (METHOD, path template, operation object)."""
    schema = schema or api_schema()
    found = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                found.append((method.upper(), path, operation))
    return found


def needs_token(operation: dict) -> bool:
    """An operation a research client's token unlocks (public ones declare ``security: [{}]`` or none)."""
    security = operation.get("security")
    return bool(security) and any(requirement for requirement in security)


def fill(template: str, **values: str) -> str:
    """``/api/v1/exports/{export_id}`` → ``/api/v1/exports/<values['export_id']>``."""
    return PARAMETER.sub(lambda match: str(values[match.group(1)]), template)


def resolve_ref(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = schema["components"]["schemas"][name]
    return node


# Where a well-formed request may be refused with a documented 400, for what one schema cannot spell
# (docs/security.md, "Schema fuzzing"): bodies in the query language, export `fields` and aggregate
# `group_by` name codebook fields and values, which depend on the release; the public summary's
# `value` belongs to a `dimension`, and OpenAPI cannot tie one query parameter to another.
SEMANTIC_400_PATHS = r"/(records|count|aggregate|aggregate/estimate|exports|public/enforcement-summary)/?$"


def accept_semantic_400(loaded, expected_statuses: list[str]) -> None:
    """Schemathesis' positive-data check also accepts a 400 on SEMANTIC_400_PATHS, and only there."""
    from schemathesis.config._operations import OperationConfig

    loaded.config.operations.operations.append(
        OperationConfig.from_dict(
            {
                "include-path-regex": SEMANTIC_400_PATHS,
                "checks": {"positive_data_acceptance": {"expected-statuses": [*expected_statuses, "400"]}},
            }
        )
    )
