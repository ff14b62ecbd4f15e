"""Building reasoned requests through the services, as staff would record them."""

from __future__ import annotations

import datetime as dt
import re

from django.core import mail
from django.utils import timezone

from moderation_data.catalog.models import Dataset
from researchers.reasoned_requests import services as dsc
from researchers.reasoned_requests.models import ReasonedRequest
from tests.researchers.factories import OrganisationFactory, ensure_datasets

BASE_URL = "http://testserver"
PASSWORD = "correct horse battery staple"


def request_terms(**overrides) -> dict:
    """The keyword arguments of ``record_reasoned_request`` for a typical request."""
    ensure_datasets()
    now = timezone.now()
    terms = {
        "reference": f"IE-CNAM-2026-{now.microsecond:06d}",
        "dsc_member_state": "IE",
        "dsc_authority": "Coimisiún na Meán",
        "received_at": now - dt.timedelta(hours=1),
        "title": "Terrorist content moderation across the EU",
        "research_purpose": "How quickly and how accurately is terrorist content actioned, and how often reversed?",
        "systemic_risk_areas": ["public_security", "fundamental_rights"],
        "organisation": OrganisationFactory(),
        "datasets": list(Dataset.objects.filter(slug="moderation-decisions")),
        "data_from": dt.date(2024, 1, 1),
        "data_until": dt.date(2026, 12, 31),
        "modality": "records_and_exports",
        "access_from": timezone.localdate() - dt.timedelta(days=1),
        "access_until": timezone.localdate() + dt.timedelta(days=180),
        "researchers": [
            {"name": "Maria Schmidt", "email": f"maria{now.microsecond}@uni.example", "is_principal": True},
            {"name": "Jan Novak", "email": f"jan{now.microsecond}@uni.example", "affiliation": "Charles University"},
        ],
        "security_requirements": "Access from the university network only.",
        "confidentiality_requirements": "No re-identification attempts.",
        "base_url": BASE_URL,
        "actor": None,
    }
    terms.update(overrides)
    return terms


def record(**overrides) -> ReasonedRequest:
    return dsc.record_reasoned_request(**request_terms(**overrides))


def invitation_links(address: str) -> list[str]:
    """The invitation paths e-mailed to ``address`` (newest last)."""
    links = []
    for message in mail.outbox:
        if address in message.to:
            links += re.findall(r"https?://[^/\s]+(/portal/invitations/[^\s]+/)", message.body)
    return links


def invitation_token(address: str) -> str:
    return invitation_links(address)[-1].rstrip("/").rsplit("/", 1)[-1]


def dsc_research_client(*, datasets=("moderation-decisions",), quotas: dict | None = None, **request_overrides):
    """A reasoned request naming an existing researcher (linked, no invitation), approved with its own
    terms, the secret collected and a token obtained: the DSC route's ResearchClient."""
    import base64

    from django.test import Client

    from researchers import services as vetting
    from researchers.models import AccessGrant
    from tests.api_fixtures import ResearchClient
    from tests.researchers.factories import ResearcherFactory, StaffFactory

    principal = ResearcherFactory()
    request = record(
        researchers=[{"name": "Maria Schmidt", "email": principal.user.email, "is_principal": True}],
        datasets=list(Dataset.objects.filter(slug__in=datasets)),
        **request_overrides,
    )
    grant = dsc.approve_reasoned_request(request, reviewer=StaffFactory())
    if quotas:
        AccessGrant.objects.filter(pk=grant.pk).update(**quotas)
        grant.refresh_from_db()
    secret = vetting.rotate_client_secret(grant, actor=principal.user, reason="collected in the portal")
    client_id = grant.oauth_client.client_id
    http = Client()
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = http.post("/oauth/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert response.status_code == 200, response.content
    return ResearchClient(
        grant=grant, client_id=client_id, secret=secret, token=response.json()["access_token"], http=http
    )
