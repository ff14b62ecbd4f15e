"""Every state change of the DSC route (docs/dsa-article-40.md): one atomic function each.

Each locks the request row, checks the transition is allowed (else :class:`InvalidTransition`),
writes one history event, and sends e-mail only once the transaction has committed. Approval
goes through :func:`researchers.services.approve_application`, so a DSC grant is the same kind
of grant, collected in the portal exactly like a platform-vetted one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.files.uploadedfile import UploadedFile
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from moderation_data.catalog.codebook import CODEBOOKS
from moderation_data.catalog.models import Dataset
from platform_api.errors import Conflict, InvalidRequest
from researchers import services as vetting
from researchers.errors import InvalidTransition
from researchers.models import (
    AccessGrant,
    ApplicationTransition,
    Modality,
    Organisation,
    ResearchApplication,
    Researcher,
    SystemicRisk,
    today,
    validate_orcid,
)
from researchers.reasoned_requests import deadlines
from researchers.reasoned_requests.bounds import check_within_request
from researchers.reasoned_requests.models import (
    MEMBER_STATE_TIME_ZONES,
    REMINDER_THRESHOLDS,
    AmendmentRequest,
    DeadlineReminder,
    NamedResearcher,
    ReasonedRequest,
    ReasonedRequestEvent,
)

logger = logging.getLogger(__name__)
User = get_user_model()
Status = ReasonedRequest.Status
Kind = ReasonedRequestEvent.Kind
Actor = vetting.Actor

INVITATION_SALT = "researchers.reasoned_requests.invitation"
# The terms a DSC's decision can amend.
TERM_FIELDS = ("datasets", "fields_requested", "data_from", "data_until", "modality", "access_from", "access_until")


class AmendmentWindowClosed(Conflict):
    """An amendment request after the 15-day window (Art. 40(5))."""


# --------------------------------------------------------------------------- helpers
def _locked(request: ReasonedRequest) -> ReasonedRequest:
    return ReasonedRequest.objects.select_for_update().get(pk=request.pk)


def _event(request: ReasonedRequest, kind: str, *, actor: Actor, note: str = "", **detail) -> ReasonedRequestEvent:
    return ReasonedRequestEvent.objects.create(request=request, kind=kind, actor=actor, note=note, detail=detail)


def _mail_after_commit(addresses: list[str], subject: str, body: str) -> None:
    """Send after commit: a rolled-back step never e-mails, a mail failure never rolls one back."""
    if not addresses:
        return

    def send() -> None:
        try:
            send_mail(f"[Research data access] {subject}", body, None, addresses)
        except Exception:  # the step stands; the log says who missed the message
            logger.exception("could not send e-mail", extra={"subject": subject})

    transaction.on_commit(send)


def _known_fields() -> set[str]:
    return {field["name"] for codebook in CODEBOOKS.values() for field in codebook()}


def _check_terms(terms: dict) -> None:
    problems: dict[str, list[str]] = {}
    if not terms["datasets"]:
        problems["datasets"] = ["Name at least one dataset."]
    if terms["modality"] not in Modality.values:
        problems["modality"] = [f"Choose one of {', '.join(Modality.values)}."]
    if terms["data_until"] < terms["data_from"]:
        problems["data_until"] = ["The data period must not end before it starts."]
    if terms["access_until"] < terms["access_from"]:
        problems["access_until"] = ["The access period must not end before it starts."]
    unknown = sorted(set(terms["fields_requested"]) - _known_fields())
    if unknown:
        problems["fields_requested"] = [f"Not in any codebook: {', '.join(unknown)}."]
    if problems:
        raise InvalidRequest("The terms of the reasoned request are invalid.", detail=problems)


def _terms_of(request: ReasonedRequest) -> dict:
    return {
        "datasets": sorted(d.slug for d in request.datasets.all()),
        "fields_requested": list(request.fields_requested),
        "data_from": request.data_from.isoformat(),
        "data_until": request.data_until.isoformat(),
        "modality": request.modality,
        "access_from": request.access_from.isoformat(),
        "access_until": request.access_until.isoformat(),
    }


def _document_digest(document: UploadedFile) -> str:
    digest = hashlib.sha256()
    for chunk in document.chunks():
        digest.update(chunk)
    document.seek(0)
    return digest.hexdigest()


# --------------------------------------------------------------------------- recording
@transaction.atomic
def record_reasoned_request(
    *,
    reference: str,
    dsc_member_state: str,
    dsc_authority: str,
    received_at: dt.datetime,
    title: str,
    research_purpose: str,
    systemic_risk_areas: list[str],
    organisation: Organisation,
    datasets: Iterable[Dataset],
    data_from: dt.date,
    data_until: dt.date,
    modality: str,
    access_from: dt.date,
    access_until: dt.date,
    researchers: list[dict],
    actor: Actor,
    base_url: str | None = None,
    fields_requested: Iterable[str] = (),
    security_requirements: str = "",
    confidentiality_requirements: str = "",
    request_document: UploadedFile | None = None,
    now: dt.datetime | None = None,
) -> ReasonedRequest:
    """Record a DSC's reasoned request with its 15-day amendment window, and invite the researchers it names. Atomic.

    ``researchers``: dicts with ``name``, ``email`` and optionally ``orcid``, ``affiliation``,
    ``is_principal`` (exactly one principal, who collects the credentials). Named researchers
    with an account whose address is verified are linked to it; the others receive an invitation
    link (after commit).
    """
    now = now or timezone.now()
    reference = reference.strip()
    problems: dict[str, list[str]] = {}
    if not reference:
        problems["reference"] = ["Required."]
    elif ReasonedRequest.objects.filter(reference__iexact=reference).exists():
        problems["reference"] = ["A request with this reference is already recorded."]
    if dsc_member_state not in MEMBER_STATE_TIME_ZONES:
        problems["dsc_member_state"] = ["Choose an EU member state (two-letter code)."]
    if received_at.tzinfo is None:
        problems["received_at"] = ["Give the time zone of the receipt."]
    elif received_at > now:
        problems["received_at"] = ["The receipt cannot be in the future."]
    unknown_risks = sorted(set(systemic_risk_areas) - set(SystemicRisk.values))
    if unknown_risks:
        problems["systemic_risk_areas"] = [f"Unknown: {', '.join(unknown_risks)}."]
    problems.update(_researcher_problems(researchers))
    if problems:
        raise InvalidRequest("The reasoned request is incomplete or invalid.", detail=problems)
    datasets = list(datasets)
    terms = {
        "datasets": datasets,
        "fields_requested": list(dict.fromkeys(f.strip() for f in fields_requested if f.strip())),
        "data_from": data_from,
        "data_until": data_until,
        "modality": modality,
        "access_from": access_from,
        "access_until": access_until,
    }
    _check_terms(terms)

    zone = deadlines.zone_of(dsc_member_state)
    request = ReasonedRequest(
        reference=reference,
        dsc_member_state=dsc_member_state,
        dsc_authority=dsc_authority.strip(),
        time_zone=zone.key,
        received_at=received_at,
        amendment_window_closes_at=deadlines.window_closes_at(received_at, zone),
        title=title.strip(),
        research_purpose=research_purpose.strip(),
        systemic_risk_areas=list(systemic_risk_areas),
        organisation=organisation,
        fields_requested=terms["fields_requested"],
        data_from=data_from,
        data_until=data_until,
        modality=modality,
        access_from=access_from,
        access_until=access_until,
        security_requirements=security_requirements.strip(),
        confidentiality_requirements=confidentiality_requirements.strip(),
        recorded_by=actor,
    )
    if request_document is not None:
        request.request_document_sha256 = _document_digest(request_document)
        request.request_document.save(request_document.name, request_document, save=False)
    request.save()
    request.datasets.set(datasets)
    for person in researchers:
        NamedResearcher.objects.create(
            request=request,
            name=person["name"].strip(),
            email=User.objects.normalize_email(person["email"].strip()).lower(),
            orcid=(person.get("orcid") or "").strip(),
            affiliation=(person.get("affiliation") or "").strip(),
            is_principal=bool(person.get("is_principal")),
        )
    _event(
        request,
        Kind.RECORDED,
        actor=actor,
        note=f"Received {received_at.astimezone(zone):%Y-%m-%d %H:%M %Z}; the amendment window closes "
        f"{request.amendment_window_closes_at.astimezone(zone):%Y-%m-%d %H:%M %Z}.",
        terms=_terms_of(request),
        document_sha256=request.request_document_sha256,
    )
    invite_researchers(request, actor=actor, base_url=base_url)
    return request


def _researcher_problems(researchers: list[dict]) -> dict[str, list[str]]:
    problems: list[str] = []
    if not researchers:
        problems.append("Name at least one vetted researcher.")
    principals = [r for r in researchers if r.get("is_principal")]
    if researchers and len(principals) != 1:
        problems.append("Mark exactly one researcher as principal (they collect the credentials).")
    emails = [User.objects.normalize_email((r.get("email") or "").strip()).lower() for r in researchers]
    if len(set(emails)) != len(emails):
        problems.append("Each researcher needs their own e-mail address.")
    for person in researchers:
        if not (person.get("name") or "").strip() or "@" not in (person.get("email") or ""):
            problems.append("Each researcher needs a name and an e-mail address.")
            break
    for person in researchers:
        if person.get("orcid"):
            try:
                validate_orcid(person["orcid"].strip())
            except Exception:
                problems.append(f"The ORCID iD of {person.get('name', '?')} is not valid.")
    return {"researchers": problems} if problems else {}


# --------------------------------------------------------------------------- invitations
def _invitation_token(named: NamedResearcher) -> str:
    """A fresh signed link token for ``named``; only a digest of its random part is stored."""
    nonce = secrets.token_urlsafe(24)
    named.invitation_digest = hashlib.sha256(nonce.encode()).hexdigest()
    return signing.dumps({"i": named.pk, "n": nonce}, salt=INVITATION_SALT)


def invitation_url(base_url: str | None, token: str) -> str:
    """The absolute link of an invitation (under ``PUBLIC_BASE_URL`` unless told otherwise)."""
    return (base_url or settings.PUBLIC_BASE_URL).rstrip("/") + reverse("portal:invitation", args=[token])


@transaction.atomic
def invite_researchers(
    request: ReasonedRequest, *, actor: Actor, base_url: str | None = None, resend: bool = False
) -> int:
    """Link named researchers who have a verified account, and e-mail the others an invitation link. Atomic.

    Only an account whose owner proved the address is linked: anyone can register any address,
    so an account that never did is treated as no account, and the invitation link, sent to the
    address the DSC named, proves it instead.

    Returns how many invitations were sent. ``resend`` sends a new link to those already invited
    (the previous link stops working).
    """
    request = _locked(request)
    if request.status == Status.WITHDRAWN:
        raise InvalidTransition(request.status, "invited", what="reasoned request")
    sent = 0
    for named in request.researchers.select_for_update().filter(researcher__isnull=True):
        existing = _verified_researcher(named.email)
        if existing is not None:
            _link(named, existing, actor=actor, note="An account with this verified address existed.")
            continue
        if named.invited_at and not resend:
            continue
        token = _invitation_token(named)
        named.invited_at = timezone.now()
        named.save(update_fields=["invitation_digest", "invited_at"])
        _event(request, Kind.INVITATION_SENT, actor=actor, note=named.email, named_researcher=named.pk)
        days = settings.DSC_INVITATION_MAX_AGE_DAYS
        _mail_after_commit(
            [named.email],
            f"Invitation: data access on reasoned request {request.reference}",
            f"Dear {named.name},\n\n{request.dsc_authority}, the Digital Services Coordinator of "
            f"{request.dsc_member_state}, has vetted you for access to data for the project "
            f'"{request.title}" (reasoned request {request.reference}, DSA Art. 40(4)).\n\n'
            f"Create your account in the researcher portal with this personal link (valid for {days} days):\n"
            f"{invitation_url(base_url, token)}\n\n"
            + (
                "Once access is approved you will collect your API credentials in the portal.\n"
                if named.is_principal
                else "The principal researcher of the project collects the API credentials.\n"
            ),
        )
        sent += 1
    return sent


def _verified_researcher(email: str) -> Researcher | None:
    """The active account registered with ``email`` whose owner proved the address, if any."""
    return (
        Researcher.objects.filter(user__email__iexact=email, user__is_active=True, email_verified_at__isnull=False)
        .select_related("user")
        .first()
    )


def _link(named: NamedResearcher, researcher: Researcher, *, actor: Actor, note: str = "") -> None:
    named.researcher = researcher
    named.save(update_fields=["researcher"])
    _event(named.request, Kind.RESEARCHER_LINKED, actor=actor, note=note or named.email, named_researcher=named.pk)


def invitation_for_token(token: str) -> NamedResearcher:
    """The named researcher a valid, current, unused invitation link belongs to (else 400 ``invalid_request``)."""
    refused = InvalidRequest("This invitation link is invalid, expired or already used.", detail={"token": ["invalid"]})
    try:
        payload = signing.loads(
            token, salt=INVITATION_SALT, max_age=dt.timedelta(days=settings.DSC_INVITATION_MAX_AGE_DAYS)
        )
    except signing.BadSignature:  # SignatureExpired is one too
        raise refused from None
    if not isinstance(payload, dict) or not isinstance(payload.get("n"), str):
        raise refused
    named = NamedResearcher.objects.select_related("request__organisation").filter(pk=payload.get("i")).first()
    digest = hashlib.sha256(payload["n"].encode()).hexdigest()
    if (
        named is None
        or not named.invitation_digest
        or not hmac.compare_digest(named.invitation_digest, digest)
        or named.researcher_id is not None
        or named.request.status == Status.WITHDRAWN
    ):
        raise refused
    return named


@transaction.atomic
def accept_invitation(
    *,
    token: str,
    password: str,
    first_name: str,
    last_name: str,
    country: str,
    orcid: str = "",
    affiliation: str = "",
) -> Researcher:
    """Create the invited researcher's portal account and link it to the request (the link works once). Atomic."""
    named = invitation_for_token(token)
    named = NamedResearcher.objects.select_for_update().select_related("request__organisation").get(pk=named.pk)
    if named.researcher_id is not None:  # accepted meanwhile, in another tab
        raise InvalidRequest("This invitation link was already used.", detail={"token": ["used"]})
    released = None
    existing = User.objects.select_for_update().filter(username__iexact=named.email).first()
    if existing is not None:
        squatter = (
            Researcher.objects.filter(user=existing, email_verified_at__isnull=True).select_related("user").first()
        )
        if squatter is None or existing.is_staff or existing.is_superuser:
            raise InvalidRequest(
                "An account with this e-mail address exists already: log in, and ask the platform's staff to link it.",
                detail={"email": ["taken"]},
            )
        released = _release_unverified_account(squatter)
    researcher = vetting.register_researcher(
        email=named.email,
        password=password,
        first_name=first_name,
        last_name=last_name,
        organisation=named.request.organisation,
        country=country,
        orcid=orcid or named.orcid,
        affiliation=affiliation or named.affiliation,
    )
    # The link reached this address: that proves it as an e-mail verification link would.
    researcher = vetting.mark_email_verified(researcher=researcher)
    named.researcher = researcher
    named.accepted_at = timezone.now()
    named.invitation_digest = ""
    named.save(update_fields=["researcher", "accepted_at", "invitation_digest"])
    detail = {"released_unverified_account": released} if released else {}
    _event(
        named.request,
        Kind.INVITATION_ACCEPTED,
        actor=researcher.user,
        note=named.email + (f"; unverified account #{released} with this address deactivated" if released else ""),
        named_researcher=named.pk,
        **detail,
    )
    return researcher


def _release_unverified_account(researcher: Researcher) -> int:
    """Deactivate an account that registered an invitee's address without ever proving it, and free the address.

    The invitation proves the address; the account's claim to it (and to its ORCID iD) was never
    proved, so it gets neither the request nor the address: it is kept, inactive, for staff to
    review. Returns the user's id.
    """
    user = researcher.user
    user.username = f"unverified-{user.pk}-{user.username}"[:150]
    user.email = ""
    user.is_active = False  # its sessions end: Django's backend loads only active users
    user.set_unusable_password()
    user.save(update_fields=["username", "email", "is_active", "password"])
    if researcher.orcid:
        researcher.orcid = ""
        researcher.save(update_fields=["orcid"])
    return user.pk


# --------------------------------------------------------------------------- amendment (Art. 40(5)-(6))
@transaction.atomic
def request_amendment(
    request: ReasonedRequest,
    *,
    ground: str,
    explanation: str,
    alternatives: str,
    actor: Actor,
    now: dt.datetime | None = None,
) -> AmendmentRequest:
    """Ask the DSC to amend the request, within the 15-day window, proposing alternatives. Atomic.

    After the window closes the request is refused (409 ``conflict``) and nothing is recorded.
    """
    now = now or timezone.now()
    request = _locked(request)
    if request.status != Status.RECEIVED:
        raise InvalidTransition(request.status, Status.AMENDMENT_REQUESTED, what="reasoned request")
    if not deadlines.is_open(request.amendment_window_closes_at, now):
        closes = request.amendment_window_closes_at.astimezone(request.zone)
        raise AmendmentWindowClosed(
            f"The amendment window of {request.reference} closed at {closes:%Y-%m-%d %H:%M %Z}; "
            "the request can no longer be amended (DSA Art. 40(5)).",
            detail={"amendment_window_closes_at": request.amendment_window_closes_at.isoformat()},
        )
    problems: dict[str, list[str]] = {}
    if ground not in AmendmentRequest.Ground.values:
        problems["ground"] = [f"Choose one of {', '.join(AmendmentRequest.Ground.values)}."]
    if not explanation.strip():
        problems["explanation"] = ["Explain why the ground applies."]
    if not alternatives.strip():
        problems["alternatives"] = ["Propose alternative means or data (DSA Art. 40(6))."]
    if problems:
        raise InvalidRequest("The amendment request is incomplete.", detail=problems)
    amendment = AmendmentRequest.objects.create(
        request=request,
        ground=ground,
        explanation=explanation.strip(),
        alternatives=alternatives.strip(),
        requested_at=now,
        requested_by=actor,
    )
    request.status = Status.AMENDMENT_REQUESTED
    request.save(update_fields=["status"])
    _event(
        request,
        Kind.AMENDMENT_REQUESTED,
        actor=actor,
        note=amendment.get_ground_display(),
        amendment=amendment.pk,
        ground=ground,
        days_left=deadlines.days_left(request.amendment_window_closes_at, request.zone, now),
    )
    return amendment


@transaction.atomic
def record_dsc_decision(
    amendment: AmendmentRequest,
    *,
    decision: str,
    decided_on: dt.date,
    actor: Actor,
    note: str = "",
    amended_terms: dict | None = None,
) -> ReasonedRequest:
    """Record the DSC's decision on an amendment request, once, applying any amended terms. Atomic.

    ``amended_terms`` (only with ``decision="amended"``) may set any of the datasets, fields,
    data period, modality and access period; the request's history records them before and after.
    """
    request = _locked(amendment.request)
    amendment = AmendmentRequest.objects.select_for_update().get(pk=amendment.pk)
    if request.status != Status.AMENDMENT_REQUESTED or amendment.decision:
        raise InvalidTransition(request.status, "decided by the DSC", what="reasoned request")
    problems: dict[str, list[str]] = {}
    if decision not in AmendmentRequest.Decision.values:
        problems["decision"] = [f"Choose one of {', '.join(AmendmentRequest.Decision.values)}."]
    if decided_on > today() or decided_on < amendment.requested_at.astimezone(request.zone).date():
        problems["decided_on"] = ["The DSC's decision date lies between the amendment request and today."]
    unknown = sorted(set(amended_terms or {}) - set(TERM_FIELDS))
    if unknown:
        problems["amended_terms"] = [f"Unknown terms: {', '.join(unknown)}."]
    if amended_terms and decision != AmendmentRequest.Decision.AMENDED:
        problems["amended_terms"] = ["Only an amended request changes its terms."]
    if problems:
        raise InvalidRequest("The DSC decision is invalid.", detail=problems)
    before = _terms_of(request)
    if amended_terms:
        current = {
            "datasets": list(request.datasets.all()),
            **{name: getattr(request, name) for name in TERM_FIELDS if name != "datasets"},
        }
        current.update(amended_terms)
        current["datasets"] = list(current["datasets"])
        current["fields_requested"] = list(current["fields_requested"])
        _check_terms(current)
        for name in TERM_FIELDS:
            if name != "datasets":
                setattr(request, name, current[name])
        request.datasets.set(current["datasets"])
    amendment.decision = decision
    amendment.decided_on = decided_on
    amendment.decision_note = note.strip()
    amendment.decision_recorded_at = timezone.now()
    amendment.decision_recorded_by = actor
    amendment.save(
        update_fields=["decision", "decided_on", "decision_note", "decision_recorded_at", "decision_recorded_by"]
    )
    request.status = Status.RECEIVED
    request.save()
    after = _terms_of(request)
    _event(
        request,
        Kind.DSC_DECISION,
        actor=actor,
        note=f"{amendment.get_decision_display()} on {decided_on}. {note}".strip(),
        amendment=amendment.pk,
        decision=decision,
        decided_on=decided_on.isoformat(),
        terms_before=before,
        terms_after=after,
    )
    return request


@transaction.atomic
def withdraw_reasoned_request(request: ReasonedRequest, *, actor: Actor, reason: str) -> ReasonedRequest:
    """Record that the DSC withdrew its request before a grant was issued. Atomic."""
    if not reason.strip():
        raise InvalidRequest("Say what the DSC decided.", detail={"reason": ["Required."]})
    request = _locked(request)
    if request.status not in (Status.RECEIVED, Status.AMENDMENT_REQUESTED):
        raise InvalidTransition(request.status, Status.WITHDRAWN, what="reasoned request")
    request.status = Status.WITHDRAWN
    request.save(update_fields=["status"])
    _event(request, Kind.WITHDRAWN, actor=actor, note=reason.strip())
    return request


# --------------------------------------------------------------------------- approval
def _application_text(request: ReasonedRequest) -> dict:
    named = list(request.researchers.all())
    team = [
        f"{person.name}, vetted researcher{f' ({person.affiliation})' if person.affiliation else ''}"
        for person in named
        if not person.is_principal
    ]
    security = "\n\n".join(
        part
        for part in (
            request.security_requirements and f"Security requirements: {request.security_requirements}",
            request.confidentiality_requirements
            and f"Confidentiality requirements: {request.confidentiality_requirements}",
        )
        if part
    )
    return {
        "title": request.title,
        "public_summary": request.research_purpose,
        "research_questions": request.research_purpose,
        "methodology": f"As set out in reasoned request {request.reference} of {request.dsc_authority}.",
        "systemic_risk_areas": list(request.systemic_risk_areas),
        "team_members": "\n".join(team),
        "independence_declaration": True,  # verified by the DSC (Art. 40(8))
        "data_security_measures": security or f"As required by reasoned request {request.reference}.",
        "modality_requested": request.modality,
    }


@transaction.atomic
def approve_reasoned_request(
    request: ReasonedRequest,
    *,
    reviewer: Actor,
    reason: str = "",
    datasets: Iterable[Dataset] | None = None,
    modality: str | None = None,
    valid_from: dt.date | None = None,
    valid_until: dt.date | None = None,
    data_from: dt.date | None = None,
    data_until: dt.date | None = None,
    data_fields: Iterable[str] | None = None,
    quotas: dict | None = None,
) -> AccessGrant:
    """Accept a reasoned request: issue exactly one grant, never wider than the request. Atomic.

    The terms default to the request's. The grant comes from an approved application led by the
    principal researcher (who must have an account), through the same service as platform-vetted
    applications; it carries the request's reference and its data period and fields.
    """
    request = _locked(request)
    if request.status != Status.RECEIVED:
        raise InvalidTransition(request.status, Status.APPROVED, what="reasoned request")
    principal = request.researchers.select_related("researcher__user").filter(is_principal=True).first()
    if principal is None or principal.researcher is None:
        raise InvalidRequest(
            "The principal researcher has no account yet: they create it with their invitation link.",
            detail={"researchers": ["The principal researcher has not accepted the invitation."]},
        )
    if not principal.researcher.email_verified or not principal.researcher.user.is_active:
        # Links are set for good; one to an unverified account may predate the check in invite_researchers.
        raise InvalidRequest(
            "The principal researcher's account never proved its e-mail address: whoever holds the address "
            "confirms it with the link e-mailed to it (or by resetting the password) before approval.",
            detail={"researchers": ["The principal researcher's account is not verified."]},
        )
    terms = {
        "datasets": list(request.datasets.all() if datasets is None else datasets),
        "modality": modality or request.modality,
        "valid_from": valid_from or max(request.access_from, today()),
        "valid_until": valid_until or request.access_until,
        "data_from": data_from or request.data_from,
        "data_until": data_until or request.data_until,
        "data_fields": list(request.fields_requested if data_fields is None else data_fields),
    }
    if terms["valid_until"] < terms["valid_from"]:
        raise InvalidRequest(
            f"The access period of {request.reference} ends on {request.access_until}; it cannot start later.",
            detail={"valid_until": ["The end date must not be before the start date."]},
        )
    check_within_request(request, **terms)
    application = ResearchApplication.objects.create(
        **_application_text(request),
        organisation=request.organisation,
        principal_researcher=principal.researcher,
        start_date=terms["valid_from"],
        end_date=terms["valid_until"],
        status=ResearchApplication.Status.SUBMITTED,
        submitted_at=request.received_at,
    )
    application.datasets_requested.set(request.datasets.all())
    ApplicationTransition.objects.create(
        application=application,
        actor=reviewer,
        from_status="",
        to_status=ResearchApplication.Status.SUBMITTED,
        reason=f"Reasoned request {request.reference} of {request.dsc_authority} ({request.dsc_member_state}), "
        f"received {request.received_at.astimezone(request.zone):%Y-%m-%d}.",
    )
    grant = vetting.approve_application(
        application,
        reviewer=reviewer,
        reason=reason or f"Reasoned request {request.reference} accepted.",
        datasets=terms["datasets"],
        modality=terms["modality"],
        valid_from=terms["valid_from"],
        valid_until=terms["valid_until"],
        quotas=quotas,
    )
    grant.dsc_reference = request.reference
    grant.data_from = terms["data_from"]
    grant.data_until = terms["data_until"]
    grant.data_fields = terms["data_fields"]
    grant.save(update_fields=["dsc_reference", "data_from", "data_until", "data_fields", "updated_at"])
    request.application = application
    request.status = Status.APPROVED
    request.save(update_fields=["application", "status"])
    _event(
        request,
        Kind.APPROVED,
        actor=reviewer,
        note=reason,
        grant=grant.pk,
        client_id=grant.oauth_client.client_id,
        terms={
            **{k: v.isoformat() if isinstance(v, dt.date) else v for k, v in terms.items() if k != "datasets"},
            "datasets": sorted(d.slug for d in terms["datasets"]),
        },
    )
    return grant


# --------------------------------------------------------------------------- deadline reminders
def _staff_addresses() -> list[str]:
    users = User.objects.with_perm("researchers.change_reasonedrequest", is_active=True).filter(is_staff=True)
    return sorted({user.email for user in users if user.email})


def remind_amendment_deadlines(*, now: dt.datetime | None = None) -> int:
    """E-mail staff when a request's amendment window has 5 and 2 days left; exactly once per threshold.

    Each reminder is recorded (unique per request and threshold) in the transaction that sends it,
    under the request's row lock: a second run, concurrent or later, finds it recorded and sends
    nothing; a failed send rolls back and the next run retries. A request recorded late gets one
    e-mail for the most urgent threshold reached (the others are recorded with it). Returns how
    many e-mails were sent.
    """
    now = now or timezone.now()
    sent = 0
    candidates = ReasonedRequest.objects.awaiting_decision().window_open(now).values_list("pk", flat=True)
    for pk in candidates:
        try:
            sent += _remind(pk, now=now)
        except Exception:  # rolled back, so retried on the next run; the other requests go on
            logger.exception("could not send the amendment deadline reminder", extra={"reasoned_request": pk})
    return sent


def _remind(pk: int, *, now: dt.datetime) -> int:
    """Send one request's due reminder, if any, and record it in the same transaction (1 if sent)."""
    with transaction.atomic():
        request = (
            ReasonedRequest.objects.select_for_update(skip_locked=True).filter(pk=pk, status=Status.RECEIVED).first()
        )
        if request is None or not deadlines.is_open(request.amendment_window_closes_at, now):
            return 0
        left = deadlines.days_left(request.amendment_window_closes_at, request.zone, now)
        done = set(request.reminders.values_list("threshold_days", flat=True))
        due = [t for t in REMINDER_THRESHOLDS if left <= t and t not in done]
        if not due:
            return 0
        addresses = _staff_addresses()
        for threshold in due:
            DeadlineReminder.objects.create(
                request=request, threshold_days=threshold, days_left=left, sent_at=now, recipients=len(addresses)
            )
        _event(request, Kind.REMINDER_SENT, actor=None, note=f"{left} days left", thresholds=due, days_left=left)
        if addresses:
            closes = request.amendment_window_closes_at.astimezone(request.zone)
            days = f"{left} day{'' if left == 1 else 's'}"
            send_mail(
                f"[Research data access] {days} left to ask for an amendment of {request.reference}",
                f"Reasoned request {request.reference} of {request.dsc_authority} ({request.dsc_member_state}), "
                f'"{request.title}":\nthe window to ask the DSC to amend it closes at '
                f"{closes:%Y-%m-%d %H:%M %Z} ({days} left after today; DSA Art. 40(5)).\n\n"
                "Ask for an amendment only if the platform does not have access to the data, or access would "
                "create significant vulnerabilities for the security of the service or for confidential "
                "information, and propose alternatives (Art. 40(6)). Otherwise approve it.\n\n"
                f"Admin: /admin/researchers/reasonedrequest/{request.pk}/change/\n",
                None,
                addresses,
            )
    return 1


def days_left(request: ReasonedRequest, *, now: dt.datetime | None = None) -> int:
    return deadlines.days_left(request.amendment_window_closes_at, request.zone, now or timezone.now())
