"""OpenAPI components of the query language (plain data: the settings module imports it)."""

QUERY_COMPONENTS = {
    "QueryCondition": {
        "type": "object",
        "additionalProperties": False,
        "required": ["operation", "field_name", "field_values"],
        "properties": {
            "operation": {"type": "string", "enum": ["EQ", "IN", "GT", "GTE", "LT", "LTE", "NE"]},
            "field_name": {"type": "string", "description": "a filterable field of the codebook"},
            "field_values": {
                "type": "array",
                "minItems": 1,
                "maxItems": 1000,
                "items": {"oneOf": [{"type": "string"}, {"type": "boolean"}, {"type": "integer"}]},
            },
        },
    },
    "QueryGroup": {
        "type": "object",
        "additionalProperties": False,
        "description": "`and`: all hold; `or`: at least one holds; `not`: none holds. At most 50 conditions, "
        "nesting at most 5 deep.",
        "properties": {
            key: {
                "type": "array",
                "items": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/QueryCondition"},
                        {"$ref": "#/components/schemas/QueryGroup"},
                    ]
                },
            }
            for key in ("and", "or", "not")
        },
    },
}
