"""Reasoned requests from Digital Services Coordinators (DSA Art. 40(4)–(6), docs/dsa-article-40.md).

A DSC of establishment vets researchers itself and sends the platform a *reasoned request*
naming them, the data and the access modality. Staff record it here; the platform may ask the
DSC to amend it within 15 days of receipt (Art. 40(5)), proposing alternatives (Art. 40(6)); once
accepted it is approved into the same kind of :class:`~researchers.models.AccessGrant` as a
platform-vetted application, never wider than the request.

The history is immutable in the database (migration ``0002_dsc_reasoned_requests``): events,
amendment requests (whose DSC decision can be filled in once) and reminders are append-only,
and a request's identity (reference, DSC, receipt, window) never changes.

This module imports nothing from ``researchers.models`` at module level (that module imports
this one so Django sees these models): foreign keys are by name, shared choices are callables.
"""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils import timezone

# The EU member states (ISO 3166-1 alpha-2; Greece is GR, not the EU's "EL") and the zone of
# each DSC's seat: the amendment window counts the DSC's calendar days (docs/dsa-article-40.md).
MEMBER_STATE_TIME_ZONES: dict[str, str] = {
    "AT": "Europe/Vienna",
    "BE": "Europe/Brussels",
    "BG": "Europe/Sofia",
    "CY": "Asia/Nicosia",
    "CZ": "Europe/Prague",
    "DE": "Europe/Berlin",
    "DK": "Europe/Copenhagen",
    "EE": "Europe/Tallinn",
    "ES": "Europe/Madrid",
    "FI": "Europe/Helsinki",
    "FR": "Europe/Paris",
    "GR": "Europe/Athens",
    "HR": "Europe/Zagreb",
    "HU": "Europe/Budapest",
    "IE": "Europe/Dublin",
    "IT": "Europe/Rome",
    "LT": "Europe/Vilnius",
    "LU": "Europe/Luxembourg",
    "LV": "Europe/Riga",
    "MT": "Europe/Malta",
    "NL": "Europe/Amsterdam",
    "PL": "Europe/Warsaw",
    "PT": "Europe/Lisbon",
    "RO": "Europe/Bucharest",
    "SE": "Europe/Stockholm",
    "SI": "Europe/Ljubljana",
    "SK": "Europe/Bratislava",
}
MEMBER_STATE_CHOICES = [(code, code) for code in sorted(MEMBER_STATE_TIME_ZONES)]
# Art. 40(5): the provider may ask for an amendment within 15 days of receipt.
AMENDMENT_WINDOW_DAYS = 15
# Staff are e-mailed when this many days are left (docs/dsa-article-40.md).
REMINDER_THRESHOLDS = (5, 2)


def _modality_choices():
    from researchers.models import Modality

    return Modality.choices


def _systemic_risk_choices():
    from researchers.models import SystemicRisk

    return SystemicRisk.choices


class _DocumentStorage(FileSystemStorage):
    """Files under ``DSC_DOCUMENT_DIR``, read when used (not when models load), never the public media root."""

    @property
    def base_location(self) -> str:
        return str(settings.DSC_DOCUMENT_DIR)

    @property
    def location(self) -> str:
        return os.path.abspath(self.base_location)


def request_document_storage() -> FileSystemStorage:
    """Request documents: a private local directory, files readable by the owner only."""
    return _DocumentStorage(file_permissions_mode=0o600)


class ReasonedRequestQuerySet(models.QuerySet):
    def window_open(self, now: dt.datetime | None = None) -> ReasonedRequestQuerySet:
        return self.filter(amendment_window_closes_at__gt=now or timezone.now())

    def awaiting_decision(self) -> ReasonedRequestQuerySet:
        """Requests the platform still has to accept or ask to amend."""
        return self.filter(status=ReasonedRequest.Status.RECEIVED)


class ReasonedRequest(models.Model):
    """A DSC's reasoned request (Art. 40(4)): who may access which data, how, and until when."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received (assessing)"
        AMENDMENT_REQUESTED = "amendment_requested", "Amendment requested (awaiting the DSC)"
        APPROVED = "approved", "Approved (grant issued)"
        WITHDRAWN = "withdrawn", "Withdrawn by the DSC"

    reference = models.CharField(
        max_length=100, unique=True, help_text="The DSC's reference of the request, e.g. IE-CNAM-2026-0042."
    )
    dsc_member_state = models.CharField("DSC member state", max_length=2, choices=MEMBER_STATE_CHOICES)
    dsc_authority = models.CharField("DSC authority", max_length=200, help_text="e.g. Coimisiún na Meán")
    time_zone = models.CharField(max_length=64, help_text="The DSC's zone: the window counts its calendar days.")
    received_at = models.DateTimeField(help_text="When the request reached the platform.")
    amendment_window_closes_at = models.DateTimeField(
        db_index=True, help_text="End of the 15th day after receipt, in the DSC's zone (Art. 40(5))."
    )
    title = models.CharField("project title", max_length=300)
    research_purpose = models.TextField()
    systemic_risk_areas = ArrayField(models.CharField(max_length=40, choices=_systemic_risk_choices), default=list)
    organisation = models.ForeignKey(
        "researchers.Organisation", on_delete=models.PROTECT, related_name="reasoned_requests"
    )
    datasets = models.ManyToManyField("moderation_data.Dataset", related_name="+", verbose_name="datasets requested")
    fields_requested = ArrayField(
        models.CharField(max_length=64), default=list, blank=True, help_text="Codebook fields; empty means all."
    )
    data_from = models.DateField("data from", help_text="First day of the decisions requested.")
    data_until = models.DateField("data until", help_text="Last day of the decisions requested.")
    modality = models.CharField(max_length=32, choices=_modality_choices)
    access_from = models.DateField("access from")
    access_until = models.DateField("access until")
    security_requirements = models.TextField(blank=True)
    confidentiality_requirements = models.TextField(blank=True)
    request_document = models.FileField(upload_to="%Y/", storage=request_document_storage, blank=True)
    request_document_sha256 = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    application = models.OneToOneField(
        "researchers.ResearchApplication",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reasoned_request",
        help_text="The approved application (and grant) this request became.",
    )
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = ReasonedRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(data_until__gte=models.F("data_from")), name="dsc_data_period"),
            models.CheckConstraint(
                condition=models.Q(access_until__gte=models.F("access_from")), name="dsc_access_period"
            ),
            models.CheckConstraint(
                condition=models.Q(amendment_window_closes_at__gt=models.F("received_at")), name="dsc_window"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.dsc_authority})"

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    @property
    def principal(self) -> NamedResearcher | None:
        return self.researchers.filter(is_principal=True).first()

    @property
    def grant(self):
        application = self.application
        return getattr(application, "grant", None) if application else None


class NamedResearcher(models.Model):
    """A vetted researcher named in a request: linked to an account, or invited to create one."""

    request = models.ForeignKey(ReasonedRequest, on_delete=models.PROTECT, related_name="researchers")
    name = models.CharField(max_length=200)
    email = models.EmailField()
    orcid = models.CharField("ORCID iD", max_length=19, blank=True)
    affiliation = models.CharField(max_length=200, blank=True)
    is_principal = models.BooleanField(default=False, help_text="Collects the grant's credentials.")
    researcher = models.ForeignKey(
        "researchers.Researcher", null=True, blank=True, on_delete=models.PROTECT, related_name="dsc_nominations"
    )
    # sha256 of the random part of the last invitation link sent (the link itself is never stored).
    invitation_digest = models.CharField(max_length=64, blank=True)
    invited_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-is_principal", "name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["request", "email"], name="dsc_researcher_unique_email"),
            models.UniqueConstraint(
                fields=["request"], condition=models.Q(is_principal=True), name="dsc_one_principal"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"

    @property
    def state(self) -> str:
        if self.researcher_id:
            return "account linked"
        if self.invited_at:
            return "invited"
        return "not invited"


class AmendmentRequest(models.Model):
    """The platform's request to amend (Art. 40(5)) with its alternatives (Art. 40(6)), and the DSC's decision."""

    class Ground(models.TextChoices):
        NO_ACCESS = "no_access", "The provider does not have access to the data (Art. 40(5)(a))"
        VULNERABILITY = (
            "vulnerability",
            (
                "Access would create significant vulnerabilities for the security of the service or the "
                "protection of confidential information (Art. 40(5)(b))"
            ),
        )

    class Decision(models.TextChoices):
        AMENDED = "amended", "Amended the request"
        CONFIRMED = "confirmed", "Confirmed the request unchanged"

    request = models.ForeignKey(ReasonedRequest, on_delete=models.PROTECT, related_name="amendments")
    ground = models.CharField(max_length=20, choices=Ground.choices)
    explanation = models.TextField(help_text="Why the ground applies.")
    alternatives = models.TextField(help_text="Alternative means or data proposed (Art. 40(6)).")
    requested_at = models.DateTimeField(default=timezone.now)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    # Filled in once, when the DSC's decision arrives (a database trigger refuses any later change).
    decision = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    decided_on = models.DateField("DSC decision date", null=True, blank=True)
    decision_note = models.TextField(blank=True)
    decision_recorded_at = models.DateTimeField(null=True, blank=True)
    decision_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["requested_at", "pk"]

    def __str__(self) -> str:
        return f"Amendment of {self.request.reference} ({self.get_ground_display()[:40]})"


class ReasonedRequestEvent(models.Model):
    """One step of a request's history (append-only): who, when, what, and the details."""

    class Kind(models.TextChoices):
        RECORDED = "recorded", "Recorded"
        RESEARCHER_LINKED = "researcher_linked", "Researcher's account linked"
        INVITATION_SENT = "invitation_sent", "Invitation sent"
        INVITATION_ACCEPTED = "invitation_accepted", "Invitation accepted (account created)"
        AMENDMENT_REQUESTED = "amendment_requested", "Amendment requested"
        DSC_DECISION = "dsc_decision", "DSC decision recorded"
        APPROVED = "approved", "Approved (grant issued)"
        WITHDRAWN = "withdrawn", "Withdrawn by the DSC"
        REMINDER_SENT = "reminder_sent", "Deadline reminder sent"
        EVIDENCE_EXPORTED = "evidence_exported", "Evidence file exported"

    request = models.ForeignKey(ReasonedRequest, on_delete=models.PROTECT, related_name="history")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    note = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.at:%Y-%m-%d %H:%M}"


class DeadlineReminder(models.Model):
    """A reminder e-mailed to staff at one threshold: the unique constraint makes it once per threshold."""

    request = models.ForeignKey(ReasonedRequest, on_delete=models.PROTECT, related_name="reminders")
    threshold_days = models.PositiveSmallIntegerField()
    days_left = models.PositiveSmallIntegerField(help_text="Days left when it was sent.")
    sent_at = models.DateTimeField(default=timezone.now)
    recipients = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["sent_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["request", "threshold_days"], name="dsc_reminder_once_per_threshold")
        ]

    def __str__(self) -> str:
        return f"{self.threshold_days}-day reminder for {self.request_id}"
