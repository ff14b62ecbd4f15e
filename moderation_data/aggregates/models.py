"""Aggregates (docs/aggregates.md): the privacy-budget ledger, the answers it paid for, and the public summary.

* :class:`ReleaseBudget`: the global cap of a release, across all projects (ε, editable in admin).
* :class:`ProjectBudget`: what one project may spend on one release (ε, editable in admin).
* :class:`AggregateAnswer`: one charge of the ledger and the answer it bought; a repeat of the same
  query (canonical form) is answered from it at no cost, so averaging repeats gains nothing.
* :class:`AggregationTable`: the per-release table aggregates read (release rows with an integer
  privacy unit and each unit's row count, clustered by that count; see ``table``).
* :class:`PublicSummary` and its :class:`PublicSummaryCell`: the differentially private public
  enforcement summary of a release, computed once, the same for every caller.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models

EPSILON = {"max_digits": 12, "decimal_places": 6}


class ReleaseBudget(models.Model):
    """The global privacy cap of a release: what every project together may spend on it."""

    release = models.OneToOneField("moderation_data.Release", on_delete=models.CASCADE, related_name="privacy_cap")
    total_epsilon = models.DecimalField(
        **EPSILON, validators=[MinValueValidator(Decimal(0))],
        help_text="ε all projects together may spend on this release (the public summary's ε counts too)",
    )  # fmt: skip
    spent_epsilon = models.DecimalField(**EPSILON, default=Decimal(0), editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "release privacy cap"
        constraints = [
            models.CheckConstraint(condition=models.Q(spent_epsilon__gte=0), name="release_budget_spent_nonnegative"),
            models.CheckConstraint(condition=models.Q(total_epsilon__gte=0), name="release_budget_total_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.release}: {self.spent_epsilon} of ε {self.total_epsilon}"


class ProjectBudget(models.Model):
    """One project's privacy budget on one release."""

    release = models.ForeignKey("moderation_data.Release", on_delete=models.CASCADE, related_name="project_budgets")
    project = models.ForeignKey(
        "researchers.ResearchApplication", on_delete=models.PROTECT, related_name="privacy_budgets"
    )
    total_epsilon = models.DecimalField(
        **EPSILON, validators=[MinValueValidator(Decimal(0))], help_text="ε this project may spend on this release"
    )
    spent_epsilon = models.DecimalField(**EPSILON, default=Decimal(0), editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "project privacy budget"
        constraints = [
            models.UniqueConstraint(fields=["release", "project"], name="project_budget_unique"),
            models.CheckConstraint(condition=models.Q(spent_epsilon__gte=0), name="project_budget_spent_nonnegative"),
            models.CheckConstraint(condition=models.Q(total_epsilon__gte=0), name="project_budget_total_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.project_id} on {self.release}: {self.spent_epsilon} of ε {self.total_epsilon}"


class AggregateAnswerQuerySet(models.QuerySet):
    def visible_to(self, grant) -> AggregateAnswerQuerySet:
        """The answers a client may see: its project's, nothing else."""
        if grant is None:
            return self.none()
        return self.filter(project_id=grant.application_id)


class AggregateAnswer(models.Model):
    """One entry of the ledger: the ε an answer cost, and the answer itself (served again, free, to a repeat)."""

    release = models.ForeignKey("moderation_data.Release", on_delete=models.PROTECT, related_name="aggregate_answers")
    project = models.ForeignKey(
        "researchers.ResearchApplication", on_delete=models.PROTECT, related_name="aggregate_answers"
    )
    grant = models.ForeignKey(
        "researchers.AccessGrant", null=True, on_delete=models.PROTECT, related_name="aggregate_answers",
        help_text="the client that first asked (answers are immutable: the grant cannot be deleted under them)",
    )  # fmt: skip
    fingerprint = models.CharField(max_length=64, help_text="sha256 of the canonical request")
    request = models.JSONField(help_text="the canonical request (group_by sorted, query normalised)")
    epsilon = models.DecimalField(**EPSILON, help_text="ε charged to the project and the release")
    answer = models.JSONField(help_text="the noisy answer as served")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AggregateAnswerQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["release", "project", "fingerprint"], name="aggregate_answer_once")
        ]

    def __str__(self) -> str:
        return f"{self.project_id} on {self.release}: ε {self.epsilon}"


class AggregationTable(models.Model):
    """The table aggregates of a release read (built once, from the release's rows; never changes)."""

    release = models.OneToOneField(
        "moderation_data.Release", on_delete=models.CASCADE, related_name="aggregation_table"
    )
    table_name = models.CharField(max_length=63)
    rows = models.BigIntegerField()
    units = models.BigIntegerField(help_text="privacy units (accounts, or decisions without an account)")
    build_seconds = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.table_name


class PublicSummary(models.Model):
    """The public enforcement summary of a release: noisy counts from one fixed, public ε."""

    release = models.OneToOneField(
        "moderation_data.Release", on_delete=models.CASCADE, related_name="public_summary",
        help_text="the enforcement-summary release it is served as",
    )  # fmt: skip
    source = models.ForeignKey(
        "moderation_data.Release", on_delete=models.CASCADE, related_name="public_summaries",
        help_text="the row-level release whose rows it counts",
    )  # fmt: skip
    epsilon = models.DecimalField(**EPSILON)
    contribution_bound = models.PositiveIntegerField(help_text="decisions per account counted, over all tables")
    dimensions = models.JSONField(help_text="the tables, each month × one dimension")
    noise_scale = models.FloatField(help_text="Laplace scale of every cell, in decisions")
    ci95_half_width = models.FloatField(help_text="half-width of every cell's 95% interval, in decisions")
    opendp_version = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "public summaries"

    def __str__(self) -> str:
        return f"public summary of {self.source} (ε {self.epsilon})"


class PublicSummaryCell(models.Model):
    """One noisy count of the public summary: decisions in a month with one value of one dimension."""

    summary = models.ForeignKey(PublicSummary, on_delete=models.CASCADE, related_name="cells")
    dimension = models.CharField(max_length=32)
    month = models.CharField(max_length=7)
    value = models.CharField(max_length=80)
    decisions = models.BigIntegerField(help_text="noisy: may be negative where the true count is small")
    ci95_low = models.BigIntegerField()
    ci95_high = models.BigIntegerField()
    position = models.PositiveIntegerField(help_text="order of the cell in the summary")

    class Meta:
        ordering = ["summary", "position"]
        indexes = [models.Index(fields=["summary", "dimension", "month"], name="public_summary_cell_idx")]

    def __str__(self) -> str:
        return f"{self.month} {self.dimension}={self.value}: {self.decisions}"
