"""Shapes of the release endpoints: release metadata (the public summary's are in ``aggregates.serializers``)."""

from __future__ import annotations

from rest_framework import serializers

from moderation_data.catalog.serializers import ReleaseSummarySerializer
from moderation_data.releases.models import Release


def citation(release: Release) -> str:
    """A plain-text citation of a release (version, period, size and checksum pin the exact data)."""
    year = (release.published_at or release.created_at).year
    return (
        f"{release.dataset.title}, release {release.version} ({year}) [data set], "
        f"period {release.period_start} to {release.period_end}, {release.row_count} records, "
        f"sha256 {release.sha256}. Provided under DSA Art. 40 vetted-researcher data access."
    )


class ReleaseDetailSerializer(ReleaseSummarySerializer):
    dataset = serializers.CharField(source="dataset.slug")
    release = serializers.CharField(source="version", help_text="the version these figures describe")
    status = serializers.CharField()
    codebook_version = serializers.CharField()
    pseudonym_key_version = serializers.IntegerField()
    k_anonymity = serializers.IntegerField()
    anonymization = serializers.DictField()
    control_totals = serializers.ListField(child=serializers.DictField())
    citation = serializers.SerializerMethodField()

    def get_citation(self, release: Release) -> str:
        return citation(release)
