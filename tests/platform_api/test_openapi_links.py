"""OpenAPI links (platform_api/openapi.py, ``LINKS``) cannot drift from the API they describe.

Every link of the served schema names an existing operation; each parameter it fills is one of
that operation's parameters; each body field it fills is a property of that operation's request
body; each ``$response.body#/...`` it reads is a field of the source response's schema; each
``$request.path.x`` a path parameter of the source. Renaming a field, a parameter or an operation
breaks one of these tests, not the stateful fuzzing silently.
"""

from __future__ import annotations

import re

import pytest
import schemathesis

from platform_api.openapi import LINKS

pytestmark = pytest.mark.django_db

EXPRESSION = re.compile(r"^\$(response\.body#(?P<pointer>/.*)|request\.path\.(?P<path>[a-z_]+))$")


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker) -> dict:
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def by_operation_id(schema: dict) -> dict[str, dict]:
    return {
        operation["operationId"]: operation
        for item in schema["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }


def links(schema: dict):
    """(source operationId, status, link name, link) for every link of the schema."""
    for operation_id, operation in by_operation_id(schema).items():
        for status, response in operation["responses"].items():
            for name, link in response.get("links", {}).items():
                yield operation_id, status, name, link


def resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def alternatives(schema: dict, node: dict) -> list[dict]:
    """The schemas a value of ``node`` may follow (``allOf``/``oneOf``/``anyOf`` flattened)."""
    node = resolve(schema, node)
    found = [node]
    for key in ("allOf", "oneOf", "anyOf"):
        for sub in node.get(key, []):
            found.extend(alternatives(schema, sub))
    return found


def pointer_resolves(schema: dict, node: dict, pointer: str) -> bool:
    """Whether the JSON pointer names a field every valid document of ``node`` may have."""
    nodes = [node]
    for token in pointer.lstrip("/").split("/"):
        following = []
        for candidate in nodes:
            for option in alternatives(schema, candidate):
                if token.isdigit() and option.get("type") == "array" and "items" in option:
                    following.append(option["items"])
                elif token in option.get("properties", {}):
                    following.append(option["properties"][token])
        if not following:
            return False
        nodes = following
    return True


def json_response_schema(response: dict) -> dict:
    return response["content"]["application/json"]["schema"]


def test_every_link_of_the_table_is_in_the_served_schema(schema):
    served = {(source, status, name) for source, status, name, _ in links(schema)}
    table = {(source, status, name) for (source, status), named in LINKS.items() for name in named}
    assert served == table
    assert len(served) >= 15


def test_every_link_targets_an_existing_operation_with_the_parameters_it_fills(schema):
    operations = by_operation_id(schema)
    for source, _status, name, link in links(schema):
        target = operations.get(link["operationId"])
        assert target is not None, (source, name, link["operationId"])
        parameters = {parameter["name"]: parameter for parameter in target.get("parameters", [])}
        for parameter in link.get("parameters", {}):
            assert parameter in parameters, (source, name, parameter)
        # A link that opens an object fills its whole path: no path parameter is left to chance.
        required_path = {p for p, spec in parameters.items() if spec["in"] == "path"}
        assert required_path <= set(link.get("parameters", {})), (source, name, required_path)
        if "requestBody" in link:
            body = json_response_schema(target["requestBody"])
            properties = {key for option in alternatives(schema, body) for key in option.get("properties", {})}
            assert set(link["requestBody"]) <= properties, (source, name, link["requestBody"])


def test_every_link_reads_a_documented_field_of_its_response_or_a_parameter_of_its_request(schema):
    operations = by_operation_id(schema)
    checked = 0
    for source, status, name, link in links(schema):
        response = json_response_schema(operations[source]["responses"][status])
        source_parameters = {p["name"] for p in operations[source].get("parameters", []) if p["in"] == "path"}
        for expression in [*link.get("parameters", {}).values(), *link.get("requestBody", {}).values()]:
            match = EXPRESSION.match(expression)
            assert match, (source, name, expression)
            if match["pointer"]:
                assert pointer_resolves(schema, response, match["pointer"]), (source, status, name, expression)
            else:
                assert match["path"] in source_parameters, (source, name, expression)
            checked += 1
    assert checked >= 30


def test_a_pointer_to_a_field_the_response_lacks_would_be_caught(schema):
    export = {"$ref": "#/components/schemas/Export"}
    assert pointer_resolves(schema, export, "/id")
    assert not pointer_resolves(schema, export, "/export_id")
    listing = {"$ref": "#/components/schemas/DatasetList"}
    assert pointer_resolves(schema, listing, "/data/0/slug")
    assert not pointer_resolves(schema, listing, "/data/slug")


def test_schemathesis_turns_every_link_into_a_transition_of_its_state_machine(schema):
    loaded = schemathesis.openapi.from_dict(schema)
    loaded.config.phases.stateful.inference.algorithms = []  # explicit links only
    machine = loaded.as_state_machine()  # raises InvalidStateMachine on a link it cannot resolve
    transitions = {link.full_name for ops in machine._transitions.operations.values() for link in ops.outgoing}
    assert len(transitions) == sum(len(named) for named in LINKS.values())
