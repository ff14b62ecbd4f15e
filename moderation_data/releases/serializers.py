"""Shapes of the release endpoints: release metadata and the public enforcement summary."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from moderation_data.catalog import enums
from moderation_data.catalog.serializers import ReleaseSummarySerializer
from moderation_data.releases import citation as cite
from moderation_data.releases.models import Release


def citation(release: Release) -> str:
    """A plain-text citation of a release (version, period, size and checksum pin the exact data)."""
    return cite.as_text(release)


class CitationDownloadsSerializer(serializers.Serializer):
    bibtex = serializers.URLField()
    ris = serializers.URLField()


class CitationSerializer(serializers.Serializer):
    """The facts of a release's citation (docs/citation.md)."""

    provider = serializers.CharField(help_text="who provides the data (the PROVIDER_NAME setting)")
    title = serializers.CharField()
    dataset = serializers.CharField()
    version = serializers.CharField()
    year = serializers.IntegerField()
    published_on = serializers.DateField()
    period_start = serializers.DateField(allow_null=True)
    period_end = serializers.DateField(allow_null=True)
    row_count = serializers.IntegerField()
    sha256 = serializers.CharField()
    url = serializers.URLField(help_text="the release's persistent page")
    doi = serializers.CharField(allow_null=True)
    notes = serializers.CharField(allow_blank=True, help_text="the release notes")
    downloads = CitationDownloadsSerializer(help_text="the citation as BibTeX and RIS")


class ReleaseDetailSerializer(ReleaseSummarySerializer):
    dataset = serializers.CharField(source="dataset.slug")
    release = serializers.CharField(source="version", help_text="the version these figures describe")
    status = serializers.CharField()
    codebook_version = serializers.CharField()
    pseudonym_key_version = serializers.IntegerField()
    k_anonymity = serializers.IntegerField()
    anonymization = serializers.DictField()
    control_totals = serializers.ListField(child=serializers.DictField())
    notes = serializers.CharField(allow_blank=True, help_text="release notes: what changed in this release")
    doi = serializers.CharField(allow_blank=True)
    citation = serializers.SerializerMethodField(help_text="a suggested citation, as text")
    citation_metadata = serializers.SerializerMethodField()

    def get_citation(self, release: Release) -> str:
        return citation(release)

    @extend_schema_field(CitationSerializer)
    def get_citation_metadata(self, release: Release) -> dict:
        return CitationSerializer(cite.metadata(release)).data


MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"


def _month_field(help_text: str) -> serializers.RegexField:
    return serializers.RegexField(
        MONTH_PATTERN, required=False, help_text=help_text,
        error_messages={"invalid": "Expected a month as YYYY-MM."},
    )  # fmt: skip


class EnforcementSummaryQuerySerializer(serializers.Serializer):
    month_from = _month_field("first month included (YYYY-MM)")
    month_to = _month_field("last month included (YYYY-MM), not before month_from")
    policy = serializers.ChoiceField(choices=enums.Policy.choices, required=False)
    country = serializers.RegexField(
        r"^([A-Z]{2}|unknown)$", required=False, help_text="ISO 3166-1 alpha-2 code, or 'unknown'"
    )
    page = serializers.IntegerField(min_value=1, default=1)
    page_size = serializers.IntegerField(min_value=1, max_value=10_000, default=1000)

    def validate(self, attrs: dict) -> dict:
        if attrs.get("month_from") and attrs.get("month_to") and attrs["month_from"] > attrs["month_to"]:
            raise serializers.ValidationError({"month_to": ["Must not be before month_from."]})
        return attrs


class EnforcementSummaryCellSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM")
    policy = serializers.CharField()
    country = serializers.CharField()
    detection_source = serializers.CharField()
    action = serializers.CharField(help_text="the most severe action, as a DSA key")
    decisions = serializers.IntegerField()


class EnforcementSummaryResponseSerializer(serializers.Serializer):
    release = serializers.CharField(help_text="version of the release the figures come from")
    period_start = serializers.DateField(allow_null=True)
    period_end = serializers.DateField(allow_null=True)
    k = serializers.IntegerField(help_text="cells with fewer decisions or accounts than k are not published")
    sha256 = serializers.CharField()
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    count = serializers.IntegerField(help_text="cells matching the filters")
    has_more = serializers.BooleanField()
    data = EnforcementSummaryCellSerializer(many=True)
