"""Bulk exports (docs/exports.md): one row per requested file, one row per key-range chunk of it.

An export is planned into chunks (row_id ranges of the matching rows) that Celery workers write
in parallel as part files; the last chunk to finish queues the step that combines the parts and
publishes the file. Every step claims its row atomically, so a redelivered or re-queued message
either resumes a step whose worker died or finds nothing to do.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q


class ExportQuerySet(models.QuerySet):
    def visible_to(self, grant) -> ExportQuerySet:
        """The exports a client may see: its grant's own, nothing else (another client's is 404)."""
        if grant is None:
            return self.none()
        return self.filter(grant=grant)

    def active(self) -> ExportQuerySet:
        return self.filter(status__in=Export.ACTIVE_STATUSES)


class Export(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired"

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        JSONL = "jsonl", "JSON Lines"
        PARQUET = "parquet", "Parquet"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    grant = models.ForeignKey("researchers.AccessGrant", on_delete=models.PROTECT, related_name="exports")
    release = models.ForeignKey("moderation_data.Release", on_delete=models.PROTECT, related_name="exports")
    format = models.CharField(max_length=16, choices=Format.choices)
    query = models.JSONField(default=dict, blank=True)
    fields = models.JSONField(default=list)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    expected_rows = models.BigIntegerField(default=0, help_text="matching rows when requested (reserved)")
    row_count = models.BigIntegerField(null=True, blank=True)
    bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    file_name = models.CharField(max_length=300, blank=True, help_text="name in the exports storage")
    manifest = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    # The record quota reserved in Redis at request time (its window key, so a refund hits the same day).
    quota_key = models.CharField(max_length=200, blank=True)
    quota_reserved = models.BigIntegerField(default=0)
    quota_refunded = models.BooleanField(default=False)
    # Claims: the Celery task id holding the run/finalize step, and when a worker last proved alive.
    attempts = models.PositiveIntegerField(default=0)
    claimed_by = models.CharField(max_length=255, blank=True)
    finalized_by = models.CharField(max_length=255, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    objects = ExportQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["grant", "status"], name="export_grant_status_idx")]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.format}, {self.status})"


class ExportChunk(models.Model):
    """A row_id range ``(after_row_id, last_row_id]`` of an export, written as one part file."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    export = models.ForeignKey(Export, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    after_row_id = models.BigIntegerField()
    last_row_id = models.BigIntegerField()
    expected_rows = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    rows_written = models.BigIntegerField(default=0)
    part_name = models.CharField(max_length=300, blank=True)
    bytes = models.BigIntegerField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    claimed_by = models.CharField(max_length=255, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["export", "index"]
        constraints = [
            models.UniqueConstraint(fields=["export", "index"], name="export_chunk_unique_index"),
            models.CheckConstraint(condition=Q(last_row_id__gte=models.F("after_row_id")), name="export_chunk_range"),
        ]

    def __str__(self) -> str:
        return f"chunk {self.index} of {self.export_id}"
