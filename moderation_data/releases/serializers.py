"""Shapes of the release endpoints: release metadata (the public summary's are in ``aggregates.serializers``)."""

from __future__ import annotations

import datetime as dt

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from moderation_data.catalog.serializers import ReleaseSummarySerializer
from moderation_data.query.records import _bucket_end, precisions
from moderation_data.releases import citation as cite
from moderation_data.releases.models import Release
from researchers.models import Modality


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


class PrivacySummarySerializer(serializers.Serializer):
    """What the build measured of a release's anonymity (docs/privacy.md); the full report is in admin."""

    k = serializers.IntegerField(help_text="required distinct accounts per class of quasi-identifiers")
    k_min_accounts = serializers.IntegerField(allow_null=True, help_text="smallest class, in accounts")
    k_min_accounts_with_earlier_releases = serializers.IntegerField(allow_null=True)
    tdb_linkage_rows_under_k = serializers.IntegerField(
        help_text="rows compatible with fewer than k raw decisions on the fields the DSA Transparency Database shows"
    )
    sensitive_certain_classes = serializers.IntegerField()
    trajectory_unicity = serializers.FloatField(
        help_text="share of sampled accounts singled out by country and two known (week, policy) decisions"
    )
    suppressed_share = serializers.FloatField()
    precision = serializers.DictField(child=serializers.CharField(), help_text="precision of each quasi-identifier")
    share_generalized = serializers.DictField(child=serializers.FloatField())


def privacy_summary(release: Release) -> dict | None:
    report = release.privacy_report or {}
    if not report:
        return None
    fields = report.get("fields", {})
    return {
        "k": report["k"],
        "k_min_accounts": report["k_min_accounts"],
        "k_min_accounts_with_earlier_releases": report["k_min_accounts_with_earlier_releases"],
        "tdb_linkage_rows_under_k": report["tdb_linkage"]["rows_matching_fewer_than_k_raw_decisions"],
        "sensitive_certain_classes": sum(report["sensitive_certain_classes"].values()),
        "trajectory_unicity": report["trajectory_unicity"]["share"],
        "suppressed_share": report["suppressed_share"],
        "precision": {name: field["precision"] for name, field in fields.items()},
        "share_generalized": {name: field["share_generalized"] for name, field in fields.items()},
    }


# The fields control totals cross-tabulate: a grant limited to fields without both sees none of them.
CONTROL_TOTAL_FIELDS = frozenset({"decided_on", "policy"})


def control_totals_for(release: Release, grant) -> list[dict] | None:
    """The release's control totals a grant may see (docs/dsa-article-40.md, "Never wider than the request").

    Exact counts per date bucket and policy: none (``None``) for the ``aggregate`` modality (differentially
    private counts only) or a grant whose fields leave out ``decided_on`` or ``policy``; for a grant with a
    data period, only the buckets lying wholly within it, as records match them (a bucket ends at the
    latest on the release's last day). Without a grant or limits: all of them.
    """
    if grant is None:
        return release.control_totals
    if grant.modality == Modality.AGGREGATE:
        return None
    if grant.data_fields and not set(grant.data_fields) >= CONTROL_TOTAL_FIELDS:
        return None
    start, end = grant.data_from, grant.data_until
    if start is None and end is None:
        return release.control_totals
    default_precision = precisions(release).get("decided_on", "day")
    within = []
    for total in release.control_totals:
        if total.get("period"):
            first, precision = dt.date.fromisoformat(total["period"]), total.get("precision") or default_precision
        else:  # a total of a month only
            first, precision = dt.date.fromisoformat(f"{total['month']}-01"), "month"
        last = _bucket_end(first, precision)
        if release.period_end is not None:
            last = min(last, release.period_end)
        if (start is None or start <= first) and (end is None or last <= end):
            within.append(total)
    return within


def _is_exact_count(key: str) -> bool:
    return key.endswith("_rows") or key.startswith("suppressed_for")


def anonymization_for(release: Release, grant) -> dict:
    """The build's anonymization parameters and statistics a grant may see.

    Its statistics are exact counts over the whole release (rows read, suppressed, recoded...). A grant
    of the ``aggregate`` modality (differentially private counts only) or with data limits (a DSC grant:
    its period and fields only) sees the parameters without them; others see everything.
    """
    anonymization = dict(release.anonymization or {})
    limited = grant is not None and (
        grant.modality == Modality.AGGREGATE or grant.data_from or grant.data_until or grant.data_fields
    )
    if limited:
        anonymization = {key: value for key, value in anonymization.items() if not _is_exact_count(key)}
    return anonymization


class ReleaseDetailSerializer(ReleaseSummarySerializer):
    dataset = serializers.CharField(source="dataset.slug")
    release = serializers.CharField(source="version", help_text="the version these figures describe")
    status = serializers.CharField()
    codebook_version = serializers.CharField()
    pseudonym_key_version = serializers.IntegerField()
    key_fingerprint = serializers.CharField(help_text="identifies the pseudonym master key used (never the key)")
    k_anonymity = serializers.IntegerField()
    anonymization = serializers.SerializerMethodField(
        help_text="the anonymization's parameters and statistics; the statistics (exact counts over the whole "
        "release) are left out for the aggregate modality and for grants with data limits (docs/privacy.md)"
    )
    control_totals = serializers.SerializerMethodField(
        help_text="exact decisions per decided_on bucket and policy; for a grant with data limits only the buckets "
        "wholly within its period, null when its fields leave out decided_on or policy or its modality is "
        "aggregate (docs/dsa-article-40.md)"
    )
    privacy = serializers.SerializerMethodField(help_text="the privacy report's summary (docs/privacy.md)")
    notes = serializers.CharField(allow_blank=True, help_text="release notes: what changed in this release")
    doi = serializers.CharField(allow_blank=True)
    citation = serializers.SerializerMethodField(help_text="a suggested citation, as text")
    citation_metadata = serializers.SerializerMethodField()

    @extend_schema_field(serializers.DictField())
    def get_anonymization(self, release: Release) -> dict:
        return anonymization_for(release, self.context.get("grant"))

    @extend_schema_field(serializers.ListField(child=serializers.DictField(), allow_null=True))
    def get_control_totals(self, release: Release) -> list[dict] | None:
        return control_totals_for(release, self.context.get("grant"))

    @extend_schema_field(PrivacySummarySerializer(allow_null=True))
    def get_privacy(self, release: Release) -> dict | None:
        return privacy_summary(release)

    def get_citation(self, release: Release) -> str:
        return citation(release)

    @extend_schema_field(CitationSerializer)
    def get_citation_metadata(self, release: Release) -> dict:
        return CitationSerializer(cite.metadata(release)).data
