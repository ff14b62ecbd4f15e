"""OpenAPI written for researchers (docs/api.md): every operation describes itself in their terms (no
developer docstring leaks in), and every request body has worked examples that are real queries."""

from __future__ import annotations

import pytest

from moderation_data.catalog.codebook import codebook_for
from moderation_data.query import language as ql
from moderation_data.query.records import query_fields
from moderation_data.query.serializers import QueryBodySerializer
from moderation_data.releases.models import Release

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client) -> dict:
    response = client.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def operations(schema: dict):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_every_operation_has_a_description_and_no_developer_docstring(schema):
    for path, method, operation in operations(schema):
        description = operation.get("description", "")
        assert len(description) > 40, (method, path)
        for internal in ("self.audit", "access event", "AuditedAPIView", "Views fill"):
            assert internal not in description, (method, path, internal)


def test_every_request_body_has_worked_examples_that_are_valid_queries(schema):
    fields = query_fields(Release(codebook=codebook_for("moderation-decisions")))
    bodies = 0
    for path, method, operation in operations(schema):
        if "requestBody" not in operation:
            continue
        bodies += 1
        examples = operation["requestBody"]["content"]["application/json"].get("examples") or {}
        assert examples, (method, path)
        for example in examples.values():
            body = example["value"]
            assert "string" not in str(body), (path, body)  # a real value, not a placeholder type
            query = body.get("query")
            if query is not None:
                ql.parse_body_query(query, fields)  # raises InvalidQuery if the example were wrong
            if body.get("fields"):
                ql.parse_fields(body["fields"], fields, default=[])
    assert bodies >= 3


def test_tiktok_style_keys_in_an_example_would_be_caught():
    serializer = QueryBodySerializer(data={"max_count": 10})
    with pytest.raises(Exception, match="page_size"):
        serializer.is_valid(raise_exception=True)
