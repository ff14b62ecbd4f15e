"""The DSC route's services: recording a reasoned request, invitations, amendment requests and the
DSC's decisions, approval into a grant, and an immutable history."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.core import mail, signing
from django.db import DatabaseError, transaction
from django.utils import timezone

from moderation_data.catalog.models import Dataset
from platform_api.errors import InvalidRequest
from researchers import services as vetting
from researchers.errors import InvalidTransition
from researchers.models import AccessGrant, ResearchApplication, Researcher
from researchers.reasoned_requests import services as dsc
from researchers.reasoned_requests.models import (
    AmendmentRequest,
    NamedResearcher,
    ReasonedRequest,
    ReasonedRequestEvent,
)
from tests.researchers.conftest import assert_nowhere_in_the_database
from tests.researchers.dsc_support import PASSWORD, invitation_links, invitation_token, record, request_terms
from tests.researchers.factories import ResearcherFactory, StaffFactory

pytestmark = pytest.mark.django_db


def accept(address: str, **overrides):
    return dsc.accept_invitation(
        token=invitation_token(address),
        password=PASSWORD,
        first_name=overrides.get("first_name", "Maria"),
        last_name=overrides.get("last_name", "Schmidt"),
        country=overrides.get("country", "AT"),
    )


def principal_email(request: ReasonedRequest) -> str:
    return request.researchers.get(is_principal=True).email


# --------------------------------------------------------------------------- recording
def test_recording_computes_the_window_in_the_dscs_zone_and_invites_the_researchers(
    django_capture_on_commit_callbacks,
):
    received = dt.datetime(2026, 1, 31, 23, 30, tzinfo=dt.UTC)  # already February 1 in Brussels
    with django_capture_on_commit_callbacks(execute=True):
        request = record(dsc_member_state="BE", dsc_authority="BIPT", received_at=received)
    assert request.time_zone == "Europe/Brussels"
    assert request.amendment_window_closes_at == dt.datetime(2026, 2, 16, 23, 0, tzinfo=dt.UTC)
    assert request.status == "received"
    named = list(request.researchers.all())
    assert [n.is_principal for n in named] == [True, False]
    assert all(n.invited_at and n.invitation_digest for n in named)
    invited = {address for message in mail.outbox for address in message.to}
    assert invited == {n.email for n in named}
    assert request.reference in mail.outbox[0].subject
    assert list(request.history.values_list("kind", flat=True)) == ["recorded", "invitation_sent", "invitation_sent"]


def test_a_named_researcher_who_has_an_account_is_linked_not_invited(django_capture_on_commit_callbacks):
    existing = ResearcherFactory()
    terms = request_terms()
    terms["researchers"][1]["email"] = existing.user.email.upper()
    with django_capture_on_commit_callbacks(execute=True):
        request = dsc.record_reasoned_request(**terms)
    linked = request.researchers.get(email=existing.user.email)
    assert linked.researcher == existing and linked.invited_at is None
    assert [m.to for m in mail.outbox] == [[principal_email(request)]]
    assert request.history.filter(kind="researcher_linked").count() == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"researchers": [{"name": "A", "email": "a@x.example"}]}, "researchers"),  # no principal
        (
            {"researchers": [{"name": "A", "email": "a@x.example", "is_principal": True},
                             {"name": "B", "email": "A@x.example"}]},
            "researchers",
        ),  # the same address twice
        ({"received_at": timezone.now() + dt.timedelta(hours=2)}, "received_at"),
        ({"dsc_member_state": "CH"}, "dsc_member_state"),
        ({"data_from": dt.date(2026, 2, 1), "data_until": dt.date(2026, 1, 1)}, "data_until"),
        ({"fields_requested": ["policy", "uploader_name"]}, "fields_requested"),
        ({"datasets": []}, "datasets"),
    ],
)  # fmt: skip
def test_an_incomplete_or_invalid_request_is_refused_whole_with_the_field_named(overrides, field):
    with pytest.raises(InvalidRequest) as refused:
        record(**overrides)
    assert field in refused.value.detail
    assert not ReasonedRequest.objects.exists()
    assert not NamedResearcher.objects.exists()


def test_a_reference_is_recorded_once():
    first = record()
    with pytest.raises(InvalidRequest) as refused:
        record(reference=first.reference.lower())
    assert "reference" in refused.value.detail


# --------------------------------------------------------------------------- invitations
def test_an_invited_researcher_creates_their_account_once_with_the_link(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request = record()
    address = principal_email(request)
    token = invitation_token(address)
    researcher = accept(address)
    assert researcher.user.email == address and researcher.user.check_password(PASSWORD)
    assert researcher.organisation == request.organisation
    assert researcher.email_verified  # the invitation link proved the address
    named = request.researchers.get(email=address)
    assert named.researcher == researcher and named.accepted_at is not None and named.invitation_digest == ""
    with pytest.raises(InvalidRequest, match="invalid, expired or already used"):
        dsc.accept_invitation(token=token, password=PASSWORD, first_name="X", last_name="Y", country="AT")


def test_an_invitation_link_is_not_stored_and_a_tampered_or_expired_one_is_refused(
    django_capture_on_commit_callbacks, settings, monkeypatch
):
    with django_capture_on_commit_callbacks(execute=True):
        request = record()
    address = principal_email(request)
    token = invitation_token(address)
    assert_nowhere_in_the_database([token, token.split(":")[0]])
    payload = signing.loads(token, salt=dsc.INVITATION_SALT)
    forged = signing.dumps({"i": payload["i"], "n": "guessed"}, salt=dsc.INVITATION_SALT)
    other_salt = signing.dumps(payload, salt="something else")
    for bad in (token[:-2] + "xx", forged, other_salt, "not-a-token"):
        with pytest.raises(InvalidRequest):
            dsc.invitation_for_token(bad)
    # A genuine link signed two days ago, when links live one day.
    settings.DSC_INVITATION_MAX_AGE_DAYS = 1
    with monkeypatch.context() as patch:
        patch.setattr(
            signing.TimestampSigner, "timestamp", lambda self: signing.b62_encode(int(time.time()) - 2 * 86400)
        )
        stale = signing.dumps(payload, salt=dsc.INVITATION_SALT)
    with pytest.raises(InvalidRequest):
        dsc.invitation_for_token(stale)
    assert dsc.invitation_for_token(token).email == address


def test_resending_an_invitation_replaces_the_previous_link(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request = record()
    address = principal_email(request)
    first = invitation_token(address)
    with django_capture_on_commit_callbacks(execute=True):
        assert dsc.invite_researchers(request, actor=StaffFactory(), base_url="http://testserver", resend=True) == 2
    second = invitation_token(address)
    assert first != second
    with pytest.raises(InvalidRequest):
        dsc.invitation_for_token(first)
    assert dsc.invitation_for_token(second).email == address


# --------------------------------------------------------------------------- unverified accounts
ORCID = "0000-0002-1825-0097"


def register_as(client, address: str, **overrides):
    """Register in the portal as anyone can: the address is not verified first."""
    data = {
        "first_name": "Mallory",
        "last_name": "Squatter",
        "email": address,
        "password1": "mallorys own passphrase",
        "password2": "mallorys own passphrase",
        "orcid": "",
        "organisation_name": "Squat Institute",
        "organisation_type": "university",
        "organisation_country": "NL",
        "affiliation": "",
        "country": "NL",
        **overrides,
    }
    response = client.post("/portal/register/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    return Researcher.objects.select_related("user").get(user__username=address)


def test_an_unverified_account_with_the_principals_address_is_not_linked_and_an_invitation_is_sent(
    client, django_capture_on_commit_callbacks
):
    terms = request_terms()
    address = terms["researchers"][0]["email"]
    squatter = register_as(client, address)  # before staff record the request
    assert not squatter.email_verified
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        request = dsc.record_reasoned_request(**terms)
    named = request.researchers.get(email=address)
    assert named.researcher is None and named.invited_at is not None
    assert invitation_links(address)  # the link goes to the address the DSC named
    assert not request.history.filter(kind="researcher_linked").exists()
    with pytest.raises(InvalidRequest, match="principal researcher"):
        dsc.approve_reasoned_request(request, reviewer=StaffFactory())
    assert not AccessGrant.objects.exists()


def test_after_the_real_researcher_accepts_the_principal_is_their_verified_account_not_the_squatters(
    client, django_capture_on_commit_callbacks
):
    terms = request_terms()
    terms["researchers"][0]["orcid"] = ORCID
    address = terms["researchers"][0]["email"]
    squatter = register_as(client, address, orcid=ORCID)  # even the ORCID iD of the real researcher
    with django_capture_on_commit_callbacks(execute=True):
        request = dsc.record_reasoned_request(**terms)
    real = accept(address)
    assert real != squatter and real.user.email == address and real.email_verified and real.orcid == ORCID
    squatter.refresh_from_db()
    squatter.user.refresh_from_db()
    assert not squatter.user.is_active and not squatter.user.has_usable_password()
    assert squatter.user.email == "" and squatter.user.username != address and squatter.orcid == ""
    accepted = request.history.get(kind="invitation_accepted")
    assert accepted.detail["released_unverified_account"] == squatter.user.pk
    with django_capture_on_commit_callbacks(execute=True):
        grant = dsc.approve_reasoned_request(request, reviewer=StaffFactory())
    assert grant.application.principal_researcher == real
    # The squatter's session ended and their password no longer logs in: the secret stays out of reach.
    page = client.post(f"/portal/grants/{grant.pk}/credentials/")
    assert page.status_code == 302 and "/login/" in page["Location"]
    assert not client.login(username=address, password="mallorys own passphrase")
    grant.refresh_from_db()
    assert grant.secret_issued_at is None


def test_resending_invitations_does_not_link_an_account_registered_since_without_verifying(
    client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request = record()
    address = principal_email(request)
    register_as(client, address)  # after the first invitation went out
    for resend in (False, True):
        with django_capture_on_commit_callbacks(execute=True):
            dsc.invite_researchers(request, actor=StaffFactory(), base_url="http://testserver", resend=resend)
        assert request.researchers.get(email=address).researcher is None
    assert not request.history.filter(kind="researcher_linked").exists()
    assert accept(address).email_verified


def test_a_verified_account_registered_since_is_linked_by_send_invitations(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request = record()
    address = principal_email(request)
    verified = ResearcherFactory(user__username=address, user__email=address)
    dsc.invite_researchers(request, actor=StaffFactory())
    assert request.researchers.get(email=address).researcher == verified


def test_approval_refuses_a_principal_linked_to_an_unverified_account_until_the_address_is_proved(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        request = record()
    address = principal_email(request)
    squatter = ResearcherFactory(user__username=address, user__email=address, email_verified_at=None)
    request.researchers.filter(email=address).update(researcher=squatter)  # linked before the check existed
    with pytest.raises(InvalidRequest, match="never proved its e-mail address"):
        dsc.approve_reasoned_request(request, reviewer=StaffFactory())
    assert not AccessGrant.objects.exists()
    # Whoever reads the address resets the password (which proves it), so the account is theirs now.
    proved = vetting.mark_email_verified(researcher=squatter)
    assert dsc.approve_reasoned_request(request, reviewer=StaffFactory()).application.principal_researcher == proved


# --------------------------------------------------------------------------- amendments
def test_an_amendment_request_within_the_window_records_the_ground_and_alternatives():
    request = record()
    staff = StaffFactory()
    # Asked on the day of receipt, by the given clock (by the wall clock, the receipt an hour ago
    # may fall on yesterday in Dublin: 14 days left).
    amendment = dsc.request_amendment(
        request,
        ground="vulnerability",
        explanation="Row-level detection_source reveals the classifier's blind spots.",
        alternatives="Aggregate counts by detection source instead of row-level values.",
        actor=staff,
        now=request.received_at + dt.timedelta(minutes=1),
    )
    request.refresh_from_db()
    assert request.status == "amendment_requested"
    assert amendment.requested_by == staff and amendment.decision == ""
    event = request.history.get(kind="amendment_requested")
    assert event.detail["ground"] == "vulnerability" and event.detail["days_left"] == 15


def test_an_amendment_request_after_the_window_is_refused_and_nothing_is_recorded():
    request = record(received_at=timezone.now() - dt.timedelta(days=20))
    with pytest.raises(dsc.AmendmentWindowClosed) as refused:
        dsc.request_amendment(
            request, ground="no_access", explanation="We do not hold it.", alternatives="None.", actor=StaffFactory()
        )
    assert refused.value.status_code == 409 and refused.value.code == "conflict"
    assert "closed" in refused.value.message
    request.refresh_from_db()
    assert request.status == "received"
    assert not AmendmentRequest.objects.exists()
    assert not request.history.filter(kind="amendment_requested").exists()


def test_the_window_closes_at_the_dscs_midnight_to_the_second():
    request = record(dsc_member_state="IE", received_at=dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC))
    closes = request.amendment_window_closes_at
    assert closes == dt.datetime(2026, 3, 16, 23, 59, 59, 999999, tzinfo=dt.UTC) + dt.timedelta(microseconds=1)
    with pytest.raises(dsc.AmendmentWindowClosed):
        dsc.request_amendment(request, ground="no_access", explanation="x", alternatives="y", actor=None, now=closes)
    dsc.request_amendment(
        request, ground="no_access", explanation="x", alternatives="y", actor=None, now=closes - dt.timedelta(seconds=1)
    )


@pytest.mark.parametrize(
    ("ground", "explanation", "alternatives", "field"),
    [("other", "x", "y", "ground"), ("no_access", " ", "y", "explanation"), ("no_access", "x", "", "alternatives")],
)
def test_an_amendment_request_needs_a_ground_of_art_40_5_and_alternatives(ground, explanation, alternatives, field):
    request = record()
    with pytest.raises(InvalidRequest) as refused:
        dsc.request_amendment(request, ground=ground, explanation=explanation, alternatives=alternatives, actor=None)
    assert field in refused.value.detail
    assert not AmendmentRequest.objects.exists()


def test_the_dscs_decision_amends_the_terms_once_and_the_history_keeps_both_versions():
    request = record(modality="records_and_exports")
    amendment = dsc.request_amendment(
        request, ground="vulnerability", explanation="x", alternatives="records without exports", actor=None
    )
    decided = dsc.record_dsc_decision(
        amendment,
        decision="amended",
        decided_on=timezone.localdate(),
        note="Exports dropped.",
        actor=StaffFactory(),
        amended_terms={"modality": "records", "data_from": dt.date(2025, 1, 1)},
    )
    assert decided.status == "received" and decided.modality == "records"
    event = decided.history.get(kind="dsc_decision")
    assert event.detail["terms_before"]["modality"] == "records_and_exports"
    assert event.detail["terms_after"]["modality"] == "records"
    assert event.detail["terms_after"]["data_from"] == "2025-01-01"
    with pytest.raises(InvalidTransition):
        dsc.record_dsc_decision(amendment, decision="confirmed", decided_on=timezone.localdate(), actor=None)


def test_a_confirmed_request_cannot_carry_amended_terms():
    request = record()
    amendment = dsc.request_amendment(request, ground="no_access", explanation="x", alternatives="y", actor=None)
    with pytest.raises(InvalidRequest) as refused:
        dsc.record_dsc_decision(
            amendment,
            decision="confirmed",
            decided_on=timezone.localdate(),
            actor=None,
            amended_terms={"modality": "aggregate"},
        )
    assert "amended_terms" in refused.value.detail


# --------------------------------------------------------------------------- approval
def test_approval_waits_for_the_principal_researchers_account(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request = record()
    with pytest.raises(InvalidRequest, match="principal researcher"):
        dsc.approve_reasoned_request(request, reviewer=StaffFactory())
    assert not AccessGrant.objects.exists()


def test_approval_issues_one_grant_carrying_the_reference_and_the_requests_limits(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request = record(fields_requested=["decided_on", "policy", "country"], modality="records")
    researcher = accept(principal_email(request))
    staff = StaffFactory()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        grant = dsc.approve_reasoned_request(request, reviewer=staff, reason="Accepted.")
    assert grant.dsc_reference == request.reference
    assert grant.modality == "records"
    assert [d.slug for d in grant.datasets.all()] == ["moderation-decisions"]
    assert (grant.data_from, grant.data_until) == (request.data_from, request.data_until)
    assert grant.data_fields == ["decided_on", "policy", "country"]
    assert grant.valid_until == request.access_until
    assert grant.secret_issued_at is None  # collected in the portal, as on the platform-vetted route
    application = grant.application
    assert application.principal_researcher == researcher and application.status == "approved"
    assert "Jan Novak" in application.team_members
    assert [t.to_status for t in application.history.all()] == ["submitted", "under_review", "approved"]
    request.refresh_from_db()
    assert request.status == "approved" and request.application == application
    assert mail.outbox[-1].to == [researcher.user.email]
    assert "collect your API credentials" in mail.outbox[-1].body
    with pytest.raises(InvalidTransition):
        dsc.approve_reasoned_request(request, reviewer=staff)
    assert AccessGrant.objects.count() == 1


def test_an_amendment_request_is_refused_once_the_request_is_approved(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request = record()
    accept(principal_email(request))
    dsc.approve_reasoned_request(request, reviewer=StaffFactory())
    with pytest.raises(InvalidTransition):
        dsc.request_amendment(request, ground="no_access", explanation="x", alternatives="y", actor=None)


def test_a_withdrawn_request_cannot_be_approved_and_its_links_stop_working(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request = record()
    token = invitation_token(principal_email(request))
    dsc.withdraw_reasoned_request(request, actor=StaffFactory(), reason="The DSC withdrew it on 3 March.")
    with pytest.raises(InvalidRequest):
        dsc.invitation_for_token(token)
    with pytest.raises(InvalidTransition):
        dsc.approve_reasoned_request(request, reviewer=None)


# --------------------------------------------------------------------------- never wider
def _approved(django_capture_on_commit_callbacks, **overrides) -> tuple[ReasonedRequest, AccessGrant]:
    with django_capture_on_commit_callbacks(execute=True):
        request = record(**overrides)
    accept(principal_email(request))
    return request, dsc.approve_reasoned_request(request, reviewer=StaffFactory())


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"datasets": "both"}, "datasets"),
        ({"modality": "records_and_exports"}, "modality"),
        ({"valid_until": 365}, "valid_until"),
        ({"data_limits": {"data_from": dt.date(2020, 1, 1)}}, "data_from"),
        ({"data_limits": {"data_until": None}}, "data_until"),
        ({"data_limits": {"data_fields": []}}, "data_fields"),
        ({"data_limits": {"data_fields": ["policy", "account_id"]}}, "data_fields"),
    ],
)
def test_a_dsc_grant_cannot_be_widened_beyond_its_request_by_the_services(
    django_capture_on_commit_callbacks, change, field
):
    request, grant = _approved(
        django_capture_on_commit_callbacks, modality="records", fields_requested=["decided_on", "policy"]
    )
    kwargs = dict(change)
    if kwargs.get("datasets") == "both":
        kwargs["datasets"] = list(Dataset.objects.all())
    if "valid_until" in kwargs:
        kwargs["valid_until"] = request.access_until + dt.timedelta(days=kwargs["valid_until"])
    with pytest.raises(InvalidRequest) as refused:
        vetting.update_grant(grant, actor=StaffFactory(), **kwargs)
    assert field in refused.value.detail
    assert request.reference in refused.value.message
    fresh = AccessGrant.objects.get(pk=grant.pk)
    assert (fresh.modality, fresh.valid_until, fresh.data_from, fresh.data_fields) == (
        grant.modality, grant.valid_until, grant.data_from, grant.data_fields,
    )  # fmt: skip
    assert [d.slug for d in fresh.datasets.all()] == ["moderation-decisions"]


def test_a_dsc_grant_can_be_narrowed_within_its_request(django_capture_on_commit_callbacks):
    request, grant = _approved(django_capture_on_commit_callbacks)
    vetting.update_grant(
        grant,
        actor=StaffFactory(),
        modality="aggregate",
        valid_until=request.access_until - dt.timedelta(days=30),
        data_limits={"data_from": dt.date(2025, 1, 1), "data_fields": ["policy", "decided_on"]},
    )
    grant.refresh_from_db()
    assert grant.modality == "aggregate" and grant.data_from == dt.date(2025, 1, 1)
    assert "data_fields" in grant.history.filter(kind="updated").get().reason


def test_approval_refuses_terms_wider_than_the_request(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request = record(modality="records")
    accept(principal_email(request))
    with pytest.raises(InvalidRequest) as refused:
        dsc.approve_reasoned_request(
            request,
            reviewer=None,
            modality="records_and_exports",
            datasets=list(Dataset.objects.all()),
            data_until=request.data_until + dt.timedelta(days=1),
        )
    assert set(refused.value.detail) == {"modality", "datasets", "data_until"}
    assert not AccessGrant.objects.exists() and not ResearchApplication.objects.exists()


def test_grant_access_cannot_widen_a_dsc_grant_either(django_capture_on_commit_callbacks):
    request, grant = _approved(django_capture_on_commit_callbacks, modality="records")
    principal = grant.application.principal_researcher
    with pytest.raises(InvalidRequest):
        vetting.grant_access(
            email=principal.user.email,
            project=grant.application.title,
            datasets=list(Dataset.objects.all()),
            modality="records_and_exports",
            valid_until=request.access_until,
        )


# --------------------------------------------------------------------------- immutable history
REFUSALS = r"append-only|cannot change|never|final|recorded|linked|only become|needs its date"


def _refused(sql: str, params: list) -> None:
    from django.db import connection

    with (
        pytest.raises(DatabaseError, match=REFUSALS),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)


def test_the_history_cannot_be_edited_or_deleted_in_the_database(django_capture_on_commit_callbacks):
    request, _grant = _approved(django_capture_on_commit_callbacks)
    event = request.history.first()
    _refused("UPDATE researchers_reasonedrequestevent SET note = 'rewritten' WHERE id = %s", [event.pk])
    _refused("DELETE FROM researchers_reasonedrequestevent WHERE id = %s", [event.pk])
    _refused("UPDATE researchers_reasonedrequest SET received_at = received_at - interval '3 days' WHERE id = %s",
             [request.pk])  # fmt: skip
    _refused("UPDATE researchers_reasonedrequest SET amendment_window_closes_at = now() + interval '9 days' "
             "WHERE id = %s", [request.pk])  # fmt: skip
    _refused(
        "UPDATE researchers_reasonedrequest SET modality = 'records_and_exports', data_from = '2000-01-01' "
        "WHERE id = %s",
        [request.pk],
    )  # fmt: skip (approved: frozen)
    _refused("DELETE FROM researchers_reasonedrequest WHERE id = %s", [request.pk])
    _refused("DELETE FROM researchers_reasonedrequest_datasets WHERE reasonedrequest_id = %s", [request.pk])
    named = request.researchers.first()
    _refused("UPDATE researchers_namedresearcher SET email = 'other@x.example' WHERE id = %s", [named.pk])
    _refused("UPDATE researchers_namedresearcher SET researcher_id = NULL WHERE id = %s", [named.pk])
    _refused("DELETE FROM researchers_namedresearcher WHERE id = %s", [named.pk])
    assert ReasonedRequestEvent.objects.get(pk=event.pk).note == event.note


def test_an_amendment_request_never_changes_and_its_decision_is_written_once():
    request = record()
    amendment = dsc.request_amendment(request, ground="no_access", explanation="x", alternatives="y", actor=None)
    _refused("UPDATE researchers_amendmentrequest SET ground = 'vulnerability' WHERE id = %s", [amendment.pk])
    _refused("UPDATE researchers_amendmentrequest SET requested_at = now() - interval '30 days' WHERE id = %s",
             [amendment.pk])  # fmt: skip
    _refused("UPDATE researchers_amendmentrequest SET decision = 'confirmed' WHERE id = %s", [amendment.pk])  # no date
    dsc.record_dsc_decision(amendment, decision="confirmed", decided_on=timezone.localdate(), actor=None)
    _refused("UPDATE researchers_amendmentrequest SET decision = 'amended' WHERE id = %s", [amendment.pk])
    _refused("UPDATE researchers_amendmentrequest SET decided_on = decided_on - 1 WHERE id = %s", [amendment.pk])
    _refused("DELETE FROM researchers_amendmentrequest WHERE id = %s", [amendment.pk])


def test_deleting_a_staff_user_keeps_the_history_and_only_blanks_their_name():
    staff = StaffFactory()
    request = record(actor=staff)
    dsc.request_amendment(request, ground="no_access", explanation="x", alternatives="y", actor=staff)
    staff.delete()
    assert request.history.count() == 1 + 2 + 1  # recorded, two invitations, the amendment request
    assert set(request.history.values_list("actor", flat=True)) == {None}
    assert AmendmentRequest.objects.get().requested_by is None
