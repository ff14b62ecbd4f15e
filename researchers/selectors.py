"""Scoped reads for the portal, admin and API."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from researchers.models import AccessGrant, ApplicationTransition, ResearchApplication


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
