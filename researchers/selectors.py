"""Scoped reads for the portal, admin and API."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from moderation_data.aggregates.selectors import budgets_of
from moderation_data.exports.models import Export
from platform_api.models import AccessEvent
from researchers.models import AccessGrant, ApplicationTransition, ResearchApplication
from researchers.quotas import RECORDS_SPENT, export_allowance, usage_today


def applications_of(user) -> QuerySet[ResearchApplication]:
    """A researcher's own applications; another researcher's are simply not found."""
    return (
        ResearchApplication.objects.of_user(user)
        .select_related("organisation", "principal_researcher__user")
        .prefetch_related("datasets_requested")
    )


def application_history(application: ResearchApplication) -> QuerySet[ApplicationTransition]:
    return application.history.select_related("actor").order_by("at", "pk")


def grants_of(user) -> QuerySet[AccessGrant]:
    return (
        AccessGrant.objects.of_user(user)
        .select_related("application", "oauth_client")
        .prefetch_related("datasets")
        .order_by("-created_at")
    )


def exports_of(user) -> QuerySet[Export]:
    """The exports of a researcher's own grants; another researcher's are simply not found."""
    return Export.objects.filter(grant__in=AccessGrant.objects.of_user(user)).select_related("release__dataset")


def grant_for_api(grant_id: int) -> AccessGrant:
    """A grant with everything /api/v1/me shows."""
    return (
        AccessGrant.objects.select_related("application__principal_researcher__user", "application__organisation")
        .prefetch_related(Prefetch("datasets"))
        .get(pk=grant_id)
    )


def team_of(application: ResearchApplication) -> list[dict]:
    """The principal researcher and the team members named in the application."""
    lead = application.principal_researcher
    team = [{"name": lead.display_name, "role": "principal researcher", "orcid": lead.orcid or None}]
    for line in application.team_members.splitlines():
        if line.strip():
            name, _, rest = line.strip().partition(",")
            team.append({"name": name.strip(), "role": rest.strip() or "team member", "orcid": None})
    return team


def usage_of(grant: AccessGrant, *, days: int = 30) -> dict:
    """A grant's usage: today's counters against its quotas, and requests/records per day from the audit log."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    # Admitted requests that did not fail on our side: what the quotas counted.
    per_day = (
        AccessEvent.objects.of_grant(grant)
        .filter(occurred_at__gte=since, status__lt=500)
        .exclude(status=429)
        .annotate(day=TruncDate("occurred_at", tzinfo=dt.UTC))
        .values("day")
        .annotate(
            requests=Count("id"),
            # Only pages spent records: export downloads and aggregates log rows that never did.
            records=Sum("rows_returned", filter=RECORDS_SPENT & Q(status__lt=400)),
            refused=Count("id", filter=Q(status__gte=400)),
        )
        .order_by("-day")
    )
    today = usage_today(grant)
    return {
        "today": {
            "requests": today["requests"],
            "records": today["records"],
            "requests_remaining": max(0, grant.requests_per_day - today["requests"]),
            "records_remaining": max(0, grant.records_per_day - today["records"]),
            "resets_at": today["resets_at"],
        },
        "quotas": grant.quotas,
        "export_allowance": export_allowance(grant),
        # The differentially private aggregates' budgets: ε left per release (docs/aggregates.md).
        "privacy_budgets": [budget.as_dict() for budget in budgets_of(grant)],
        "days": [
            {"day": d["day"], "requests": d["requests"], "records": d["records"] or 0, "refused": d["refused"]}
            for d in per_day
        ],
    }
