"""Aggregates (docs/aggregates.md): the privacy ledger, cached answers, aggregation tables, the DP public summary.

Besides the tables, the database itself guards the ledger and what was published:

- ``ProjectBudget`` and ``ReleaseBudget``: ``spent_epsilon`` only ever grows, and may grow only up to
  ``total_epsilon`` (a total lowered below what was spent simply stops further spending);
- ``AggregateAnswer``: an answer, once recorded, never changes and is never deleted (a repeat must
  get exactly it);
- ``PublicSummary`` and ``PublicSummaryCell`` of a published (or withdrawn) release cannot change.
"""

from decimal import Decimal

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models

SQL = r"""
CREATE OR REPLACE FUNCTION moderation_data_budget_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.spent_epsilon < OLD.spent_epsilon THEN
        RAISE EXCEPTION 'privacy budget % of %: spent epsilon cannot decrease', OLD.id, TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.spent_epsilon > OLD.spent_epsilon AND NEW.spent_epsilon > NEW.total_epsilon THEN
        RAISE EXCEPTION 'privacy budget % of %: spending % would exceed the total %', OLD.id, TG_TABLE_NAME,
            NEW.spent_epsilon, NEW.total_epsilon USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER moderation_data_budget_guard BEFORE UPDATE ON moderation_data_projectbudget
    FOR EACH ROW EXECUTE FUNCTION moderation_data_budget_guard();
CREATE TRIGGER moderation_data_budget_guard BEFORE UPDATE ON moderation_data_releasebudget
    FOR EACH ROW EXECUTE FUNCTION moderation_data_budget_guard();

CREATE OR REPLACE FUNCTION moderation_data_answer_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'aggregate answers are immutable: % is not allowed', TG_OP USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER moderation_data_answer_guard BEFORE UPDATE OR DELETE ON moderation_data_aggregateanswer
    FOR EACH ROW EXECUTE FUNCTION moderation_data_answer_guard();

CREATE OR REPLACE FUNCTION moderation_data_public_summary_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    release_status text;
BEGIN
    IF TG_TABLE_NAME = 'moderation_data_publicsummary' THEN
        SELECT status INTO release_status FROM moderation_data_release
         WHERE id = CASE WHEN TG_OP = 'INSERT' THEN NEW.release_id ELSE OLD.release_id END;
    ELSE
        SELECT r.status INTO release_status FROM moderation_data_publicsummary s
          JOIN moderation_data_release r ON r.id = s.release_id
         WHERE s.id = CASE WHEN TG_OP = 'INSERT' THEN NEW.summary_id ELSE OLD.summary_id END;
    END IF;
    IF release_status IN ('published', 'withdrawn') THEN
        RAISE EXCEPTION 'the public summary of a published release is immutable' USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER moderation_data_public_summary_guard BEFORE INSERT OR UPDATE OR DELETE ON moderation_data_publicsummary
    FOR EACH ROW EXECUTE FUNCTION moderation_data_public_summary_guard();
CREATE TRIGGER moderation_data_public_summary_guard BEFORE INSERT OR UPDATE OR DELETE
    ON moderation_data_publicsummarycell FOR EACH ROW EXECUTE FUNCTION moderation_data_public_summary_guard();
"""

REVERSE = r"""
DROP TRIGGER IF EXISTS moderation_data_public_summary_guard ON moderation_data_publicsummarycell;
DROP TRIGGER IF EXISTS moderation_data_public_summary_guard ON moderation_data_publicsummary;
DROP FUNCTION IF EXISTS moderation_data_public_summary_guard();
DROP TRIGGER IF EXISTS moderation_data_answer_guard ON moderation_data_aggregateanswer;
DROP FUNCTION IF EXISTS moderation_data_answer_guard();
DROP TRIGGER IF EXISTS moderation_data_budget_guard ON moderation_data_releasebudget;
DROP TRIGGER IF EXISTS moderation_data_budget_guard ON moderation_data_projectbudget;
DROP FUNCTION IF EXISTS moderation_data_budget_guard();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("moderation_data", "0101_release_notes_and_doi"),
        ("researchers", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="AggregationTable",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("table_name", models.CharField(max_length=63)),
                ("rows", models.BigIntegerField()),
                (
                    "units",
                    models.BigIntegerField(help_text="privacy units (accounts, or decisions without an account)"),
                ),
                ("build_seconds", models.FloatField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "release",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="aggregation_table",
                        to="moderation_data.release",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="PublicSummary",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("epsilon", models.DecimalField(decimal_places=6, max_digits=12)),
                (
                    "contribution_bound",
                    models.PositiveIntegerField(help_text="decisions per account counted, over all tables"),
                ),
                ("dimensions", models.JSONField(help_text="the tables, each month × one dimension")),
                ("noise_scale", models.FloatField(help_text="Laplace scale of every cell, in decisions")),
                (
                    "ci95_half_width",
                    models.FloatField(help_text="half-width of every cell's 95% interval, in decisions"),
                ),
                ("opendp_version", models.CharField(max_length=32)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "release",
                    models.OneToOneField(
                        help_text="the enforcement-summary release it is served as",
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="public_summary",
                        to="moderation_data.release",
                    ),
                ),
                (
                    "source",
                    models.ForeignKey(
                        help_text="the row-level release whose rows it counts",
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="public_summaries",
                        to="moderation_data.release",
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "public summaries",
            },
        ),
        migrations.CreateModel(
            name="AggregateAnswer",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("fingerprint", models.CharField(help_text="sha256 of the canonical request", max_length=64)),
                ("request", models.JSONField(help_text="the canonical request (group_by sorted, query normalised)")),
                (
                    "epsilon",
                    models.DecimalField(
                        decimal_places=6, help_text="ε charged to the project and the release", max_digits=12
                    ),
                ),
                ("answer", models.JSONField(help_text="the noisy answer as served")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "grant",
                    models.ForeignKey(
                        help_text="the client that first asked (answers are immutable: the grant cannot be deleted under them)",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="aggregate_answers",
                        to="researchers.accessgrant",
                    ),
                ),
                (
                    "project",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="aggregate_answers",
                        to="researchers.researchapplication",
                    ),
                ),
                (
                    "release",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="aggregate_answers",
                        to="moderation_data.release",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
                "constraints": [
                    models.UniqueConstraint(fields=("release", "project", "fingerprint"), name="aggregate_answer_once")
                ],
            },
        ),
        migrations.CreateModel(
            name="ProjectBudget",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "total_epsilon",
                    models.DecimalField(
                        decimal_places=6,
                        help_text="ε this project may spend on this release",
                        max_digits=12,
                        validators=[django.core.validators.MinValueValidator(Decimal("0"))],
                    ),
                ),
                (
                    "spent_epsilon",
                    models.DecimalField(decimal_places=6, default=Decimal("0"), editable=False, max_digits=12),
                ),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "project",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="privacy_budgets",
                        to="researchers.researchapplication",
                    ),
                ),
                (
                    "release",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="project_budgets",
                        to="moderation_data.release",
                    ),
                ),
            ],
            options={
                "verbose_name": "project privacy budget",
                "constraints": [
                    models.UniqueConstraint(fields=("release", "project"), name="project_budget_unique"),
                    models.CheckConstraint(
                        condition=models.Q(("spent_epsilon__gte", 0)), name="project_budget_spent_nonnegative"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("total_epsilon__gte", 0)), name="project_budget_total_nonnegative"
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="PublicSummaryCell",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("dimension", models.CharField(max_length=32)),
                ("month", models.CharField(max_length=7)),
                ("value", models.CharField(max_length=80)),
                ("decisions", models.BigIntegerField(help_text="noisy: may be negative where the true count is small")),
                ("ci95_low", models.BigIntegerField()),
                ("ci95_high", models.BigIntegerField()),
                ("position", models.PositiveIntegerField(help_text="order of the cell in the summary")),
                (
                    "summary",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="cells",
                        to="moderation_data.publicsummary",
                    ),
                ),
            ],
            options={
                "ordering": ["summary", "position"],
                "indexes": [models.Index(fields=["summary", "dimension", "month"], name="public_summary_cell_idx")],
            },
        ),
        migrations.CreateModel(
            name="ReleaseBudget",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "total_epsilon",
                    models.DecimalField(
                        decimal_places=6,
                        help_text="ε all projects together may spend on this release (the public summary's ε counts too)",
                        max_digits=12,
                        validators=[django.core.validators.MinValueValidator(Decimal("0"))],
                    ),
                ),
                (
                    "spent_epsilon",
                    models.DecimalField(decimal_places=6, default=Decimal("0"), editable=False, max_digits=12),
                ),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "release",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="privacy_cap",
                        to="moderation_data.release",
                    ),
                ),
            ],
            options={
                "verbose_name": "release privacy cap",
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("spent_epsilon__gte", 0)), name="release_budget_spent_nonnegative"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("total_epsilon__gte", 0)), name="release_budget_total_nonnegative"
                    ),
                ],
            },
        ),
        migrations.RunSQL(SQL, REVERSE),
    ]
