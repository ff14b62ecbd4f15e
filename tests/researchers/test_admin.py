from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core import mail

from researchers.models import AccessGrant, ResearchApplication
from tests.researchers.factories import StaffFactory, UserFactory, ensure_datasets, make_application

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory())
    return client


@pytest.fixture
def nonstaff_client(client):
    client.force_login(UserFactory())
    return client


def url(application, action: str) -> str:
    return f"/admin/researchers/researchapplication/{application.pk}/{action}/"


def test_the_application_list_filters_and_searches(staff_client):
    a = make_application(status="submitted", title="Hate speech study")
    make_application(status="draft", title="Other study")
    response = staff_client.get("/admin/researchers/researchapplication/", {"status__exact": "submitted"})
    assert response.status_code == 200
    assert "Hate speech study" in response.text and "Other study" not in response.text
    response = staff_client.get("/admin/researchers/researchapplication/", {"q": "hate speech"})
    assert "Hate speech study" in response.text and "Other study" not in response.text
    response = staff_client.get(
        "/admin/researchers/researchapplication/", {"organisation__id__exact": a.organisation_id}
    )
    assert "Hate speech study" in response.text and "Other study" not in response.text


def test_the_detail_page_shows_buttons_and_read_only_history(staff_client):
    application = make_application(status="submitted")
    response = staff_client.get(f"/admin/researchers/researchapplication/{application.pk}/change/")
    assert response.status_code == 200
    for label in ('id="review-approve"', 'id="review-reject"', 'id="review-request-information"'):
        assert label in response.text
    assert "History" in response.text
    assert 'name="history-0-reason"' not in response.text  # read-only: no inputs


def test_the_approve_button_asks_for_the_terms_defaulting_to_the_request(staff_client):
    datasets = ensure_datasets()
    application = make_application(status="submitted", datasets=datasets[:1], modality_requested="records")
    response = staff_client.get(url(application, "approve"))
    assert response.status_code == 200
    form = response.context["form"]
    assert [d.pk for d in form.initial["datasets"]] == [datasets[0].pk]
    assert form.initial["modality"] == "records"
    assert form.initial["valid_until"] == application.end_date


def test_approving_through_the_button_issues_the_grant_with_the_chosen_terms(
    staff_client, django_capture_on_commit_callbacks
):
    datasets = ensure_datasets()
    application = make_application(status="submitted", datasets=datasets)
    until = dt.date.today() + dt.timedelta(days=90)
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            url(application, "approve"),
            {
                "datasets": [datasets[0].pk],
                "modality": "aggregate",
                "valid_from": dt.date.today().isoformat(),
                "valid_until": until.isoformat(),
                "reason": "Approved for aggregates only",
            },
        )
    grant = AccessGrant.objects.get(application=application)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/researchers/accessgrant/{grant.pk}/change/"
    assert grant.modality == "aggregate" and grant.valid_until == until
    assert [d.pk for d in grant.datasets.all()] == [datasets[0].pk]
    application.refresh_from_db()
    assert application.history.last().reason == "Approved for aggregates only"
    assert "approved" in mail.outbox[-1].body


def test_invalid_approval_terms_are_shown_next_to_the_fields(staff_client):
    application = make_application(status="submitted")
    response = staff_client.post(
        url(application, "approve"),
        {"datasets": [], "modality": "records", "valid_from": "2030-01-02", "valid_until": "2030-01-01"},
    )
    assert response.status_code == 200
    assert "datasets" in response.context["form"].errors
    assert "valid_until" in response.context["form"].errors
    application.refresh_from_db()
    assert application.status == "submitted"


@pytest.mark.parametrize(("action", "status"), [("reject", "rejected"), ("request-information", "info_requested")])
def test_reject_and_request_information_need_a_reason(staff_client, action, status):
    application = make_application(status="under_review")
    response = staff_client.post(url(application, action), {"reason": ""})
    assert response.status_code == 200 and "reason" in response.context["form"].errors
    response = staff_client.post(url(application, action), {"reason": "Please explain the methodology."})
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.status == status
    assert application.history.last().reason == "Please explain the methodology."


def test_a_button_on_an_application_in_the_wrong_state_shows_the_error(staff_client):
    application = make_application(status="draft")
    response = staff_client.post(url(application, "reject"), {"reason": "x"})
    assert response.status_code == 200
    assert "cannot become rejected" in response.text


def test_bulk_approval_reports_each_failure(staff_client):
    ok = [make_application(status="submitted"), make_application(status="under_review")]
    bad = make_application(status="draft", title="Still a draft")
    ids = [a.pk for a in [*ok, bad]]
    changelist = "/admin/researchers/researchapplication/"
    confirm = staff_client.post(changelist, {"action": "approve_selected", ACTION_CHECKBOX_NAME: ids})
    assert confirm.status_code == 200 and "This applies to" in confirm.text
    response = staff_client.post(
        changelist,
        {"action": "approve_selected", ACTION_CHECKBOX_NAME: ids, "apply": "1", "reason": "batch"},
        follow=True,
    )
    texts = [str(m) for m in response.context["messages"]]
    assert "Approved 2 object(s)." in texts
    assert any("Still a draft" in t and "is draft" in t for t in texts)
    assert AccessGrant.objects.count() == 2
    bad.refresh_from_db()
    assert bad.status == "draft"


def test_bulk_rejection_needs_a_reason(staff_client):
    application = make_application(status="submitted")
    changelist = "/admin/researchers/researchapplication/"
    response = staff_client.post(
        changelist, {"action": "reject_selected", ACTION_CHECKBOX_NAME: [application.pk], "apply": "1", "reason": ""}
    )
    assert response.status_code == 200 and "reason" in response.context["form"].errors
    staff_client.post(
        changelist,
        {"action": "reject_selected", ACTION_CHECKBOX_NAME: [application.pk], "apply": "1", "reason": "No"},
    )
    application.refresh_from_db()
    assert application.status == "rejected"


def test_a_non_staff_user_is_refused_everywhere(nonstaff_client):
    application = make_application(status="submitted")
    for response in (
        nonstaff_client.get("/admin/researchers/researchapplication/"),
        nonstaff_client.post(url(application, "approve"), {"reason": "x"}),
        nonstaff_client.post(url(application, "reject"), {"reason": "x"}),
        nonstaff_client.post(
            "/admin/researchers/researchapplication/",
            {"action": "approve_selected", ACTION_CHECKBOX_NAME: [application.pk], "apply": "1"},
        ),
    ):
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
    application.refresh_from_db()
    assert application.status == "submitted"
    assert not AccessGrant.objects.exists()


def test_staff_without_the_change_permission_is_refused(client):
    user = StaffFactory(is_superuser=False)
    client.force_login(user)
    application = make_application(status="submitted")
    assert client.post(url(application, "approve"), {}).status_code == 403
    application.refresh_from_db()
    assert application.status == "submitted"


# --------------------------------------------------------------------------- grants
def grant_url(grant, action: str) -> str:
    return f"/admin/researchers/accessgrant/{grant.pk}/{action}/"


def test_a_grant_is_editable_and_the_change_is_recorded(staff_client, issued):
    grant, *_ = issued
    datasets = ensure_datasets()
    response = staff_client.post(
        f"/admin/researchers/accessgrant/{grant.pk}/change/",
        {
            "datasets": [datasets[0].pk],
            "modality": "records",
            "valid_from": grant.valid_from.isoformat(),
            "valid_until": (grant.valid_until + dt.timedelta(days=10)).isoformat(),
            "requests_per_minute": 30,
            "requests_per_day": 500,
            "records_per_day": 5000,
            "concurrent_exports": 1,
            "export_rows_per_month": 2_000_000,
            "history-TOTAL_FORMS": 0,
            "history-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    grant.refresh_from_db()
    assert grant.modality == "records" and grant.requests_per_minute == 30 and grant.concurrent_exports == 1
    assert grant.export_rows_per_month == 2_000_000
    assert [d.pk for d in grant.datasets.all()] == [datasets[0].pk]
    assert grant.history.last().kind == "updated"


def test_grant_buttons_suspend_reinstate_and_revoke(staff_client, issued):
    grant, *_ = issued
    page = staff_client.get(f"/admin/researchers/accessgrant/{grant.pk}/change/")
    assert 'id="grant-suspend"' in page.text and 'id="grant-reinstate"' not in page.text
    assert staff_client.post(grant_url(grant, "suspend"), {"reason": ""}).status_code == 200
    assert staff_client.post(grant_url(grant, "suspend"), {"reason": "audit"}).status_code == 302
    grant.refresh_from_db()
    assert grant.status == "suspended"
    page = staff_client.get(f"/admin/researchers/accessgrant/{grant.pk}/change/")
    assert 'id="grant-reinstate"' in page.text
    assert staff_client.post(grant_url(grant, "reinstate"), {"reason": ""}).status_code == 302
    grant.refresh_from_db()
    assert grant.status == "active"
    assert staff_client.post(grant_url(grant, "revoke"), {"reason": "breach"}).status_code == 302
    grant.refresh_from_db()
    assert grant.status == "revoked"
    assert [e.kind for e in grant.history.all()][-3:] == ["suspended", "reinstated", "revoked"]


def test_bulk_suspension_reports_grants_that_cannot_be_suspended(staff_client, issued):
    grant, *_ = issued
    other = AccessGrant.objects.get(
        pk=__import__("researchers.services", fromlist=["x"])
        .approve_application(make_application(status="submitted"), reviewer=StaffFactory())
        .pk
    )
    AccessGrant.objects.filter(pk=other.pk).update(status="revoked")
    response = staff_client.post(
        "/admin/researchers/accessgrant/",
        {"action": "suspend_selected", ACTION_CHECKBOX_NAME: [grant.pk, other.pk], "apply": "1", "reason": "x"},
        follow=True,
    )
    texts = [str(m) for m in response.context["messages"]]
    assert "Suspended 1 object(s)." in texts
    assert any("is revoked" in t for t in texts)


def test_a_non_staff_user_cannot_suspend_a_grant(nonstaff_client, issued):
    grant, *_ = issued
    response = nonstaff_client.post(grant_url(grant, "suspend"), {"reason": "x"})
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    grant.refresh_from_db()
    assert grant.status == "active"


def test_applications_and_grants_cannot_be_deleted_or_added_in_admin(staff_client, issued):
    grant, *_ = issued
    assert staff_client.get("/admin/researchers/accessgrant/add/").status_code == 403
    assert staff_client.get(f"/admin/researchers/accessgrant/{grant.pk}/delete/").status_code == 403
    assert staff_client.get(f"/admin/researchers/researchapplication/{grant.application_id}/delete/").status_code == 403
    assert ResearchApplication.objects.filter(pk=grant.application_id).exists()


def test_start_review_in_bulk_moves_submitted_applications_and_reports_the_others(staff_client):
    submitted = make_application(status="submitted")
    draft = make_application(status="draft", title="A draft")
    response = staff_client.post(
        "/admin/researchers/researchapplication/",
        {"action": "start_review_selected", ACTION_CHECKBOX_NAME: [submitted.pk, draft.pk]},
        follow=True,
    )
    texts = [str(m) for m in response.context["messages"]]
    assert "Moved 1 object(s)." in texts
    assert any("A draft" in t for t in texts)
    submitted.refresh_from_db()
    assert submitted.status == "under_review"


def test_staff_with_only_the_view_permission_cannot_run_bulk_actions(client):
    from django.contrib.auth.models import Permission

    user = StaffFactory(is_superuser=False)
    user.user_permissions.add(Permission.objects.get(codename="view_researchapplication"))
    client.force_login(user)
    application = make_application(status="submitted")
    changelist = "/admin/researchers/researchapplication/"
    assert client.get(changelist).status_code == 200
    client.post(changelist, {"action": "approve_selected", ACTION_CHECKBOX_NAME: [application.pk], "apply": "1"})
    application.refresh_from_db()
    assert application.status == "submitted"
    assert not AccessGrant.objects.exists()


def test_oauth_clients_are_managed_only_through_their_grants(staff_client):
    assert staff_client.get("/admin/oauth2_provider/application/").status_code == 404
    assert staff_client.get("/admin/oauth2_provider/refreshtoken/").status_code == 404
    # No access-token pages either: a token edited to another client's checksum would act as that client.
    assert staff_client.get("/admin/oauth2_provider/accesstoken/").status_code == 404
    assert staff_client.get("/admin/oauth2_provider/accesstoken/add/").status_code == 404
