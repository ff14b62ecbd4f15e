"""The query language in OpenAPI: two recursive components generated from its own definition.

``QueryCondition`` and ``QueryGroup`` are registered with drf-spectacular when a request body
uses :class:`~moderation_data.query.serializers.QueryField`, so every operation name and limit in
the schema comes from :mod:`moderation_data.query.language` and cannot drift from what is enforced.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent

from moderation_data.query import language

GROUP_REF = {"$ref": "#/components/schemas/QueryGroup"}


def query_components() -> dict[str, dict]:
    condition = {
        "type": "object",
        "additionalProperties": False,
        "required": list(language.CONDITION_KEYS),
        "properties": {
            "operation": {
                "type": "string",
                "enum": list(language.OPERATIONS),
                "description": "Which operations apply depends on the field's type (see the codebook): "
                + "; ".join(f"{kind}: {', '.join(ops)}" for kind, ops in language.OPERATIONS_BY_TYPE.items()),
            },
            "field_name": {"type": "string", "description": "a filterable field of the codebook"},
            "field_values": {
                "type": "array",
                "minItems": 1,
                "maxItems": language.MAX_IN_VALUES,
                "items": {"oneOf": [{"type": "string"}, {"type": "boolean"}, {"type": "integer"}]},
            },
        },
    }
    group = {
        "type": "object",
        "additionalProperties": False,
        "description": f"`and`: all hold; `or`: at least one holds; `not`: none holds. At most "
        f"{language.MAX_CONDITIONS} conditions, nesting at most {language.MAX_DEPTH} deep.",
        "properties": {
            key: {
                "type": "array",
                "items": {"oneOf": [{"$ref": "#/components/schemas/QueryCondition"}, GROUP_REF]},
            }
            for key in language.GROUP_KEYS
        },
    }
    return {"QueryCondition": condition, "QueryGroup": group}


class QueryFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "moderation_data.query.serializers.QueryField"

    def map_serializer_field(self, auto_schema, direction):
        for name, schema in query_components().items():
            auto_schema.registry.register_on_missing(
                ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema)
            )
        return {"allOf": [GROUP_REF], "nullable": True}
