from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from platform_api.errors import InvalidRequest
from researchers import services
from researchers.errors import InvalidTransition
from researchers.models import AccessGrant, GrantEvent, ResearchApplication
from tests.researchers.factories import ResearcherFactory, StaffFactory, make_application

pytestmark = pytest.mark.django_db
S = ResearchApplication.Status


def statuses(application) -> list[tuple[str, str]]:
    return [(t.from_status, t.to_status) for t in application.history.order_by("at", "pk")]


def test_submitting_a_draft_records_history_and_emails_the_researcher(django_capture_on_commit_callbacks):
    application = make_application()
    with django_capture_on_commit_callbacks(execute=True):
        services.submit_application(application, actor=application.principal_researcher.user)
    application.refresh_from_db()
    assert application.status == S.SUBMITTED
    assert application.submitted_at is not None
    assert statuses(application) == [("", "draft"), ("draft", "submitted")]
    assert application.history.last().actor == application.principal_researcher.user
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [application.principal_researcher.user.email]
    assert "submitted" in mail.outbox[0].body


def test_an_incomplete_application_cannot_be_submitted():
    application = make_application(independence_declaration=False, systemic_risk_areas=[], datasets=[])
    with pytest.raises(InvalidRequest) as excinfo:
        services.submit_application(application, actor=application.principal_researcher.user)
    assert set(excinfo.value.detail) == {"independence_declaration", "systemic_risk_areas", "datasets_requested"}
    application.refresh_from_db()
    assert application.status == S.DRAFT


def test_no_email_is_sent_when_the_transition_rolls_back(django_capture_on_commit_callbacks):
    application = make_application(status="submitted")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(InvalidRequest):
        services.request_information(application, reviewer=StaffFactory(), reason="  ")
    assert callbacks == []
    assert mail.outbox == []


def test_request_information_and_the_answer_go_back_to_submitted(django_capture_on_commit_callbacks):
    application = make_application(status="submitted")
    reviewer = StaffFactory()
    with django_capture_on_commit_callbacks(execute=True):
        services.request_information(application, reviewer=reviewer, reason="Which ethics board approved this?")
    application.refresh_from_db()
    assert application.status == S.INFO_REQUESTED
    assert mail.outbox[-1].subject.endswith("Information requested")
    assert "Which ethics board approved this?" in mail.outbox[-1].body
    assert application.latest_information_request.reason == "Which ethics board approved this?"

    with pytest.raises(InvalidRequest):
        services.submit_application(application, actor=application.principal_researcher.user, reason="")
    services.submit_application(application, actor=application.principal_researcher.user, reason="Board X, ref 42")
    application.refresh_from_db()
    assert statuses(application)[-4:] == [
        ("draft", "submitted"),
        ("submitted", "under_review"),
        ("under_review", "info_requested"),
        ("info_requested", "submitted"),
    ]
    assert application.history.last().reason == "Board X, ref 42"


def test_approval_issues_one_grant_with_the_requested_terms_and_a_confidential_client(
    django_capture_on_commit_callbacks, datasets
):
    application = make_application(status="under_review", datasets=datasets)
    reviewer = StaffFactory()
    with django_capture_on_commit_callbacks(execute=True):
        grant = services.approve_application(application, reviewer=reviewer, reason="Well argued")
    application.refresh_from_db()
    assert application.status == S.APPROVED
    assert application.decided_at is not None
    assert statuses(application)[-1] == ("under_review", "approved")
    assert application.history.last().actor == reviewer
    assert {d.slug for d in grant.datasets.all()} == {d.slug for d in datasets}
    assert grant.modality == "records_and_exports"
    assert grant.valid_until == application.end_date
    assert grant.status == AccessGrant.Status.ACTIVE
    assert grant.quotas == {
        "requests_per_minute": 60,
        "requests_per_day": 1000,
        "records_per_day": 100_000,
        "concurrent_exports": 2,
        "export_rows_per_month": 10_000_000,
    }
    assert grant.project_id == str(application.pk)
    client = grant.oauth_client
    assert client.client_type == "confidential"
    assert client.authorization_grant_type == "client-credentials"
    assert client.hash_client_secret and client.client_secret.startswith("md5$")
    assert grant.secret_issued_at is None
    assert "approved" in mail.outbox[-1].body
    assert grant.history.get().kind == GrantEvent.Kind.CREATED


def test_approval_can_narrow_the_requested_terms(datasets):
    application = make_application(status="submitted", datasets=datasets)
    until = dt.date.today() + dt.timedelta(days=30)
    grant = services.approve_application(
        application,
        reviewer=StaffFactory(),
        datasets=[d for d in datasets if d.slug == "enforcement-summary"],
        modality="aggregate",
        valid_until=until,
        quotas={"requests_per_day": 50},
    )
    assert [d.slug for d in grant.datasets.all()] == ["enforcement-summary"]
    assert grant.modality == "aggregate"
    assert grant.valid_until == until
    assert grant.requests_per_day == 50
    assert grant.scope_names() == ["dataset:enforcement-summary"]
    # Approving straight from "submitted" passes through "under review" in the history.
    application.refresh_from_db()
    assert statuses(application)[-2:] == [("submitted", "under_review"), ("under_review", "approved")]


def test_approval_refuses_invalid_terms():
    application = make_application(status="submitted")
    with pytest.raises(InvalidRequest) as excinfo:
        services.approve_application(
            application,
            reviewer=StaffFactory(),
            datasets=[],
            modality="everything",
            valid_from=dt.date(2030, 1, 2),
            valid_until=dt.date(2030, 1, 1),
        )
    assert set(excinfo.value.detail) == {"datasets", "modality", "valid_until"}
    application.refresh_from_db()
    assert application.status == S.SUBMITTED
    assert not AccessGrant.objects.exists()


def test_rejection_needs_a_reason_and_emails_it(django_capture_on_commit_callbacks):
    application = make_application(status="under_review")
    with pytest.raises(InvalidRequest):
        services.reject_application(application, reviewer=StaffFactory(), reason="")
    with django_capture_on_commit_callbacks(execute=True):
        services.reject_application(application, reviewer=StaffFactory(), reason="Out of scope of Art. 40")
    application.refresh_from_db()
    assert application.status == S.REJECTED
    assert "Out of scope of Art. 40" in mail.outbox[-1].body


@pytest.mark.parametrize("status", ["draft", "submitted", "under_review", "info_requested"])
def test_the_applicant_can_withdraw_before_a_decision(status):
    application = make_application(status=status)
    services.withdraw_application(application, actor=application.principal_researcher.user, reason="Changed plans")
    application.refresh_from_db()
    assert application.status == S.WITHDRAWN
    assert application.history.last().reason == "Changed plans"


INVALID = [
    ("draft", "start_review"),
    ("draft", "approve"),
    ("draft", "reject"),
    ("draft", "request_information"),
    ("submitted", "submit"),
    ("under_review", "submit"),
    ("under_review", "start_review"),
    ("info_requested", "approve"),
    ("info_requested", "reject"),
    ("info_requested", "request_information"),
    ("approved", "approve"),
    ("approved", "reject"),
    ("approved", "withdraw"),
    ("approved", "submit"),
    ("approved", "update"),
    ("rejected", "approve"),
    ("rejected", "withdraw"),
    ("rejected", "submit"),
    ("withdrawn", "submit"),
    ("withdrawn", "approve"),
    ("withdrawn", "withdraw"),
]


@pytest.mark.parametrize(("status", "action"), INVALID)
def test_an_invalid_transition_raises_a_clear_error_and_changes_nothing(status, action):
    application = make_application(status=status)
    reviewer = StaffFactory()
    user = application.principal_researcher.user
    history_before = application.history.count()
    calls = {
        "submit": lambda: services.submit_application(application, actor=user, reason="answer"),
        "start_review": lambda: services.start_review(application, reviewer=reviewer),
        "approve": lambda: services.approve_application(application, reviewer=reviewer),
        "reject": lambda: services.reject_application(application, reviewer=reviewer, reason="r"),
        "request_information": lambda: services.request_information(application, reviewer=reviewer, reason="r"),
        "withdraw": lambda: services.withdraw_application(application, actor=user),
        "update": lambda: services.update_application(application, actor=user, fields={"title": "x"}),
    }
    with pytest.raises(InvalidTransition) as excinfo:
        calls[action]()
    assert excinfo.value.code == "conflict"
    assert excinfo.value.detail["current_status"] == status
    assert f"is {status.replace('_', ' ')}" in excinfo.value.message
    application.refresh_from_db()
    assert application.status == status
    assert application.history.count() == history_before


def test_a_draft_can_be_edited_but_unknown_fields_are_refused():
    application = make_application()
    services.update_application(application, actor=application.principal_researcher.user, fields={"title": "New"})
    application.refresh_from_db()
    assert application.title == "New"
    with pytest.raises(InvalidRequest):
        services.update_application(application, actor=None, fields={"status": "approved"})


def test_registering_twice_with_one_email_is_refused():
    researcher = ResearcherFactory()
    with pytest.raises(InvalidRequest):
        services.register_researcher(
            email=researcher.user.email.upper(),
            password="x" * 12,
            first_name="A",
            last_name="B",
            organisation=researcher.organisation,
            country="DE",
        )
