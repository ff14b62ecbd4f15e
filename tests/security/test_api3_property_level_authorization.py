"""OWASP API3:2023 Broken Object Property Level Authorization.

Excessive data exposure: every documented JSON answer carries exactly the properties its schema
documents (no internal field leaks, e.g. a grant id, a secret, a raw row id or a pseudonym key),
compared recursively with the OpenAPI schema. Mass assignment: a body naming fields the client
must not set (owner, status, quotas, ids) is refused whole and changes nothing.
"""

from __future__ import annotations

import pytest

from tests.api_fixtures import make_research_client
from tests.security.figures import record
from tests.security.support import api_schema, operations, resolve_ref

pytestmark = pytest.mark.django_db

# Keys that would leak a credential or an internal identifier (exact names, wherever they appear).
FORBIDDEN_KEYS = {"secret", "client_secret", "password", "token", "access_token", "token_checksum", "pseudonym_key",
                  "row_id", "grant_id", "raw_id", "user_id", "email"}  # fmt: skip


def documented_keys_mismatches(schema: dict, node: dict, value, where: str = "$") -> list[str]:
    """Where ``value`` has keys its schema ``node`` does not document (or lacks documented ones)."""
    node = resolve_ref(schema, node)
    for combinator in ("allOf", "oneOf", "anyOf"):
        if combinator in node and len(node[combinator]) == 1:
            return documented_keys_mismatches(schema, node[combinator][0], value, where)
    problems: list[str] = []
    if isinstance(value, dict) and "properties" in node:
        documented = set(node["properties"])
        if node.get("additionalProperties") in (None, False):
            extra = set(value) - documented
            problems += [f"{where}.{key} undocumented" for key in sorted(extra)]
        missing = set(node.get("required", [])) - set(value)
        problems += [f"{where}.{key} missing" for key in sorted(missing)]
        for key in set(value) & documented:
            problems += documented_keys_mismatches(schema, node["properties"][key], value[key], f"{where}.{key}")
    elif isinstance(value, list) and "items" in node:
        for index, item in enumerate(value[:5]):
            problems += documented_keys_mismatches(schema, node["items"], item, f"{where}[{index}]")
    return problems


def all_keys(value, found: set | None = None) -> set[str]:
    found = set() if found is None else found
    if isinstance(value, dict):
        for key, item in value.items():
            found.add(key)
            all_keys(item, found)
    elif isinstance(value, list):
        for item in value:
            all_keys(item, found)
    return found


@pytest.fixture
def research(release):
    return make_research_client()


def test_every_json_answer_has_exactly_the_documented_properties(research):
    schema = api_schema()
    research.post("/api/v1/exports", {"dataset": "moderation-decisions", "format": "csv"})
    export_id = research.get("/api/v1/exports").json()["data"][0]["id"]
    values = {"slug": "moderation-decisions", "version": "latest", "export_id": export_id}
    bodies = {"records": {"page_size": 5}, "aggregate": {"group_by": ["policy"], "epsilon": 0.1}}
    checked = 0
    for method, template, operation in operations():
        if template.endswith("/file") or method == "DELETE":
            continue
        path = template.format(**values)
        body = bodies.get(template.rsplit("/", 1)[-1], {})
        response = research.get(path) if method == "GET" else research.post(path, body)
        documented = operation["responses"].get(str(response.status_code))
        assert documented is not None, (method, path, response.status_code)
        content = documented.get("content", {})
        media = next((m for m in content if "json" in m), None)
        if media is None or (response.status_code >= 400 and response.status_code != 200):
            continue
        payload = response.json()
        problems = documented_keys_mismatches(schema, content[media]["schema"], payload)
        assert problems == [], (method, path, problems)
        leaked = all_keys(payload) & FORBIDDEN_KEYS
        assert leaked == set(), (method, path, leaked)
        checked += 1
    assert checked >= 12
    record("API3 JSON answers compared key by key with the schema", checked)


def test_a_row_never_carries_more_than_the_codebook_allows(research):
    page = research.post("/api/v1/datasets/moderation-decisions/releases/latest/records", {"page_size": 50}).json()
    codebook = research.get("/api/v1/datasets/moderation-decisions").json()
    names = {field["name"] for field in codebook["codebook"]}
    assert page["data"], page
    for row in page["data"]:
        assert set(row) <= names, set(row) - names


@pytest.mark.parametrize(
    "extra",
    [
        {"grant": 1},
        {"status": "ready"},
        {"id": "00000000-0000-4000-8000-000000000000"},
        {"row_count": 0},
        {"requested_by": "someone"},
        {"expires_at": "2099-01-01T00:00:00Z"},
    ],
    ids=lambda extra: next(iter(extra)),
)
def test_mass_assignment_on_an_export_request_is_refused_and_changes_nothing(research, extra):
    from moderation_data.exports.models import Export

    response = research.post("/api/v1/exports", {"dataset": "moderation-decisions", "format": "csv", **extra})
    assert response.status_code == 400, response.content
    assert response.json()["error"]["detail"] == {next(iter(extra)): ["Unknown field."]}
    assert not Export.objects.exists()


@pytest.mark.parametrize(
    "extra",
    [{"project_id": 1}, {"grant": 1}, {"records_per_day": 10**9}, {"release": "1.0"}, {"include_raw": True}],
    ids=lambda extra: next(iter(extra)),
)
def test_mass_assignment_on_query_bodies_is_refused(research, extra):
    for endpoint in ("records", "count", "aggregate"):
        body = {"group_by": ["policy"], "epsilon": 0.1} if endpoint == "aggregate" else {}
        url = f"/api/v1/datasets/moderation-decisions/releases/latest/{endpoint}"
        response = research.post(url, {**body, **extra})
        assert response.status_code == 400, (endpoint, response.content)
        assert next(iter(extra)) in response.json()["error"]["detail"]


def test_a_client_cannot_write_its_own_grant_through_me(research):
    from researchers.models import AccessGrant

    before = AccessGrant.objects.values().get(pk=research.grant.pk)
    for method in ("put", "patch", "post", "delete"):
        response = getattr(research.http, method)(
            "/api/v1/me",
            '{"quotas": {"records_per_day": 1000000000}, "status": "active", "modality": "records_and_exports"}',
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {research.token}",
        )
        assert response.status_code == 405, (method, response.status_code)
    assert AccessGrant.objects.values().get(pk=research.grant.pk) == before
