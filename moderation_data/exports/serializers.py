"""Shapes of the exports API: the request body, and an export as the client sees it."""

from __future__ import annotations

from rest_framework import serializers

from moderation_data.exports.models import Export
from moderation_data.query.serializers import QueryField
from moderation_data.releases.serializers import CitationSerializer
from platform_api.serializers import StrictSerializer


class ExportRequestSerializer(StrictSerializer):
    dataset = serializers.SlugField(max_length=64)
    release = serializers.CharField(max_length=32, required=False, default="latest")
    format = serializers.ChoiceField(choices=Export.Format.choices)
    query = QueryField(required=False, allow_null=True)
    fields = serializers.ListField(child=serializers.CharField(), required=False, allow_empty=False, min_length=1)


# Keys as the manifest stores them ("from" is a keyword, hence the functional form).
DataLimitsSerializer = type(
    "DataLimitsSerializer",
    (serializers.Serializer,),
    {
        "from": serializers.DateField(allow_null=True, help_text="only decisions on or after this day"),
        "until": serializers.DateField(allow_null=True, help_text="only decisions on or before this day"),
        "fields": serializers.ListField(child=serializers.CharField(), help_text="only these fields (empty: all)"),
    },
)


class ManifestSerializer(serializers.Serializer):
    dsc_reference = serializers.CharField(
        allow_null=True, required=False, help_text="the DSC reasoned request the grant was issued on, if any"
    )
    data_limits = DataLimitsSerializer(
        allow_null=True, required=False, help_text="the period and fields the grant's rows are limited to"
    )
    dataset = serializers.CharField()
    release = serializers.CharField()
    release_sha256 = serializers.CharField()
    query = serializers.DictField(allow_null=True)
    query_fingerprint = serializers.CharField()
    fields = serializers.ListField(child=serializers.CharField())
    format = serializers.CharField()
    codebook_version = serializers.CharField()
    pseudonym_key_version = serializers.IntegerField()
    key_fingerprint = serializers.CharField(
        required=False, help_text="identifies the pseudonym master key the file was made with (never the key)"
    )
    project_key_generation = serializers.IntegerField(
        required=False, help_text="your project's pseudonym key generation (a new one after crypto-shredding)"
    )
    pseudonyms = serializers.CharField(help_text="how the pseudonym columns are keyed")
    order = serializers.CharField(help_text="row order of the file")
    citation = serializers.CharField(required=False, help_text="how to cite the release (docs/citation.md)")
    citation_metadata = CitationSerializer(required=False)


class ExportSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Export.Status.choices)
    progress = serializers.FloatField(help_text="0–1")
    dataset = serializers.CharField()
    release = serializers.CharField()
    format = serializers.ChoiceField(choices=Export.Format.choices)
    query = serializers.DictField(allow_null=True)
    fields = serializers.ListField(child=serializers.CharField())
    row_count = serializers.IntegerField(allow_null=True)
    bytes = serializers.IntegerField(allow_null=True)
    sha256 = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    file_url = serializers.URLField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    manifest = ManifestSerializer()


class ExportListSerializer(serializers.Serializer):
    data = ExportSerializer(many=True)
