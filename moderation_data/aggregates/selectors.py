"""Reads of the privacy ledger and the public summary (docs/aggregates.md)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from django.conf import settings
from django.db.models import Min, QuerySet, Sum

from moderation_data.aggregates.models import (
    AggregateAnswer,
    ProjectBudget,
    PublicSummary,
    PublicSummaryCell,
    ReleaseBudget,
)
from moderation_data.catalog.models import ROW_LEVEL_SLUG, SUMMARY_SLUG
from moderation_data.releases.models import Release


@dataclasses.dataclass(frozen=True)
class BudgetStatus:
    """One project's budget on one release, and the release's global cap (the public summary's ε included)."""

    release: Release
    project_total: Decimal
    project_spent: Decimal
    release_total: Decimal
    release_spent: Decimal  # by every project
    public_epsilon: Decimal  # the public summary's, counted against the cap

    @property
    def project_remaining(self) -> Decimal:
        return max(Decimal(0), self.project_total - self.project_spent)

    @property
    def release_remaining(self) -> Decimal:
        return max(Decimal(0), self.release_total - self.release_spent - self.public_epsilon)

    @property
    def remaining(self) -> Decimal:
        """What this project can still spend on this release: the smaller of its budget and the cap's rest."""
        return min(self.project_remaining, self.release_remaining)

    @property
    def remaining_text(self) -> str:
        """ε left, as people write it (``4.25``, not ``4.250000``)."""
        return f"{self.remaining.normalize():f}"

    @property
    def total_text(self) -> str:
        return f"{self.project_total.normalize():f}"

    def as_dict(self) -> dict:
        return {
            "dataset": self.release.dataset.slug,
            "release": self.release.version,
            "epsilon_total": self.project_total,
            "epsilon_spent": self.project_spent,
            "epsilon_remaining": self.remaining,
            "release_cap_total": self.release_total,
            "release_cap_remaining": self.release_remaining,
        }


def public_epsilon(release: Release) -> Decimal:
    """The ε the public summary of a row-level release spent (it counts against the release's cap)."""
    return PublicSummary.objects.filter(source=release).aggregate(total=Sum("epsilon"))["total"] or Decimal(0)


def budget_status(release: Release, project_id: int | str) -> BudgetStatus:
    """A project's budget on a release as it stands (defaults where nothing was spent yet); no locks."""
    project = ProjectBudget.objects.filter(release=release, project_id=project_id).first()
    cap = ReleaseBudget.objects.filter(release=release).first()
    return BudgetStatus(
        release=release,
        project_total=project.total_epsilon if project else settings.AGGREGATE_PROJECT_EPSILON,
        project_spent=project.spent_epsilon if project else Decimal(0),
        release_total=cap.total_epsilon if cap else settings.AGGREGATE_RELEASE_EPSILON,
        release_spent=cap.spent_epsilon if cap else Decimal(0),
        public_epsilon=public_epsilon(release),
    )


def budgets_of(grant) -> list[BudgetStatus]:
    """The grant's project's budget on each published row-level release it may read, newest first.

    A fixed number of queries however many releases there are (one when there is none).
    """
    releases = list(
        Release.objects.published()
        .filter(dataset__slug=ROW_LEVEL_SLUG, dataset__is_active=True, dataset__grants=grant)
        .select_related("dataset")
        # Only names are shown: the release's JSON documents (codebook, report, totals) are never decoded here.
        .defer("anonymization", "privacy_report", "control_totals", "codebook")
        .order_by("-published_at", "-id")
    )
    if not releases:
        return []
    projects = {
        b.release_id: b for b in ProjectBudget.objects.filter(release__in=releases, project_id=grant.application_id)
    }
    caps = {c.release_id: c for c in ReleaseBudget.objects.filter(release__in=releases)}
    public = dict(
        PublicSummary.objects.filter(source__in=releases)
        .values("source_id")
        .annotate(total=Sum("epsilon"))
        .values_list("source_id", "total")
    )
    statuses = []
    for release in releases:
        project, cap = projects.get(release.pk), caps.get(release.pk)
        statuses.append(
            BudgetStatus(
                release=release,
                project_total=project.total_epsilon if project else settings.AGGREGATE_PROJECT_EPSILON,
                project_spent=project.spent_epsilon if project else Decimal(0),
                release_total=cap.total_epsilon if cap else settings.AGGREGATE_RELEASE_EPSILON,
                release_spent=cap.spent_epsilon if cap else Decimal(0),
                public_epsilon=public.get(release.pk) or Decimal(0),
            )
        )
    return statuses


def cached_answer(release: Release, project_id: int | str, fingerprint: str) -> AggregateAnswer | None:
    """The answer this project already paid for with the same canonical request, if any."""
    return AggregateAnswer.objects.filter(release=release, project_id=project_id, fingerprint=fingerprint).first()


def latest_public_summary() -> PublicSummary | None:
    """The summary of the newest published enforcement-summary release that has one (older ones had exact cells)."""
    return (
        PublicSummary.objects.filter(release__status=Release.Status.PUBLISHED, release__dataset__slug=SUMMARY_SLUG)
        .select_related("release")
        .order_by("-release__published_at", "-release_id")
        .first()
    )


def public_summary_cells(
    summary: PublicSummary,
    *,
    month_from: str | None = None,
    month_to: str | None = None,
    dimension: str | None = None,
    value: str | None = None,
) -> QuerySet[PublicSummaryCell]:
    cells = PublicSummaryCell.objects.filter(summary=summary)
    if month_from:
        cells = cells.filter(month__gte=month_from)
    if month_to:
        cells = cells.filter(month__lte=month_to)
    if dimension:
        cells = cells.filter(dimension=dimension)
    if value:
        cells = cells.filter(value=value)
    return cells.order_by("position")


def public_summary_values(summary: PublicSummary, dimension: str) -> tuple[str, ...]:
    """The values of one dimension of a summary, in the order its cells list them.

    Every key of a dimension's domain is published, zero or not (docs/aggregates.md), so these are the
    domain a ``value`` filter is checked against: a value outside it is refused, never answered empty.
    """
    values = (
        PublicSummaryCell.objects.filter(summary=summary, dimension=dimension)
        .values("value")
        .annotate(first=Min("position"))
        .order_by("first")
        .values_list("value", flat=True)
    )
    return tuple(values)
