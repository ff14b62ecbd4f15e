"""The seed_demo step of the researchers app: a demo researcher with an active grant on every dataset."""

from __future__ import annotations

import secrets

from django.db import transaction

from moderation_data.catalog.models import Dataset
from researchers import services
from researchers.models import Modality

DEMO_EMAIL = "demo.researcher@example.org"
DEMO_PROJECT = "Demo project: enforcement against violent extremism"
DEMO_ORGANISATION = "Demo University"


@transaction.atomic
def seed_demo_access(*, rows: int, seed: int, stdout=None, previous: dict | None = None) -> dict:
    """Idempotent: reuses the demo researcher, application, grant and, when ``previous`` (the last run's
    output) has one, its client secret, so a saved notebook keeps working across ``make demo`` runs."""
    organisation = services.get_or_create_organisation(name=DEMO_ORGANISATION, country="NL", type="university")
    grant, secret = services.grant_access(
        email=DEMO_EMAIL,
        project=DEMO_PROJECT,
        datasets=list(Dataset.objects.all()),
        modality=Modality.RECORDS_AND_EXPORTS,
        organisation_name=organisation.name,
        country="NL",
        reason="Demo data (seed_demo)",
        keep_secret=(previous or {}).get("client_secret") or None,
    )
    researcher = grant.application.principal_researcher
    # The demo address has no mailbox: confirm it, so the demo portal shows what a confirmed researcher sees.
    services.mark_email_verified(researcher=researcher)
    user = researcher.user
    if not user.first_name:
        user.first_name, user.last_name = "Demo", "Researcher"
    password = secrets.token_urlsafe(12)
    user.set_password(password)
    user.save()
    if stdout is not None:
        stdout.write(f"demo grant #{grant.pk} on {', '.join(grant.scope_names())}\n")
    return {
        "client_id": grant.oauth_client.client_id,
        "client_secret": secret,
        "researcher_email": DEMO_EMAIL,
        "researcher_password": password,
    }
