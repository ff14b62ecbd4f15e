"""Releases: immutable, versioned, anonymized snapshots of a dataset, and the public summary's cells."""

from __future__ import annotations

from django.db import models

from moderation_data.catalog import enums
from moderation_data.catalog.models import Dataset


class ReleaseQuerySet(models.QuerySet):
    def published(self) -> ReleaseQuerySet:
        return self.filter(status=Release.Status.PUBLISHED)


class Release(models.Model):
    """An anonymized, versioned snapshot of a dataset. Published releases never change (DB triggers)."""

    class Status(models.TextChoices):
        BUILDING = "building", "Building"
        BUILT = "built", "Built, not yet published"
        FAILED = "failed", "Build failed"
        PUBLISHED = "published", "Published"
        WITHDRAWN = "withdrawn", "Withdrawn"

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="releases")
    version = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.BUILDING)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True, help_text="the latest complete day included")
    row_count = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    rows_table = models.CharField(max_length=63, blank=True, help_text="table holding the rows (row-level datasets)")
    k_anonymity = models.PositiveSmallIntegerField(default=10)
    anonymization = models.JSONField(default=dict, blank=True)
    privacy_report = models.JSONField(
        default=dict, blank=True, help_text="what the build measured of the release's anonymity (docs/privacy.md)"
    )
    control_totals = models.JSONField(default=list, blank=True)
    codebook = models.JSONField(default=list, blank=True)
    codebook_version = models.CharField(max_length=16, blank=True)
    pseudonym_key_version = models.PositiveSmallIntegerField(default=1)
    # Which master key the release was built with (docs/pseudonyms.md): a digest, never the key.
    key_fingerprint = models.CharField(max_length=32, blank=True)
    source_fingerprint = models.CharField(
        max_length=64, blank=True, help_text="digest of the raw tier it was built from"
    )
    build_seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    companion = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="the release of the other dataset built from the same snapshot",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_reason = models.TextField(blank=True)
    # Given when the release is published (docs/citation.md); frozen with the rest afterwards.
    notes = models.TextField(
        "release notes", blank=True, help_text="a short changelog: what is new or different in this release"
    )
    doi = models.CharField("DOI", max_length=200, blank=True, help_text="optional, e.g. 10.5281/zenodo.1234567")

    objects = ReleaseQuerySet.as_manager()

    class Meta:
        ordering = ["dataset", "-created_at"]
        constraints = [models.UniqueConstraint(fields=["dataset", "version"], name="release_unique_version")]

    def __str__(self) -> str:
        return f"{self.dataset.slug} {self.version}"


class EnforcementSummaryCell(models.Model):
    """One cell of the public enforcement summary of a release (cells under k are not stored)."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="summary_cells")
    month = models.CharField(max_length=7)
    policy = models.CharField(max_length=64, choices=enums.Policy.choices)
    country = models.CharField(max_length=16)
    detection_source = models.CharField(max_length=64)
    action = models.CharField(max_length=80)
    decisions = models.BigIntegerField()

    class Meta:
        ordering = ["release", "month", "policy", "country", "detection_source", "action"]
        indexes = [models.Index(fields=["release", "month", "policy", "country"], name="summary_filter_idx")]

    def __str__(self) -> str:
        return f"{self.month} {self.policy} {self.country}: {self.decisions}"


class ProjectKeyQuerySet(models.QuerySet):
    def active(self) -> ProjectKeyQuerySet:
        return self.filter(destroyed_at__isnull=True)


class ProjectKey(models.Model):
    """A project's random pseudonym key, stored wrapped (AES-GCM under a key derived from PSEUDONYM_KEY).

    Created on a project's first data access (docs/pseudonyms.md). Destroying it (``shred_project_keys``)
    wipes the wrapped key: the pseudonyms it made can never be recomputed (crypto-shredding), and the
    project's next request, if it may still make one, gets a new generation.
    """

    project = models.ForeignKey(
        "researchers.ResearchApplication", on_delete=models.PROTECT, related_name="pseudonym_keys"
    )
    key_version = models.PositiveSmallIntegerField(help_text="PSEUDONYM_KEY_VERSION the key is wrapped under")
    generation = models.PositiveIntegerField()
    wrapped = models.BinaryField(help_text="nonce and AES-GCM ciphertext of the key; empty once destroyed")
    created_at = models.DateTimeField(auto_now_add=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)
    destroyed_reason = models.TextField(blank=True)

    objects = ProjectKeyQuerySet.as_manager()

    class Meta:
        ordering = ["project", "-generation"]
        constraints = [
            models.UniqueConstraint(fields=["project", "key_version", "generation"], name="project_key_generation"),
            models.UniqueConstraint(
                fields=["project", "key_version"],
                condition=models.Q(destroyed_at__isnull=True),
                name="project_key_one_active",
            ),
        ]

    def __str__(self) -> str:
        state = "destroyed" if self.destroyed_at else "active"
        return f"project {self.project_id} key v{self.key_version}.{self.generation} ({state})"


class AccountPrecision(models.Model):
    """Private: the precision a release gave each account's account-level values (never served).

    Keyed by a 64-bit hash of the raw account id (the raw tier's ``hashtextextended``), so that a
    later release of the dataset never shows an account's country, language or account type more
    precisely than an earlier one, and its classes are counted with the finest value earlier
    releases showed (docs/privacy.md, "Composition").
    """

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="+")
    account_hash = models.BigIntegerField()
    country_level = models.PositiveSmallIntegerField()
    language_level = models.PositiveSmallIntegerField()
    account_type_level = models.PositiveSmallIntegerField()

    class Meta:
        indexes = [models.Index(fields=["account_hash"], name="accountprecision_acct_idx")]

    def __str__(self) -> str:
        return f"{self.release_id}: {self.account_hash}"
