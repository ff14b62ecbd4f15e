"""Shapes of the release endpoints: release metadata (the public summary's are in ``aggregates.serializers``)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

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
    key_fingerprint = serializers.CharField(help_text="identifies the pseudonym master key used (never the key)")
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
