from __future__ import annotations

import datetime as dt

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from moderation_data.catalog.models import Dataset
from researchers import services
from researchers.models import Organisation, ResearchApplication, Researcher


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"researcher{n}@example.org")
    email = factory.LazyAttribute(lambda u: u.username)
    first_name = "Ada"
    last_name = factory.Sequence(lambda n: f"Lovelace{n}")
    password = factory.django.Password("correct horse battery staple")


class StaffFactory(UserFactory):
    username = factory.Sequence(lambda n: f"reviewer{n}@example.org")
    is_staff = True
    is_superuser = True


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"University {n}")
    country = "DE"
    type = Organisation.Type.UNIVERSITY


class ResearcherFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Researcher

    user = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    country = "DE"
    orcid = ""
    affiliation = "Institute for Platform Studies"
    # Most tests are about what happens after the address was confirmed; pass None for a new account.
    email_verified_at = factory.LazyFunction(timezone.now)


def application_fields(**overrides) -> dict:
    today = dt.date.today()
    fields = {
        "title": "Automated moderation of terrorist content",
        "public_summary": "How fast platforms act on terrorist content, and how often they err.",
        "research_questions": "How long does removal take? How many removals are reversed on appeal?",
        "methodology": "Descriptive statistics and survival analysis over the decisions dataset.",
        "systemic_risk_areas": ["public_security", "fundamental_rights"],
        "team_members": "Grace Hopper, data scientist\nAlan Turing, statistician",
        "ethics_body": "University Ethics Board",
        "ethics_reference": "EB-2025-042",
        "ethics_approval_date": today - dt.timedelta(days=30),
        "funding_sources": "Public research council grant 1234",
        "independence_declaration": True,
        "conflicts_of_interest": "",
        "data_security_measures": "Encrypted workstation in a locked room; no copies leave it.",
        "modality_requested": "records_and_exports",
        "start_date": today,
        "end_date": today + dt.timedelta(days=365),
    }
    fields.update(overrides)
    return fields


def ensure_datasets() -> list[Dataset]:
    """The catalog the migrations create (a transactional test's flush removes it for the next one)."""
    import importlib

    standard = importlib.import_module("moderation_data.migrations.0002_standard_datasets").DATASETS
    for data in standard:
        Dataset.objects.get_or_create(slug=data["slug"], defaults=data)
    return list(Dataset.objects.all())


def make_application(*, researcher: Researcher | None = None, status: str = "draft", datasets=None, **overrides):
    """An application brought to ``status`` through the services (so its history is real)."""
    researcher = researcher or ResearcherFactory()
    ensure_datasets()
    if datasets is None:
        datasets = list(Dataset.objects.filter(slug="moderation-decisions"))
    application = services.create_application(
        researcher=researcher, fields=application_fields(**overrides), datasets=datasets
    )
    reviewer = None
    steps = {
        "draft": [],
        "submitted": ["submit"],
        "under_review": ["submit", "review"],
        "info_requested": ["submit", "info"],
        "approved": ["submit", "approve"],
        "rejected": ["submit", "reject"],
        "withdrawn": ["withdraw"],
    }[status]
    for step in steps:
        if step in ("review", "info", "approve", "reject") and reviewer is None:
            reviewer = StaffFactory()
        if step == "submit":
            services.submit_application(application, actor=researcher.user)
        elif step == "review":
            services.start_review(application, reviewer=reviewer)
        elif step == "info":
            services.request_information(application, reviewer=reviewer, reason="Which ethics board?")
        elif step == "approve":
            services.approve_application(application, reviewer=reviewer, reason="ok")
        elif step == "reject":
            services.reject_application(application, reviewer=reviewer, reason="no")
        elif step == "withdraw":
            services.withdraw_application(application, actor=researcher.user)
    return ResearchApplication.objects.get(pk=application.pk)
