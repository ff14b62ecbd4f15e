"""The raw tier: moderation decisions as the platform reports them, and the imports that bring them in.

Restricted: never served by any endpoint. Releases are built from it.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from moderation_data.catalog import enums


def import_storage():
    """Uploaded import files: a private local directory (never the public media root)."""
    from django.core.files.storage import FileSystemStorage

    location = getattr(settings, "IMPORT_STORAGE_DIR", None) or settings.BASE_DIR / ".local" / "imports"
    return FileSystemStorage(location=location)


# The raw tier keeps the DSA's distinction between an absent value (NULL) and an empty one,
# hence nullable string fields throughout.
def _text() -> models.TextField:
    return models.TextField(null=True, blank=True)


def _char(max_length: int, **kwargs) -> models.CharField:
    return models.CharField(max_length=max_length, null=True, blank=True, **kwargs)


def _enum(choices: type[models.TextChoices], **kwargs) -> models.CharField:
    return _char(80, choices=choices.choices, **kwargs)


def _enum_list(choices: type[models.TextChoices]) -> ArrayField:
    return ArrayField(models.CharField(max_length=80, choices=choices.choices), null=True, blank=True)


class Decision(models.Model):
    """One moderation decision: every DSA statement-of-reasons field plus the platform's own fields."""

    # --- platform fields (docs/data.md); the key of every import
    platform_decision_id = models.CharField(max_length=255, unique=True)
    account_id = _char(255)
    content_id = _char(255)
    subject_type = _enum(enums.SubjectType)
    policy = _enum(enums.Policy)
    detection_source = _enum(enums.DetectionSource)
    detected_at = models.DateTimeField(null=True, blank=True)
    actioned_at = models.DateTimeField(null=True, blank=True)
    content_created_at = models.DateTimeField(null=True, blank=True)
    views_before_action = models.BigIntegerField(null=True, blank=True)
    uploader_country = _char(2)
    off_platform_behavior_considered = models.BooleanField(null=True, blank=True)
    reported_to_law_enforcement = models.BooleanField(null=True, blank=True)

    # --- DSA statement of reasons (v1 and v2 schema), enum values are the DSA keys
    uuid = models.UUIDField(null=True, blank=True, db_index=True)
    decision_visibility = _enum_list(enums.DecisionVisibility)
    decision_visibility_other = _text()
    end_date_visibility_restriction = models.DateTimeField(null=True, blank=True)
    decision_monetary = _enum(enums.DecisionMonetary)
    decision_monetary_other = _text()
    end_date_monetary_restriction = models.DateTimeField(null=True, blank=True)
    decision_provision = _enum(enums.DecisionProvision)
    end_date_service_restriction = models.DateTimeField(null=True, blank=True)
    decision_account = _enum(enums.DecisionAccount)
    end_date_account_restriction = models.DateTimeField(null=True, blank=True)
    account_type = _enum(enums.AccountType)
    decision_ground = _enum(enums.DecisionGround)
    decision_ground_reference_url = _text()
    illegal_content_legal_ground = _text()
    illegal_content_explanation = _text()
    incompatible_content_ground = _text()
    incompatible_content_explanation = _text()
    incompatible_content_illegal = _enum(enums.YesNo)
    category = _enum(enums.Category)
    category_addition = _enum_list(enums.Category)
    category_specification = _enum_list(enums.Keyword)
    category_specification_other = _text()
    content_type = _enum_list(enums.ContentType)
    content_type_other = _text()
    content_language = _char(8)
    content_date = models.DateTimeField(null=True, blank=True)
    content_id_ean = _char(64)
    territorial_scope = ArrayField(models.CharField(max_length=2), null=True, blank=True)
    application_date = models.DateTimeField(null=True, blank=True)
    decision_facts = _text()
    source_type = _enum(enums.SourceType)
    source_identity = _text()
    automated_detection = _enum(enums.YesNo)
    automated_decision = _enum(enums.AutomatedDecision)
    platform_name = _char(255)
    platform_uid = _char(500)
    created_at = models.DateTimeField(null=True, blank=True, help_text="DSA: when the statement was submitted")

    # --- bookkeeping
    imported_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.platform_decision_id


class Appeal(models.Model):
    """The internal complaint (DSA Art. 20) against one decision, and its outcome."""

    decision = models.OneToOneField(Decision, on_delete=models.CASCADE, related_name="appeal")
    submitted_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=enums.AppealOutcome.choices, default=enums.AppealOutcome.PENDING)
    reinstated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"appeal of {self.decision_id}"


class ImportRun(models.Model):
    """One import of a file (from the command, or an admin upload run by a Celery task)."""

    class Format(models.TextChoices):
        DSA_CSV = "dsa-csv", "DSA Transparency Database CSV (v1/v2)"
        JSONL = "jsonl", "JSON lines (DSA fields + platform fields)"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Imported with rejected rows"
        FAILED = "failed", "Failed (nothing imported)"

    file = models.FileField(upload_to="%Y/%m/", storage=import_storage, blank=True)
    source_path = models.CharField(max_length=1000, blank=True, help_text="path given to the command")
    format = models.CharField(max_length=16, choices=Format.choices, default=Format.DSA_CSV)
    strict = models.BooleanField(default=False, help_text="import nothing when any row is bad")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    rows_read = models.PositiveIntegerField(default=0)
    rows_imported = models.PositiveIntegerField(default=0)
    rows_updated = models.PositiveIntegerField(default=0)
    rows_unchanged = models.PositiveIntegerField(default=0)
    rows_rejected = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "import upload"

    def __str__(self) -> str:
        return f"import #{self.pk} ({self.get_status_display()})"


class ImportProblem(models.Model):
    """One line of an import's error report: which line, which field, why."""

    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="problems")
    line = models.PositiveIntegerField()
    field = models.CharField(max_length=100, blank=True)
    reason = models.TextField()

    class Meta:
        ordering = ["run", "line", "id"]

    def __str__(self) -> str:
        return f"line {self.line} {self.field}: {self.reason}"
