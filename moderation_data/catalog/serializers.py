"""Output shapes of the catalog endpoints (they render the responses and document them)."""

from __future__ import annotations

from rest_framework import serializers

from moderation_data.catalog.codebook import named_sets_of
from moderation_data.catalog.models import Dataset


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
    level = serializers.ChoiceField(choices=Dataset.Level.choices)
    sensitivity = serializers.ChoiceField(choices=Dataset.Sensitivity.choices)
    latest_release = serializers.CharField(allow_null=True)
    releases = ReleaseSummarySerializer(many=True)


class DatasetListSerializer(serializers.Serializer):
    data = DatasetSummarySerializer(many=True)


class CodebookValueSerializer(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()


class CodebookFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField(help_text="pseudonym, date, month, enum, list, boolean, bucket, string or integer")
    description = serializers.CharField()
    filterable = serializers.BooleanField()
    operations = serializers.ListField(child=serializers.CharField(), help_text="query operations that apply")
    nullable = serializers.BooleanField(help_text="whether the field can be missing (null)")
    groupable = serializers.BooleanField(
        required=False, help_text="whether aggregates may group by it (docs/aggregates.md)"
    )
    group_granularity = serializers.CharField(
        required=False, help_text="what a date is grouped by (month) when aggregates group by it"
    )
    values = CodebookValueSerializer(many=True, required=False, help_text="allowed values, in order")
    closed = serializers.BooleanField(required=False, help_text="false when other values can occur too")
    buckets = serializers.ListField(
        child=serializers.DictField(), required=False, help_text="bucket ranges (bucket fields), in order"
    )
    named_sets = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="list fields: short codes standing for a whole list in compact pages (format=columns), "
        "e.g. EEA for every EEA country (docs/query.md)",
    )
    # k-anonymity (docs/privacy.md): on the fields it counts, the release's one precision of each.
    quasi_identifier = serializers.BooleanField(required=False, help_text="whether k-anonymity counts the field")
    precision = serializers.CharField(required=False, help_text="the release's precision of the field")
    precisions = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="the possible precisions, finest first"
    )
    withheld = serializers.BooleanField(required=False, help_text="withheld: null in every row of this release")
    per_row_generalization = serializers.BooleanField(
        required=False, help_text="country, territorial_scope: some accounts' rows carry a region (docs/query.md)"
    )

    def to_representation(self, instance):
        data = super().to_representation(instance)
        # Today's named sets hold for every release (they only name lists), older codebooks included.
        if instance.get("type") == "list" and (sets := named_sets_of(instance.get("name", ""))):
            data["named_sets"] = {code: list(members) for code, members in sets.items()}
        return data


class DatasetDetailSerializer(DatasetSummarySerializer):
    codebook_version = serializers.CharField()
    codebook = CodebookFieldSerializer(many=True)
