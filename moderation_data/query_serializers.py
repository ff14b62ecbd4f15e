"""Input and output shapes of the query API (validation and the OpenAPI schema)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from moderation_data.records import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE


class StrictSerializer(serializers.Serializer):
    """Unknown keys are an error (the schema says additionalProperties: false)."""

    def validate(self, attrs: dict) -> dict:
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return attrs


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    detail = serializers.DictField()
    request_id = serializers.CharField(allow_null=True)


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


@extend_schema_field({"allOf": [{"$ref": "#/components/schemas/QueryGroup"}], "nullable": True})
class QueryField(serializers.DictField):
    """A query-language group; validated in depth by moderation_data.querylang against the codebook."""


class CountBodySerializer(StrictSerializer):
    query = QueryField(required=False, allow_null=True)


class RecordsBodySerializer(StrictSerializer):
    query = QueryField(required=False, allow_null=True)
    fields = serializers.ListField(child=serializers.CharField(), required=False, allow_empty=False)
    page_size = serializers.IntegerField(min_value=1, max_value=MAX_PAGE_SIZE, default=DEFAULT_PAGE_SIZE)
    cursor = serializers.CharField(required=False, allow_null=True, max_length=2000)


class RecordsGetSerializer(serializers.Serializer):
    fields = serializers.CharField(required=False)
    page_size = serializers.IntegerField(min_value=1, max_value=MAX_PAGE_SIZE, default=DEFAULT_PAGE_SIZE)
    cursor = serializers.CharField(required=False, max_length=2000)


class RecordsPageSerializer(serializers.Serializer):
    data = serializers.ListField(child=serializers.DictField())
    next_cursor = serializers.CharField(allow_null=True)
    has_more = serializers.BooleanField()
    release = serializers.CharField()


class CountSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    release = serializers.CharField()


class ReleaseSummarySerializer(serializers.Serializer):
    version = serializers.CharField()
    published_at = serializers.DateTimeField()
    row_count = serializers.IntegerField()
    period_start = serializers.DateField(allow_null=True)
    period_end = serializers.DateField(allow_null=True)
    sha256 = serializers.CharField()


class DatasetSummarySerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    level = serializers.ChoiceField(choices=["row", "aggregate"])
    sensitivity = serializers.ChoiceField(choices=["public", "restricted"])
    latest_release = serializers.CharField(allow_null=True)
    releases = ReleaseSummarySerializer(many=True)


class DatasetListSerializer(serializers.Serializer):
    data = DatasetSummarySerializer(many=True)


class CodebookFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    description = serializers.CharField()
    filterable = serializers.BooleanField()
    operations = serializers.ListField(child=serializers.CharField())
    values = serializers.ListField(child=serializers.DictField(), required=False)


class DatasetDetailSerializer(DatasetSummarySerializer):
    codebook_version = serializers.CharField()
    codebook = CodebookFieldSerializer(many=True)


class ReleaseDetailSerializer(ReleaseSummarySerializer):
    dataset = serializers.CharField()
    release = serializers.CharField()
    status = serializers.CharField()
    codebook_version = serializers.CharField()
    pseudonym_key_version = serializers.IntegerField()
    k_anonymity = serializers.IntegerField()
    anonymization = serializers.DictField()
    control_totals = serializers.ListField(child=serializers.DictField())
    citation = serializers.CharField()


class UsageTodaySerializer(serializers.Serializer):
    requests = serializers.IntegerField()
    records = serializers.IntegerField()
    requests_remaining = serializers.IntegerField()
    records_remaining = serializers.IntegerField()
    resets_at = serializers.DateTimeField()


class UsageDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    requests = serializers.IntegerField()
    records = serializers.IntegerField()
    refused = serializers.IntegerField()


class UsageSerializer(serializers.Serializer):
    today = UsageTodaySerializer()
    quotas = serializers.DictField(child=serializers.IntegerField())
    days = UsageDaySerializer(many=True)
