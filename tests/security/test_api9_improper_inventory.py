"""OWASP API9:2023 Improper Inventory Management.

The OpenAPI schema is the inventory: it validates as OpenAPI 3, has no dangling ``$ref``, every
request body can be built from it, and every status an operation can answer is documented
(404, 500, 503 everywhere; 400/413 with input). Every URL pattern of the project is either in the
schema or in an explicit allowlist of non-API pages, so no route is served undocumented; anything
else under /api/ (a newline in the path included) is the JSON 404 envelope, never an HTML page.
"""

from __future__ import annotations

import json
import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import validate

from tests.security.figures import record
from tests.security.support import api_schema, operations

pytestmark = pytest.mark.django_db

# Routes outside the API schema, each for a stated reason. A new route must be added to the schema
# (an API endpoint) or here (a page), or this module fails.
ALLOWLIST = {
    r"^admin/": "Django admin (staff only, session + CSRF)",
    r"^portal/": "the researcher portal and its docs pages (HTML, session)",
    r"^oauth/token$": "OAuth 2 token endpoint (RFC 6749, documented in docs/authentication.md)",
    r"^oauth/revoke_token$": "OAuth 2 revocation endpoint (RFC 7009)",
    r"^api/schema$": "the schema itself",
    r"^api/docs$": "Swagger UI (offline)",
    r"^api/redoc$": "ReDoc (offline)",
    r"^static/": "static files",
    r"^$": "the portal's home redirect",
}


def refs(node, found: list) -> list:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                found.append(value)
            else:
                refs(value, found)
    elif isinstance(node, list):
        for value in node:
            refs(value, found)
    return found


def url_patterns(patterns=None, prefix: str = "") -> list[str]:
    """Every route of the project's URLconf, as a regex-ish string (converters as `{name}`)."""
    routes = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        text = str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes += url_patterns(pattern.url_patterns, prefix + text)
        elif isinstance(pattern, URLPattern):
            routes.append(prefix + text)
    return routes


def as_schema_path(route: str) -> str:
    route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route).replace("^", "").replace("$", "").replace("\\Z", "")
    return "/" + route


def test_the_served_schema_validates_and_has_no_dangling_refs(client):
    for _ in range(2):  # generated per request: the second generation must be as complete as the first
        served = json.loads(client.get("/api/schema", {"format": "json"}).content)
        validate(served)
        components = served["components"]["schemas"]
        dangling = sorted({ref for ref in refs(served, []) if ref.rsplit("/", 1)[-1] not in components})
        assert dangling == []
    assert served == json.loads(json.dumps(api_schema()))


def built_bodies(operation) -> list:
    """The bodies Schemathesis builds for ``operation`` (an optional body may be left out: not listed)."""
    from hypothesis import HealthCheck, given, settings
    from schemathesis.core import NOT_SET

    name = f"{operation.method.upper()} {operation.path}"
    optional = not any(body.is_required for body in operation.body)
    bodies = []

    @settings(max_examples=10, suppress_health_check=list(HealthCheck), deadline=None, derandomize=True)
    @given(operation.as_strategy())
    def builds(case):
        # records and count take an optional body (every field has a default); any body built is an object.
        if case.body is NOT_SET:
            assert optional, f"{name}: its required body was not built"
        else:
            assert isinstance(case.body, dict), case.body
            bodies.append(case.body)

    builds()
    return bodies


def test_every_request_body_is_buildable_by_schemathesis():
    import schemathesis

    loaded = schemathesis.openapi.from_dict(api_schema())
    built = set()
    for result in loaded.get_all_operations():
        operation = result.ok()
        if not operation.body:
            continue
        assert built_bodies(operation), f"{operation.method.upper()} {operation.path}: no body was built"
        built.add(f"{operation.method.upper()} {operation.path}")
    assert {"POST /api/v1/datasets/{slug}/releases/{version}/records",
            "POST /api/v1/datasets/{slug}/releases/{version}/count",
            "POST /api/v1/datasets/{slug}/releases/{version}/aggregate",
            "POST /api/v1/exports"} <= built  # fmt: skip


def test_every_operation_documents_404_500_and_503_and_page_size_bounds():
    for method, path, operation in operations():
        assert {"404", "500", "503"} <= set(operation["responses"]), (method, path)
        if operation.get("requestBody"):
            assert {"400", "413"} <= set(operation["responses"]), (method, path)
    records = api_schema()["paths"]["/api/v1/datasets/{slug}/releases/{version}/records"]
    page_size = next(p for p in records["get"]["parameters"] if p["name"] == "page_size")["schema"]
    assert page_size["minimum"] == 1 and page_size["maximum"] == 1000


def test_every_url_pattern_is_in_the_schema_or_the_allowlist():
    documented = set(api_schema()["paths"])
    undocumented = []
    for route in url_patterns():
        path = as_schema_path(route)
        bare = path.rstrip("/") if path.startswith("/api/") else path
        if bare in documented or path in documented:
            continue
        if re.search(r"\(|\.\*|^/api/$|^/api/v1/\^?$", path) or route in ("api/", "api/v1/^"):
            continue  # the enveloped catch-alls (they answer 404 only)
        if any(re.search(allowed, route.lstrip("^")) for allowed in ALLOWLIST):
            continue
        undocumented.append(route)
    assert undocumented == []
    record("API9 URL patterns: in the schema / allowlisted", f"{len(documented)} / {len(ALLOWLIST)} prefixes")


@pytest.mark.parametrize(
    "path",
    ["/api/%0A", "/api/v1/%0A", "/api/v1/datasets/%0Ax", "/api/v1/exports/%0A/file", "/api/x%0Ay", "/api/v2/anything"],
)
def test_unknown_api_paths_answer_the_json_envelope_even_with_a_newline(client, path):
    response = client.get(path)
    assert response.status_code in (401, 404)  # an export's route with a made-up id asks for a token first
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    assert response.json()["error"]["code"] in ("not_found", "authentication_failed")
