"""Every state change of vetting and access: one atomic function each.

Each transition locks its row (``select_for_update``), checks that it is allowed from the
current state (else :class:`InvalidTransition`), records who/when/why, and emails the
researcher once the transaction has committed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import AccessToken, get_application_model

from moderation_data.catalog.models import Dataset
from platform_api.errors import InvalidRequest
from platform_api.links import absolute_url
from researchers.errors import EmailNotVerified, InvalidTransition, VerificationLinkInvalid
from researchers.models import (
    AccessGrant,
    ApplicationTransition,
    GrantEvent,
    Modality,
    Organisation,
    ResearchApplication,
    Researcher,
    today,
)
from researchers.reasoned_requests.bounds import check_grant_terms

logger = logging.getLogger(__name__)
User = get_user_model()
OAuthClient = get_application_model()
Status = ResearchApplication.Status
# Who made a change: a user, or None for the system (scripts, scheduled tasks).
Actor = AbstractBaseUser | None
GrantStatus = AccessGrant.Status

# Fields of a ResearchApplication a researcher fills in (everything but its state).
APPLICATION_FIELDS = (
    "title",
    "public_summary",
    "research_questions",
    "methodology",
    "systemic_risk_areas",
    "team_members",
    "ethics_body",
    "ethics_reference",
    "ethics_approval_date",
    "funding_sources",
    "independence_declaration",
    "conflicts_of_interest",
    "data_security_measures",
    "modality_requested",
    "start_date",
    "end_date",
)
QUOTA_FIELDS = (
    "requests_per_minute",
    "requests_per_day",
    "records_per_day",
    "concurrent_exports",
    "export_rows_per_month",
)
DATA_LIMIT_FIELDS = ("data_from", "data_until", "data_fields")
# The signing salt of e-mail verification links (a link for another purpose never verifies an address).
EMAIL_VERIFICATION_SALT = "researchers.email-verification"
# A researcher may ask for another verification e-mail once this many seconds have passed.
VERIFICATION_RESEND_SECONDS = 60


# --------------------------------------------------------------------------- email
def _email_after_commit(user: AbstractBaseUser | None, subject: str, body: str) -> None:
    """Send after commit: a rolled-back transition never emails, a mail failure never rolls one back."""
    if user is None or not user.email:
        return
    address = user.email

    def send() -> None:
        try:
            send_mail(f"[{settings.SITE_NAME}] {subject}", body, None, [address])
        except Exception:  # the transition stands; the log says who missed a notification
            logger.exception("could not send notification email", extra={"subject": subject})

    transaction.on_commit(send)


def _application_email(application: ResearchApplication, subject: str, message: str, reason: str = "") -> None:
    body = f'Your application "{application.title}" (#{application.pk}): {message}\n'
    if reason:
        body += f"\nMessage from the review team:\n{reason}\n"
    link = absolute_url(reverse("portal:application", args=[application.pk]))
    body += f"\nSee its status and history in the researcher portal:\n{link}\n"
    _email_after_commit(application.principal_researcher.user, subject, body)


def _grant_email(grant: AccessGrant, subject: str, message: str, reason: str = "") -> None:
    body = f'Your access grant for "{grant.application.title}" (grant #{grant.pk}): {message}\n'
    if reason:
        body += f"\nReason:\n{reason}\n"
    body += f"\nYour access, credentials and usage:\n{absolute_url(reverse('portal:dashboard'))}\n"
    _email_after_commit(grant.application.principal_researcher.user, subject, body)


# --------------------------------------------------------------------------- researchers
@transaction.atomic
def register_researcher(
    *,
    email: str,
    password: str | None,
    first_name: str,
    last_name: str,
    organisation: Organisation,
    country: str,
    orcid: str = "",
    affiliation: str = "",
) -> Researcher:
    """Create a researcher's login and profile (email is the username). Atomic."""
    email = User.objects.normalize_email(email).lower()
    if User.objects.filter(username__iexact=email).exists():
        raise InvalidRequest("An account with this email address already exists.", detail={"email": ["taken"]})
    user = User(username=email, email=email, first_name=first_name, last_name=last_name)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    return Researcher.objects.create(
        user=user, organisation=organisation, country=country.upper(), orcid=orcid, affiliation=affiliation
    )


@transaction.atomic
def get_or_create_organisation(*, name: str, country: str, type: str = Organisation.Type.OTHER) -> Organisation:
    """The organisation of that name (case-insensitive), created if new. Atomic."""
    existing = Organisation.objects.filter(name__iexact=name.strip()).first()
    if existing:
        return existing
    return Organisation.objects.create(name=name.strip(), country=country.upper(), type=type)


# --------------------------------------------------------------------------- e-mail verification
def email_verification_token(*, researcher: Researcher) -> str:
    """A signed, expiring token naming the researcher and the address it verifies (nothing is stored)."""
    return signing.dumps({"r": researcher.pk, "e": researcher.user.email.lower()}, salt=EMAIL_VERIFICATION_SALT)


@transaction.atomic
def send_email_verification(*, researcher: Researcher, force: bool = False) -> bool:
    """E-mail the researcher a verification link (after commit); at most once a minute unless ``force``. Atomic.

    Returns False, sending nothing, when the address is already verified or a link went out
    less than a minute ago.
    """
    researcher = Researcher.objects.select_for_update().select_related("user").get(pk=researcher.pk)
    now = timezone.now()
    if researcher.email_verified:
        return False
    recent = researcher.verification_sent_at and (now - researcher.verification_sent_at).total_seconds() < (
        VERIFICATION_RESEND_SECONDS
    )
    if recent and not force:
        return False
    researcher.verification_sent_at = now
    researcher.save(update_fields=["verification_sent_at"])
    link = absolute_url(reverse("portal:verify_email", args=[email_verification_token(researcher=researcher)]))
    days = settings.EMAIL_VERIFICATION_MAX_AGE_DAYS
    _email_after_commit(
        researcher.user,
        "Confirm your e-mail address",
        f"Please confirm that {researcher.user.email} is your address: open this link and press "
        f"Confirm (it works for {days} days):\n\n{link}\n\n"
        "You can submit applications once your address is confirmed. "
        "If you did not create an account, ignore this message: nothing is confirmed unless you press Confirm.\n",
    )
    return True


@transaction.atomic
def verify_email(*, token: str) -> Researcher:
    """Mark the address named by a verification link verified; idempotent. Atomic.

    A tampered, expired or outdated link (the account's address changed since) raises
    :class:`VerificationLinkInvalid` and changes nothing.
    """
    return _mark_verified(researcher_of_verification_link(token=token, lock=True))


def researcher_of_verification_link(*, token: str, lock: bool = False) -> Researcher:
    """The account a verification link names, if the link is valid (:class:`VerificationLinkInvalid` else)."""
    try:
        payload = signing.loads(
            token, salt=EMAIL_VERIFICATION_SALT, max_age=dt.timedelta(days=settings.EMAIL_VERIFICATION_MAX_AGE_DAYS)
        )
    except signing.SignatureExpired:
        raise VerificationLinkInvalid("This link has expired; log in and ask for a new one.") from None
    except signing.BadSignature:
        raise VerificationLinkInvalid() from None
    researchers = Researcher.objects.select_for_update() if lock else Researcher.objects
    researcher = researchers.select_related("user").filter(pk=payload.get("r")).first()
    if researcher is None or researcher.user.email.lower() != payload.get("e"):
        raise VerificationLinkInvalid()
    return researcher


@transaction.atomic
def mark_email_verified(*, researcher: Researcher) -> Researcher:
    """Record that the researcher proved control of their address by another e-mailed link (password reset)."""
    return _mark_verified(Researcher.objects.select_for_update().select_related("user").get(pk=researcher.pk))


def _mark_verified(researcher: Researcher) -> Researcher:
    if researcher.email_verified_at is None:
        researcher.email_verified_at = timezone.now()
        researcher.save(update_fields=["email_verified_at"])
    return researcher


# --------------------------------------------------------------------------- applications
def _record(application: ResearchApplication, *, actor: Actor, to_status: str, reason: str = "") -> None:
    ApplicationTransition.objects.create(
        application=application, actor=actor, from_status=application.status, to_status=to_status, reason=reason
    )
    application.status = to_status


def _locked(application: ResearchApplication) -> ResearchApplication:
    return (
        ResearchApplication.objects.select_for_update()
        .select_related("principal_researcher__user")
        .get(pk=application.pk)
    )


@transaction.atomic
def create_application(
    *, researcher: Researcher, fields: dict, datasets: Iterable[Dataset] = ()
) -> ResearchApplication:
    """Create a draft led by ``researcher`` (history starts with its creation). Atomic."""
    unknown = set(fields) - set(APPLICATION_FIELDS)
    if unknown:
        raise InvalidRequest(f"Unknown application fields: {', '.join(sorted(unknown))}.")
    application = ResearchApplication.objects.create(
        principal_researcher=researcher, organisation=researcher.organisation, status=Status.DRAFT, **fields
    )
    application.datasets_requested.set(datasets)
    ApplicationTransition.objects.create(
        application=application, actor=researcher.user, from_status="", to_status=Status.DRAFT, reason="created"
    )
    return application


@transaction.atomic
def update_application(
    application: ResearchApplication, *, actor: Actor, fields: dict, datasets: Iterable[Dataset] | None = None
) -> ResearchApplication:
    """Edit a draft, or an application whose reviewers asked for more information. Atomic."""
    application = _locked(application)
    if application.status not in ResearchApplication.EDITABLE:
        raise InvalidTransition(application.status, "edited")
    unknown = set(fields) - set(APPLICATION_FIELDS)
    if unknown:
        raise InvalidRequest(f"Unknown application fields: {', '.join(sorted(unknown))}.")
    for name, value in fields.items():
        setattr(application, name, value)
    application.save()
    if datasets is not None:
        application.datasets_requested.set(datasets)
    return application


def _missing_for_submission(application: ResearchApplication) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    if not application.datasets_requested.exists():
        problems["datasets_requested"] = ["Choose at least one dataset."]
    if not application.independence_declaration:
        problems["independence_declaration"] = ["The independence declaration is required to submit."]
    if not application.systemic_risk_areas:
        problems["systemic_risk_areas"] = ["Name at least one systemic-risk area the research concerns."]
    if not application.title.strip():
        problems["title"] = ["This field is required to submit."]
    for name in ResearchApplication.REQUIRED_TO_SUBMIT:
        value = getattr(application, name)
        if value is None or (isinstance(value, str) and not value.strip()):
            problems[name] = ["This field is required to submit."]
    return problems


@transaction.atomic
def submit_application(application: ResearchApplication, *, actor: Actor, reason: str = "") -> ResearchApplication:
    """Submit a draft, or answer an information request (``reason`` is then the answer). Atomic."""
    application = _locked(application)
    if application.status not in ResearchApplication.EDITABLE:
        raise InvalidTransition(application.status, Status.SUBMITTED)
    if not application.principal_researcher.email_verified:
        raise EmailNotVerified()
    answering = application.status == Status.INFO_REQUESTED
    if answering and not reason.strip():
        raise InvalidRequest("Answer the reviewers' request.", detail={"reason": ["An answer is required."]})
    problems = _missing_for_submission(application)
    if problems:
        raise InvalidRequest("The application is incomplete.", detail=problems)
    _record(application, actor=actor, to_status=Status.SUBMITTED, reason=reason)
    application.submitted_at = timezone.now()
    application.save(update_fields=["status", "submitted_at", "updated_at"])
    message = "your answer was received and the review continues." if answering else "it was submitted for review."
    _application_email(application, "Application received", message)
    return application


def _start_review_locked(application: ResearchApplication, *, reviewer: Actor) -> None:
    if application.status == Status.SUBMITTED:
        _record(application, actor=reviewer, to_status=Status.UNDER_REVIEW)


@transaction.atomic
def start_review(application: ResearchApplication, *, reviewer: Actor) -> ResearchApplication:
    """Move a submitted application under review. Atomic."""
    application = _locked(application)
    if application.status != Status.SUBMITTED:
        raise InvalidTransition(application.status, Status.UNDER_REVIEW)
    _start_review_locked(application, reviewer=reviewer)
    application.save(update_fields=["status", "updated_at"])
    _application_email(application, "Application under review", "it is now under review.")
    return application


def _require_reason(reason: str) -> str:
    if not reason.strip():
        raise InvalidRequest("Give a reason; the researcher will read it.", detail={"reason": ["Required."]})
    return reason.strip()


@transaction.atomic
def request_information(application: ResearchApplication, *, reviewer: Actor, reason: str) -> ResearchApplication:
    """Ask the applicant for more information (a submitted application goes under review first). Atomic."""
    reason = _require_reason(reason)
    application = _locked(application)
    if application.status not in ResearchApplication.DECIDABLE:
        raise InvalidTransition(application.status, Status.INFO_REQUESTED)
    _start_review_locked(application, reviewer=reviewer)
    _record(application, actor=reviewer, to_status=Status.INFO_REQUESTED, reason=reason)
    application.save(update_fields=["status", "updated_at"])
    _application_email(application, "Information requested", "the review team needs more information from you.", reason)
    return application


@transaction.atomic
def reject_application(application: ResearchApplication, *, reviewer: Actor, reason: str) -> ResearchApplication:
    """Reject an application under review (a submitted one goes under review first). Atomic."""
    reason = _require_reason(reason)
    application = _locked(application)
    if application.status not in ResearchApplication.DECIDABLE:
        raise InvalidTransition(application.status, Status.REJECTED)
    _start_review_locked(application, reviewer=reviewer)
    _record(application, actor=reviewer, to_status=Status.REJECTED, reason=reason)
    application.decided_at = timezone.now()
    application.save(update_fields=["status", "decided_at", "updated_at"])
    _application_email(application, "Application rejected", "it was not approved.", reason)
    return application


@transaction.atomic
def withdraw_application(application: ResearchApplication, *, actor: Actor, reason: str = "") -> ResearchApplication:
    """The applicant withdraws an application before any decision. Atomic."""
    application = _locked(application)
    if application.status not in ResearchApplication.WITHDRAWABLE:
        raise InvalidTransition(application.status, Status.WITHDRAWN)
    _record(application, actor=actor, to_status=Status.WITHDRAWN, reason=reason)
    application.save(update_fields=["status", "updated_at"])
    _application_email(application, "Application withdrawn", "it was withdrawn.")
    return application


def _check_terms(
    *, datasets: list[Dataset], modality: str, valid_from: dt.date, valid_until: dt.date, quotas: dict
) -> None:
    problems: dict[str, list[str]] = {}
    if not datasets:
        problems["datasets"] = ["A grant needs at least one dataset."]
    if modality not in Modality.values:
        problems["modality"] = [f"Choose one of {', '.join(Modality.values)}."]
    if valid_until < valid_from:
        problems["valid_until"] = ["The end date must not be before the start date."]
    for name, value in quotas.items():
        if name not in QUOTA_FIELDS:
            problems[name] = ["Unknown quota."]
        elif not isinstance(value, int) or value < (1 if name.startswith("requests") else 0):
            problems[name] = ["Must be a positive whole number."]
    if problems:
        raise InvalidRequest("The grant's terms are invalid.", detail=problems)


def _check_data_limits(*, data_from: dt.date | None, data_until: dt.date | None, data_fields: list[str]) -> None:
    from moderation_data.catalog.codebook import CODEBOOKS

    known = {field["name"] for codebook in CODEBOOKS.values() for field in codebook()}
    problems: dict[str, list[str]] = {}
    if data_from and data_until and data_until < data_from:
        problems["data_until"] = ["The end of the data period must not be before its start."]
    unknown = sorted(set(data_fields) - known)
    if unknown:
        problems["data_fields"] = [f"Unknown fields: {', '.join(unknown)}."]
    if problems:
        raise InvalidRequest("The grant's data limits are invalid.", detail=problems)


@transaction.atomic
def approve_application(
    application: ResearchApplication,
    *,
    reviewer: Actor,
    reason: str = "",
    datasets: Iterable[Dataset] | None = None,
    modality: str | None = None,
    valid_from: dt.date | None = None,
    valid_until: dt.date | None = None,
    quotas: dict | None = None,
) -> AccessGrant:
    """Approve an application under review and issue exactly one grant with its OAuth client. Atomic.

    The terms default to what was requested. The client's first secret is random and never
    shown: the researcher collects a fresh one in the portal (see :func:`rotate_client_secret`).
    """
    application = _locked(application)
    if application.status not in ResearchApplication.DECIDABLE:
        raise InvalidTransition(application.status, Status.APPROVED)
    datasets = list(application.datasets_requested.all() if datasets is None else datasets)
    modality = modality or application.modality_requested
    valid_from = valid_from or max(application.start_date, today())
    valid_until = valid_until or application.end_date
    quotas = quotas or {}
    _check_terms(datasets=datasets, modality=modality, valid_from=valid_from, valid_until=valid_until, quotas=quotas)

    _start_review_locked(application, reviewer=reviewer)
    _record(application, actor=reviewer, to_status=Status.APPROVED, reason=reason)
    application.decided_at = timezone.now()
    application.save(update_fields=["status", "decided_at", "updated_at"])
    grant = _issue_grant(
        application,
        actor=reviewer,
        datasets=datasets,
        modality=modality,
        valid_from=valid_from,
        valid_until=valid_until,
        quotas=quotas,
        reason=reason,
    )
    _application_email(
        application,
        "Application approved",
        f"it was approved. Your access is valid from {valid_from} until {valid_until}. "
        "Log in to the researcher portal to collect your API credentials (shown once).",
        reason,
    )
    return grant


def _issue_grant(
    application: ResearchApplication,
    *,
    actor: Actor,
    datasets: list[Dataset],
    modality: str,
    valid_from: dt.date,
    valid_until: dt.date,
    quotas: dict,
    reason: str,
) -> AccessGrant:
    grant = AccessGrant.objects.create(
        application=application,
        modality=modality,
        valid_from=valid_from,
        valid_until=valid_until,
        oauth_client=_new_oauth_client(application),
        **quotas,
    )
    grant.datasets.set(datasets)
    GrantEvent.objects.create(
        grant=grant, kind=GrantEvent.Kind.CREATED, actor=actor, to_status=grant.status, reason=reason
    )
    return grant


def _new_oauth_client(application: ResearchApplication):
    return OAuthClient.objects.create(
        name=f"Research application #{application.pk}"[:255],
        client_type=OAuthClient.CLIENT_CONFIDENTIAL,
        authorization_grant_type=OAuthClient.GRANT_CLIENT_CREDENTIALS,
        hash_client_secret=True,
        # Random and never shown; hashed on save by django-oauth-toolkit.
        client_secret=generate_client_secret(),
        redirect_uris="",
    )


# --------------------------------------------------------------------------- grants
def _locked_grant(grant: AccessGrant) -> AccessGrant:
    return (
        AccessGrant.objects.select_for_update()
        .select_related("application__principal_researcher__user", "oauth_client")
        .get(pk=grant.pk)
    )


def _revoke_tokens(grant: AccessGrant) -> int:
    """Delete every access token of the grant's client (the request-time check would refuse them anyway)."""
    deleted, _ = AccessToken.objects.filter(application_id=grant.oauth_client_id).delete()
    return deleted


def _grant_transition(grant: AccessGrant, *, actor: Actor, kind: str, to_status: str, reason: str = "") -> None:
    GrantEvent.objects.create(
        grant=grant, kind=kind, actor=actor, from_status=grant.status, to_status=to_status, reason=reason
    )
    grant.status = to_status
    grant.save(update_fields=["status", "updated_at"])


@transaction.atomic
def suspend_grant(grant: AccessGrant, *, actor: Actor, reason: str) -> AccessGrant:
    """Suspend an active grant: its tokens fail on the next request. Atomic."""
    reason = _require_reason(reason)
    grant = _locked_grant(grant)
    if grant.status != GrantStatus.ACTIVE:
        raise InvalidTransition(grant.status, GrantStatus.SUSPENDED, what="grant")
    _grant_transition(
        grant, actor=actor, kind=GrantEvent.Kind.SUSPENDED, to_status=GrantStatus.SUSPENDED, reason=reason
    )
    _revoke_tokens(grant)
    _grant_email(
        grant, "Access suspended", "it was suspended; API requests are refused until it is reinstated.", reason
    )
    return grant


@transaction.atomic
def reinstate_grant(grant: AccessGrant, *, actor: Actor, reason: str = "") -> AccessGrant:
    """Reinstate a suspended (or expired, once its end date was extended) grant. Atomic."""
    grant = _locked_grant(grant)
    if grant.status not in (GrantStatus.SUSPENDED, GrantStatus.EXPIRED):
        raise InvalidTransition(grant.status, GrantStatus.ACTIVE, what="grant")
    if grant.valid_until < today():
        raise InvalidRequest(
            "The grant's end date has passed; extend it before reinstating.",
            detail={"valid_until": ["In the past."]},
        )
    _grant_transition(grant, actor=actor, kind=GrantEvent.Kind.REINSTATED, to_status=GrantStatus.ACTIVE, reason=reason)
    _grant_email(grant, "Access reinstated", "it was reinstated; request a new token to continue.", reason)
    return grant


@transaction.atomic
def revoke_grant(grant: AccessGrant, *, actor: Actor, reason: str) -> AccessGrant:
    """Revoke a grant for good: its client can never authenticate again. Atomic."""
    reason = _require_reason(reason)
    grant = _locked_grant(grant)
    if grant.status == GrantStatus.REVOKED:
        raise InvalidTransition(grant.status, GrantStatus.REVOKED, what="grant")
    _grant_transition(grant, actor=actor, kind=GrantEvent.Kind.REVOKED, to_status=GrantStatus.REVOKED, reason=reason)
    _revoke_tokens(grant)
    _grant_email(grant, "Access revoked", "it was revoked.", reason)
    return grant


@transaction.atomic
def update_grant(
    grant: AccessGrant,
    *,
    actor: Actor,
    datasets: Iterable[Dataset] | None = None,
    modality: str | None = None,
    valid_from: dt.date | None = None,
    valid_until: dt.date | None = None,
    quotas: dict | None = None,
    data_limits: dict | None = None,
    reason: str = "",
) -> AccessGrant:
    """Change a grant's terms; tokens lose any dataset or exports right removed at once. Atomic.

    ``data_limits`` ({"data_from", "data_until", "data_fields"}) replaces the limits on the rows and
    fields served. A DSC grant's terms can never go beyond its reasoned request.
    """
    grant = _locked_grant(grant)
    if grant.status == GrantStatus.REVOKED:
        raise InvalidTransition(grant.status, "edited", what="grant")
    new_datasets = list(grant.datasets.all() if datasets is None else datasets)
    new = {
        "modality": modality or grant.modality,
        "valid_from": valid_from or grant.valid_from,
        "valid_until": valid_until or grant.valid_until,
    }
    quotas = quotas or {}
    _check_terms(datasets=new_datasets, quotas=quotas, **new)
    limits = {name: getattr(grant, name) for name in DATA_LIMIT_FIELDS}
    if data_limits is not None:
        unknown = set(data_limits) - set(DATA_LIMIT_FIELDS)
        if unknown:
            raise InvalidRequest(f"Unknown data limits: {', '.join(sorted(unknown))}.")
        limits.update(data_limits)
        limits["data_fields"] = list(limits["data_fields"] or [])
        _check_data_limits(**limits)
    check_grant_terms(grant, datasets=new_datasets, **new, **limits)
    changes = []
    for name, value in {**new, **quotas, **limits}.items():
        if getattr(grant, name) != value:
            changes.append(f"{name}: {getattr(grant, name)} → {value}")
            setattr(grant, name, value)
    old_slugs = {d.slug for d in grant.datasets.all()}
    new_slugs = {d.slug for d in new_datasets}
    if old_slugs != new_slugs:
        changes.append(f"datasets: {', '.join(sorted(old_slugs))} → {', '.join(sorted(new_slugs))}")
        grant.datasets.set(new_datasets)
    if not changes:
        return grant
    grant.save()
    GrantEvent.objects.create(
        grant=grant,
        kind=GrantEvent.Kind.UPDATED,
        actor=actor,
        from_status=grant.status,
        to_status=grant.status,
        reason="; ".join(changes) + (f". {reason}" if reason else ""),
    )
    _grant_email(grant, "Access terms changed", "its terms changed:\n" + "\n".join(changes), reason)
    return grant


@transaction.atomic
def rotate_client_secret(grant: AccessGrant, *, actor: Actor, reason: str = "", secret: str | None = None) -> str:
    """Give the grant's client a fresh secret and return it (the only time it exists in plaintext). Atomic.

    The previous secret stops working at once, and tokens issued with it are revoked. ``secret``
    sets a given one instead of a generated one (the demo keeps its client's secret across runs).
    """
    grant = _locked_grant(grant)
    if grant.status == GrantStatus.REVOKED:
        raise InvalidTransition(grant.status, "given a new secret", what="grant")
    if secret is not None and len(secret) < 32:
        raise InvalidRequest("A client secret has at least 32 characters.", detail={"secret": ["too short"]})
    secret = secret or generate_client_secret()
    oauth_client = grant.oauth_client
    oauth_client.client_secret = secret  # hashed by ClientSecretField on save
    oauth_client.save(update_fields=["client_secret", "updated"])
    _revoke_tokens(grant)
    first = grant.secret_issued_at is None
    grant.secret_issued_at = timezone.now()
    grant.save(update_fields=["secret_issued_at", "updated_at"])
    GrantEvent.objects.create(
        grant=grant,
        kind=GrantEvent.Kind.SECRET_ROTATED,
        actor=actor,
        from_status=grant.status,
        to_status=grant.status,
        reason=reason or ("first secret issued" if first else "secret rotated"),
    )
    if not first:
        _grant_email(
            grant,
            "Client secret rotated",
            "its client secret was replaced; the previous secret and its tokens no longer work.",
        )
    return secret


def expire_grants(*, on: dt.date | None = None) -> int:
    """Mark every active or suspended grant past its end date expired; idempotent. Returns how many."""
    on = on or today()
    expired = 0
    candidates = AccessGrant.objects.filter(
        status__in=[GrantStatus.ACTIVE, GrantStatus.SUSPENDED], valid_until__lt=on
    ).values_list("pk", flat=True)
    for pk in candidates:
        with transaction.atomic():
            grant = (
                AccessGrant.objects.select_for_update(skip_locked=True)
                .select_related("application__principal_researcher__user", "oauth_client")
                .filter(pk=pk, status__in=[GrantStatus.ACTIVE, GrantStatus.SUSPENDED], valid_until__lt=on)
                .first()
            )
            if grant is None:  # changed meanwhile, or being changed by someone else right now
                continue
            _grant_transition(
                grant,
                actor=None,
                kind=GrantEvent.Kind.EXPIRED,
                to_status=GrantStatus.EXPIRED,
                reason=f"end date {grant.valid_until} passed",
            )
            _revoke_tokens(grant)
            _grant_email(grant, "Access expired", f"it expired at the end of {grant.valid_until}.")
            expired += 1
    return expired


# --------------------------------------------------------------------------- scripted onboarding
def _onboarding_email(email: str) -> str:
    """The login of a scripted onboarding, normalized; ``invalid_request`` naming it unless it is an address."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    normalized = User.objects.normalize_email(email.strip()).lower()
    try:
        validate_email(normalized)
    except ValidationError:
        raise InvalidRequest(f"{email!r} is not an email address (it becomes the researcher's login).") from None
    return normalized


def _onboarding_country(country: str) -> str:
    """An ISO 3166-1 alpha-2 code (or ``EU``), upper-cased; ``invalid_request`` naming anything else.

    A country's name or alpha-3 code is refused too (the ``objects.create`` calls below skip the
    model's validation), with the code it stands for as a hint.
    """
    from django_countries import countries

    from researchers.models import country_choices

    code = country.strip().upper()
    if not code or code in dict(country_choices()):
        return code
    hint = countries.by_name(country.strip()) or (countries.alpha2(code) if len(code) == 3 else "")
    suggestion = f" Did you mean {hint}?" if hint else ""
    raise InvalidRequest(
        f"{country!r} is not a country code: use a two-letter ISO 3166-1 code, e.g. DE (or EU).{suggestion}"
    )


def _onboarding_lengths(**texts: tuple[str, type, str]) -> None:
    """``invalid_request`` naming each text longer than the column it is stored in (a database error else)."""
    for option, (text, model, field) in texts.items():
        limit = model._meta.get_field(field).max_length
        if len(text.strip()) > limit:
            raise InvalidRequest(f"--{option} is {len(text.strip())} characters long; at most {limit} are stored.")


@transaction.atomic
def grant_access(
    *,
    email: str,
    project: str,
    datasets: list[Dataset],
    modality: str = Modality.RECORDS,
    valid_until: dt.date | None = None,
    quotas: dict | None = None,
    organisation_name: str = "",
    country: str = "",
    actor: Actor = None,
    reason: str = "Onboarded with grant_access",
    keep_secret: str | None = None,
) -> tuple[AccessGrant, str]:
    """Onboard a researcher in one step (e.g. after a DSA reasoned request); returns the grant and a fresh secret.

    Creates or reuses the researcher and organisation, an approved application for the project
    (with its history entry) and an active grant; re-running for the same project updates that
    grant's terms instead of creating another. Atomic. With ``keep_secret`` (the demo's saved
    secret), a client that already has that secret keeps it and its tokens; otherwise it gets it.
    """
    email = _onboarding_email(email)  # all checked before anything is created
    country = _onboarding_country(country)
    _onboarding_lengths(
        project=(project, ResearchApplication, "title"), organisation=(organisation_name, Organisation, "name")
    )
    valid_until = valid_until or today() + dt.timedelta(days=365)
    quotas = quotas or {}
    user = User.objects.filter(username__iexact=email).first() or User.objects.filter(email__iexact=email).first()
    researcher = getattr(user, "researcher", None) if user else None
    if researcher is None:
        organisation = get_or_create_organisation(
            name=organisation_name or "Independent researchers", country=country or "EU"
        )
        if user is None:
            researcher = register_researcher(
                email=email,
                password=None,
                first_name="",
                last_name="",
                organisation=organisation,
                country=country or organisation.country,
            )
        else:
            researcher = Researcher.objects.create(
                user=user, organisation=organisation, country=(country or organisation.country).upper()
            )
    application = (
        ResearchApplication.objects.select_for_update()
        .filter(principal_researcher=researcher, title__iexact=project.strip(), status=Status.APPROVED)
        .first()
    )
    if application is not None and hasattr(application, "grant"):
        grant = application.grant
        if grant.status == GrantStatus.REVOKED:
            raise InvalidTransition(grant.status, "updated", what="grant")
        update_grant(
            grant,
            actor=actor,
            datasets=datasets,
            modality=modality,
            valid_from=min(grant.valid_from, today()),
            valid_until=valid_until,
            quotas=quotas,
            reason=reason,
        )
        grant.refresh_from_db()
        if grant.status != GrantStatus.ACTIVE:
            reinstate_grant(grant, actor=actor, reason=reason)
    else:
        valid_from = today()
        _check_terms(
            datasets=datasets, modality=modality, valid_from=valid_from, valid_until=valid_until, quotas=quotas
        )
        application = ResearchApplication.objects.create(
            title=project.strip(),
            public_summary=f"Access granted by the platform operator ({reason}).",
            research_questions="Recorded outside the portal.",
            methodology="Recorded outside the portal.",
            data_security_measures="Recorded outside the portal.",
            independence_declaration=True,
            organisation=researcher.organisation,
            principal_researcher=researcher,
            modality_requested=modality,
            start_date=valid_from,
            end_date=valid_until,
            status=Status.APPROVED,
            submitted_at=timezone.now(),
            decided_at=timezone.now(),
        )
        application.datasets_requested.set(datasets)
        ApplicationTransition.objects.create(
            application=application, actor=actor, from_status="", to_status=Status.APPROVED, reason=reason
        )
        grant = _issue_grant(
            application,
            actor=actor,
            datasets=datasets,
            modality=modality,
            valid_from=valid_from,
            valid_until=valid_until,
            quotas=quotas,
            reason=reason,
        )
    if keep_secret and grant.secret_issued_at and check_password(keep_secret, grant.oauth_client.client_secret):
        return grant, keep_secret
    secret = rotate_client_secret(grant, actor=actor, reason=reason, secret=keep_secret or None)
    grant.refresh_from_db()
    return grant, secret
