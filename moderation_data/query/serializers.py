"""Input and output shapes of the records and count endpoints (validation, rendering and the OpenAPI schema)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from moderation_data.query import crosswalk
from moderation_data.query.records import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from platform_api.errors import InvalidRequest
from platform_api.serializers import QueryParamsSerializer, StrictSerializer


class QueryField(serializers.DictField):
    """A query-language group; validated in depth by moderation_data.query.language against the codebook.

    Its OpenAPI schema is ``moderation_data.query.schema.QueryFieldExtension``.
    """


class QueryBodySerializer(StrictSerializer):
    """A request body with a query: TikTok Research API keys are answered with this API's equivalent."""

    def validate(self, attrs: dict) -> dict:
        keys = self.initial_data if isinstance(self.initial_data, dict) else {}
        foreign = {
            key: equivalent
            for key in keys
            if key not in self.fields and (equivalent := crosswalk.parameter_equivalent(key)) is not None
        }
        if foreign:
            raise InvalidRequest(
                " ".join(equivalent.explain() for equivalent in foreign.values()) + " See docs/crosswalk.md.",
                detail={key: [equivalent.explain()] for key, equivalent in foreign.items()},
            )
        return super().validate(attrs)


class CountBodySerializer(QueryBodySerializer):
    query = QueryField(required=False, allow_null=True)


class RecordsBodySerializer(QueryBodySerializer):
    query = QueryField(required=False, allow_null=True)
    fields = serializers.ListField(child=serializers.CharField(), required=False, allow_empty=False)
    page_size = serializers.IntegerField(min_value=1, max_value=MAX_PAGE_SIZE, default=DEFAULT_PAGE_SIZE)
    cursor = serializers.CharField(required=False, allow_null=True, max_length=2000)
    format = serializers.ChoiceField(choices=["objects", "columns"], default="objects")


class RecordsGetSerializer(QueryParamsSerializer):
    fields = serializers.CharField(required=False)
    page_size = serializers.IntegerField(min_value=1, max_value=MAX_PAGE_SIZE, default=DEFAULT_PAGE_SIZE)
    cursor = serializers.CharField(required=False, max_length=2000)
    format = serializers.ChoiceField(choices=["objects", "columns"], default="objects")


@extend_schema_field(
    {
        "oneOf": [
            {"type": "array", "items": {"type": "object", "additionalProperties": True}},
            {"type": "object", "additionalProperties": {"type": "array", "items": {}}},
        ]
    }
)
class JSONFragmentField(serializers.Field):
    """Rows already rendered as JSON by PostgreSQL: passed through untouched (the renderer embeds them)."""

    def to_representation(self, value):
        return value


OVERLAP_HELP = (
    "rows whose generalized values (a region for a country, a week/month/quarter/year for a day, 'other' for a "
    "language, a withheld field) may or may not satisfy the query: matching rows among them are in `data`/`count`, "
    "the others are not; 0 when the query is exact (docs/query.md, 'Generalized values')"
)


class RecordsPageSerializer(serializers.Serializer):
    data = JSONFragmentField(help_text="the rows, with the selected fields")
    next_cursor = serializers.CharField(allow_null=True)
    has_more = serializers.BooleanField()
    release = serializers.CharField(help_text="the release version every page of this walk reads")
    generalized_overlap = serializers.IntegerField(help_text=OVERLAP_HELP)
    format = serializers.CharField(required=False, help_text="`columns` when the page was asked for in that layout")


class CountSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    release = serializers.CharField()
    generalized_overlap = serializers.IntegerField(help_text=OVERLAP_HELP)
