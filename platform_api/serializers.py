"""Serializer bases shared by every API."""

from __future__ import annotations

from rest_framework import serializers


class StrictSerializer(serializers.Serializer):
    """Unknown keys are an error (the schema says additionalProperties: false)."""

    def validate(self, attrs: dict) -> dict:
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return attrs


class QueryParamsSerializer(serializers.Serializer):
    """Query-string parameters: one given but empty (``?value=``) is an error, never "not given".

    DRF reads a query string like an HTML form, where an empty optional field counts as absent: a
    filter sent empty would then silently not filter (all rows instead of none, the first page instead
    of the next). The schema says such parameters have a minimum length of 1; this enforces it.
    """

    def to_internal_value(self, data):
        if hasattr(data, "getlist"):
            blank = {name: ["May not be empty: leave the parameter out instead."] for name in self.fields if
                     name in data and any(value.strip() == "" for value in data.getlist(name))}  # fmt: skip
            if blank:
                raise serializers.ValidationError(blank)
        return super().to_internal_value(data)
