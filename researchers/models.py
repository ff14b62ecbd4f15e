"""Vetting: organisations, researchers, research applications and their access grants.

django-oauth-toolkit's ``Application`` is the OAuth client of a grant and is always called
``oauth_client`` here, never "application" (that word belongs to the research application).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

# The OAuth scope of bulk exports (dataset scopes are ``Dataset.scope``).
EXPORTS_SCOPE = "exports"

COUNTRY_CODE = RegexValidator(r"^[A-Z]{2}$", "Use the two-letter ISO 3166 country code, e.g. DE.")
# Not an ISO 3166-1 country but "exceptionally reserved" for the European Union: EU-level bodies use it.
EUROPEAN_UNION = ("EU", "European Union (EU-level body)")


def country_choices() -> list[tuple[str, str]]:
    """ISO 3166-1 alpha-2 codes with their English names, sorted by name (plus ``EU``)."""
    from django_countries import countries

    return [(code, str(name)) for code, name in countries] + [EUROPEAN_UNION]


def country_name(code: str) -> str:
    """The name of a country code (the code itself if it is not a known one)."""
    return dict(country_choices()).get(code, code)


def orcid_checksum_ok(orcid: str) -> bool:
    """ISO 7064 MOD 11-2 check digit of an ORCID iD (0000-0002-1825-0097)."""
    digits = orcid.replace("-", "")
    if len(digits) != 16 or not digits[:15].isdigit():
        return False
    total = 0
    for char in digits[:15]:
        total = (total + int(char)) * 2
    result = (12 - total % 11) % 11
    expected = "X" if result == 10 else str(result)
    return digits[15].upper() == expected


def validate_orcid(value: str) -> None:
    if not RegexValidator(r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$").regex.match(value or ""):
        raise ValidationError("Enter an ORCID iD like 0000-0002-1825-0097.", code="orcid_format")
    if not orcid_checksum_ok(value):
        raise ValidationError("This ORCID iD's check digit is wrong; please check for a typo.", code="orcid_checksum")


def today() -> dt.date:
    return timezone.now().date()


class Organisation(models.Model):
    class Type(models.TextChoices):
        UNIVERSITY = "university", "University"
        PUBLIC_RESEARCH_INSTITUTE = "public_research_institute", "Public research institute"
        NON_PROFIT = "non_profit", "Non-profit organisation"
        OTHER = "other", "Other"

    name = models.CharField(max_length=200, unique=True)
    country = models.CharField(max_length=2, choices=country_choices, validators=[COUNTRY_CODE])
    type = models.CharField(max_length=32, choices=Type.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Researcher(models.Model):
    """The profile of a researcher's login."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="researcher")
    orcid = models.CharField(
        "ORCID iD", max_length=19, blank=True, validators=[validate_orcid], help_text="e.g. 0000-0002-1825-0097"
    )
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="researchers")
    affiliation = models.CharField(max_length=200, blank=True, help_text="Department, institute or position")
    country = models.CharField(max_length=2, choices=country_choices, validators=[COUNTRY_CODE])
    # Set when the researcher opened the signed link we e-mailed (or reset their password by e-mail):
    # applications can be submitted only then (docs/vetting.md).
    email_verified_at = models.DateTimeField("e-mail verified at", null=True, blank=True)
    verification_sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user__last_name", "user__first_name"]
        constraints = [
            models.UniqueConstraint(fields=["orcid"], condition=~models.Q(orcid=""), name="unique_researcher_orcid")
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.user.get_full_name() or self.user.email or self.user.username

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


class Modality(models.TextChoices):
    AGGREGATE = "aggregate", "Aggregate statistics only"
    RECORDS = "records", "Row-level records"
    RECORDS_AND_EXPORTS = "records_and_exports", "Row-level records and bulk exports"


class SystemicRisk(models.TextChoices):
    """The systemic-risk areas of DSA Art. 34(1)."""

    ILLEGAL_CONTENT = "illegal_content", "Dissemination of illegal content"
    FUNDAMENTAL_RIGHTS = "fundamental_rights", "Negative effects on fundamental rights"
    CIVIC_DISCOURSE = "civic_discourse_elections", "Civic discourse, electoral processes"
    PUBLIC_SECURITY = "public_security", "Public security"
    GENDER_BASED_VIOLENCE = "gender_based_violence", "Gender-based violence"
    PUBLIC_HEALTH = "public_health", "Public health"
    MINORS = "minors", "Protection of minors"
    WELL_BEING = "well_being", "Physical and mental well-being"


class ResearchApplicationQuerySet(models.QuerySet):
    def of_user(self, user) -> ResearchApplicationQuerySet:
        """Applications a researcher may see: those they lead."""
        return self.filter(principal_researcher__user=user)


class ResearchApplication(models.Model):
    """A project's request for access (DSA Art. 40(8)), and its vetting state."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted"
        UNDER_REVIEW = "under_review", "Under review"
        INFO_REQUESTED = "info_requested", "Information requested"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"

    EDITABLE = (Status.DRAFT, Status.INFO_REQUESTED)
    # What a submission needs beyond the title (a draft may leave them empty).
    REQUIRED_TO_SUBMIT = (
        "public_summary",
        "research_questions",
        "methodology",
        "data_security_measures",
        "start_date",
        "end_date",
    )
    WITHDRAWABLE = (Status.DRAFT, Status.SUBMITTED, Status.UNDER_REVIEW, Status.INFO_REQUESTED)
    DECIDABLE = (Status.SUBMITTED, Status.UNDER_REVIEW)

    # A draft may be saved with only its title; submit_application checks everything else
    # (REQUIRED_TO_SUBMIT), so the database allows blanks and empty dates.
    title = models.CharField(max_length=300)
    public_summary = models.TextField(blank=True, help_text="Published if the application is approved.")
    research_questions = models.TextField(blank=True)
    methodology = models.TextField(blank=True)
    systemic_risk_areas = ArrayField(models.CharField(max_length=40, choices=SystemicRisk.choices), default=list)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="applications")
    principal_researcher = models.ForeignKey(Researcher, on_delete=models.PROTECT, related_name="applications")
    team_members = models.TextField(blank=True, help_text="One per line: name, affiliation, role.")
    ethics_body = models.CharField(max_length=300, blank=True)
    ethics_reference = models.CharField(max_length=100, blank=True)
    ethics_approval_date = models.DateField(null=True, blank=True)
    funding_sources = models.TextField(blank=True)
    independence_declaration = models.BooleanField(
        default=False, help_text="Independent of commercial interests (DSA Art. 40(8)(c))."
    )
    conflicts_of_interest = models.TextField(blank=True)
    data_security_measures = models.TextField(blank=True)
    datasets_requested = models.ManyToManyField("moderation_data.Dataset", related_name="+", blank=True)
    # Row-level records: the modality whose grant every data endpoint serves today.
    modality_requested = models.CharField(max_length=32, choices=Modality.choices, default=Modality.RECORDS)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True)
    submitted_at = models.DateTimeField(null=True, blank=True, db_index=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ResearchApplicationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(end_date__gte=models.F("start_date")), name="application_dates")
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_editable(self) -> bool:
        return self.status in self.EDITABLE

    @property
    def is_withdrawable(self) -> bool:
        return self.status in self.WITHDRAWABLE

    def systemic_risk_labels(self) -> list[str]:
        """The systemic-risk areas as their names (DSA Art. 34), not their keys."""
        labels = dict(SystemicRisk.choices)
        return [str(labels.get(key, key)) for key in self.systemic_risk_areas]

    @property
    def latest_information_request(self) -> ApplicationTransition | None:
        return self.history.filter(to_status=self.Status.INFO_REQUESTED).order_by("-at", "-pk").first()


class ApplicationTransition(models.Model):
    """One step of an application's history: who moved it, when, from what to what, and why."""

    application = models.ForeignKey(ResearchApplication, on_delete=models.CASCADE, related_name="history")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    from_status = models.CharField(max_length=20, choices=ResearchApplication.Status.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=ResearchApplication.Status.choices)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status}"


class AccessGrantQuerySet(models.QuerySet):
    def of_user(self, user) -> AccessGrantQuerySet:
        return self.filter(application__principal_researcher__user=user)

    def usable(self, on: dt.date | None = None) -> AccessGrantQuerySet:
        """Grants whose tokens work today: active and not past their end date."""
        return self.filter(status=AccessGrant.Status.ACTIVE, valid_until__gte=on or today())


class AccessGrant(models.Model):
    """What an approved application receives; its OAuth client is usable only while it is active."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    application = models.OneToOneField(ResearchApplication, on_delete=models.PROTECT, related_name="grant")
    datasets = models.ManyToManyField("moderation_data.Dataset", related_name="grants")
    modality = models.CharField(max_length=32, choices=Modality.choices)
    valid_from = models.DateField()
    valid_until = models.DateField()
    requests_per_minute = models.PositiveIntegerField(default=60, validators=[MinValueValidator(1)])
    requests_per_day = models.PositiveIntegerField(default=1000, validators=[MinValueValidator(1)])
    records_per_day = models.PositiveIntegerField(default=100_000, validators=[MinValueValidator(0)])
    concurrent_exports = models.PositiveSmallIntegerField(default=2, validators=[MinValueValidator(0)])
    # Exports have an allowance of their own (docs/quotas.md): the daily record quota never caps them.
    export_rows_per_month = models.PositiveBigIntegerField(
        "export rows per month",
        default=10_000_000,
        validators=[MinValueValidator(0)],
        help_text="Rows this grant may export per calendar month (UTC); failed and cancelled exports do not count. "
        "The default lets a project export a 1M-row release ten times a month.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    oauth_client = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.PROTECT, related_name="access_grant"
    )
    # None until the researcher has collected a secret: the one made at approval was never shown.
    secret_issued_at = models.DateTimeField(null=True, blank=True)
    # Set for grants issued on a DSC's reasoned request (docs/dsa-article-40.md): shown in /me, export
    # manifests and every access event; the terms can never be wider than the request.
    dsc_reference = models.CharField("DSC request reference", max_length=100, blank=True, db_index=True)
    # Limits on the rows and fields served (empty: none). A DSC grant gets its request's.
    data_from = models.DateField(null=True, blank=True, help_text="Only decisions on or after this day.")
    data_until = models.DateField(null=True, blank=True, help_text="Only decisions on or before this day.")
    data_fields = ArrayField(
        models.CharField(max_length=64), default=list, blank=True, help_text="Only these fields (empty: all)."
    )
    # docs/pseudonyms.md: off, an account's pseudonym differs between releases; on, it is the same
    # across the project's releases (longitudinal studies), and k must hold over the linked releases.
    longitudinal_linkage = models.BooleanField(
        "longitudinal account linkage",
        default=False,
        help_text="Give an account the same pseudonym in every release this project reads (off: a new one per "
        "release). Turn on only for approved longitudinal designs.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AccessGrantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(valid_until__gte=models.F("valid_from")), name="grant_validity")
        ]

    def __str__(self) -> str:
        return f"Grant #{self.pk}: {self.application.title}"

    @property
    def project_id(self) -> str:
        """The key of per-project pseudonyms and privacy budgets."""
        return str(self.application_id)

    @property
    def allows_records(self) -> bool:
        return self.modality in (Modality.RECORDS, Modality.RECORDS_AND_EXPORTS)

    @property
    def allows_exports(self) -> bool:
        return self.modality == Modality.RECORDS_AND_EXPORTS

    def is_usable(self, on: dt.date | None = None) -> bool:
        """Active and not past its end date (a grant not yet started still authenticates)."""
        return self.status == self.Status.ACTIVE and self.valid_until >= (on or today())

    def has_started(self, on: dt.date | None = None) -> bool:
        return self.valid_from <= (on or today())

    def scope_names(self, visible_datasets=None) -> list[str]:
        """The OAuth scopes this grant allows: one per dataset it may read, plus ``exports`` where allowed.

        ``visible_datasets``: ``Dataset.objects.visible_to(self)`` when the caller has it already.
        """
        from moderation_data.catalog.models import Dataset

        if visible_datasets is None:
            visible_datasets = Dataset.objects.visible_to(self)
        scopes = [dataset.scope for dataset in visible_datasets]
        if self.allows_exports:
            scopes.append(EXPORTS_SCOPE)
        return scopes

    @property
    def data_limits(self) -> dict | None:
        """The period and fields this grant's rows are limited to, or None when it has no limits."""
        if not (self.data_from or self.data_until or self.data_fields):
            return None
        return {"from": self.data_from, "until": self.data_until, "fields": list(self.data_fields)}

    @property
    def quotas(self) -> dict[str, int]:
        return {
            "requests_per_minute": self.requests_per_minute,
            "requests_per_day": self.requests_per_day,
            "records_per_day": self.records_per_day,
            "concurrent_exports": self.concurrent_exports,
            "export_rows_per_month": self.export_rows_per_month,
        }


class GrantEvent(models.Model):
    """One change to a grant: status transitions, edits and secret rotations (who, when, why)."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        SUSPENDED = "suspended", "Suspended"
        REINSTATED = "reinstated", "Reinstated"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"
        UPDATED = "updated", "Terms updated"
        SECRET_ROTATED = "secret_rotated", "Client secret issued"

    grant = models.ForeignKey(AccessGrant, on_delete=models.CASCADE, related_name="history")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    from_status = models.CharField(max_length=16, choices=AccessGrant.Status.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=AccessGrant.Status.choices, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.at:%Y-%m-%d %H:%M}"


# The DSC route's models live in their own sub-package; importing them here registers them.
from researchers.reasoned_requests.models import (  # noqa: E402, F401
    AmendmentRequest,
    DeadlineReminder,
    NamedResearcher,
    ReasonedRequest,
    ReasonedRequestEvent,
)
