"""Staff's DSC route in the admin: recording a request, the window filter and days left, amendment
requests (refused after the window), the DSC's decision, approval, the grant form that cannot widen a
DSC grant, and the evidence file download."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from moderation_data.catalog.models import Dataset
from researchers.models import AccessGrant
from researchers.reasoned_requests import services as dsc
from researchers.reasoned_requests.models import AmendmentRequest, ReasonedRequest
from tests.researchers.dsc_support import record
from tests.researchers.factories import ResearcherFactory, StaffFactory, UserFactory, ensure_datasets

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/researchers/reasonedrequest/"


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory())
    return client


def page(request: ReasonedRequest, action: str = "change") -> str:
    return f"{CHANGELIST}{request.pk}/{action}/"


def linked_request(**overrides) -> ReasonedRequest:
    """A request whose principal researcher already has an account (linked on recording)."""
    principal = ResearcherFactory()
    return record(
        researchers=[{"name": "Maria Schmidt", "email": principal.user.email, "is_principal": True}], **overrides
    )


def add_form(**overrides) -> dict:
    datasets = ensure_datasets()
    today = timezone.localdate()
    data = {
        "reference": "FR-ARCOM-2026-0007",
        "dsc_member_state": "FR",
        "dsc_authority": "Arcom",
        "received_at": "2026-10-20T09:30",
        "title": "Hate speech moderation in French-language content",
        "research_purpose": "Measure the speed and reversals of hate speech removals.",
        "systemic_risk_areas": ["illegal_content", "fundamental_rights"],
        "organisation_name": "Sciences Po",
        "organisation_country": "FR",
        "organisation_type": "university",
        "researchers": "Claire Martin; claire@sciencespo.example; CEVIPOF\nLucas Bernard; lucas@sciencespo.example",
        "datasets": [d.pk for d in datasets if d.slug == "moderation-decisions"],
        "fields_requested": "decided_on, policy, country, appealed",
        "data_from": "2025-01-01",
        "data_until": "2025-12-31",
        "modality": "records",
        "access_from": today.isoformat(),
        "access_until": (today + dt.timedelta(days=365)).isoformat(),
        "security_requirements": "Only on the institute's secure cluster.",
        "confidentiality_requirements": "",
        "request_document": SimpleUploadedFile("request.pdf", b"%PDF-1.4 reasoned request", "application/pdf"),
    }
    data.update(overrides)
    return data


def test_staff_record_a_request_in_the_admin_with_its_document_and_invitations_go_out(
    staff_client, django_capture_on_commit_callbacks, settings, tmp_path
):
    settings.DSC_DOCUMENT_DIR = tmp_path
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"{CHANGELIST}add/", add_form())
    request = ReasonedRequest.objects.get(reference="FR-ARCOM-2026-0007")
    assert response.status_code == 302 and response["Location"] == page(request)
    # Received 09:30 Paris time (CEST): 07:30 UTC, window to the end of November 4, Paris time.
    assert request.received_at == dt.datetime(2026, 10, 20, 7, 30, tzinfo=dt.UTC)
    assert request.amendment_window_closes_at == dt.datetime(2026, 11, 4, 23, 0, tzinfo=dt.UTC)
    assert request.organisation.name == "Sciences Po" and request.organisation.country == "FR"
    assert request.fields_requested == ["decided_on", "policy", "country", "appealed"]
    assert request.researchers.get(is_principal=True).email == "claire@sciencespo.example"
    import hashlib

    assert request.request_document_sha256 == hashlib.sha256(b"%PDF-1.4 reasoned request").hexdigest()
    assert (tmp_path / request.request_document.name).read_bytes() == b"%PDF-1.4 reasoned request"
    assert sorted(m.to[0] for m in mail.outbox) == ["claire@sciencespo.example", "lucas@sciencespo.example"]
    detail = staff_client.get(page(request))
    text = detail.content.decode()
    assert "2026-11-05 00:00 CET" in text and 'id="dsc-approve"' in text and 'id="dsc-evidence"' in text
    assert 'name="_save"' not in text  # everything is read-only; changes go through the buttons


def test_a_bad_request_form_shows_its_errors_and_records_nothing(staff_client):
    response = staff_client.post(
        f"{CHANGELIST}add/",
        add_form(researchers="Claire Martin", data_until="2024-01-01", fields_requested="policy, secret_field"),
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "researchers" in errors
    assert not ReasonedRequest.objects.exists()
    response = staff_client.post(f"{CHANGELIST}add/", add_form(data_until="2024-01-01", fields_requested="nope"))
    assert response.status_code == 200
    assert {"data_until", "fields_requested"} <= set(response.context["form"].errors)
    assert not ReasonedRequest.objects.exists()


def test_the_list_filters_requests_by_amendment_window_and_shows_days_left(staff_client):
    now = timezone.now()
    soon = record(dsc_member_state="IE", received_at=now - dt.timedelta(days=14), title="Closing tomorrow")
    later = record(dsc_member_state="IE", received_at=now - dt.timedelta(days=11), title="Four days left")
    fresh = record(dsc_member_state="IE", received_at=now - dt.timedelta(hours=1), title="Fresh")
    closed = record(dsc_member_state="IE", received_at=now - dt.timedelta(days=40), title="Long closed")
    listed = {}
    for value in ("2", "5", "open", "closed"):
        response = staff_client.get(CHANGELIST, {"window": value})
        assert response.status_code == 200
        listed[value] = {r.reference for r in response.context["cl"].result_list}
    assert listed["2"] == {soon.reference}
    assert listed["5"] == {soon.reference, later.reference}
    assert listed["open"] == {soon.reference, later.reference, fresh.reference}
    assert listed["closed"] == {closed.reference}
    text = staff_client.get(CHANGELIST).content.decode()
    assert "amendment window closing" in text and "Days left" in text


def test_an_amendment_is_requested_with_the_button_inside_the_window(staff_client):
    request = record()
    response = staff_client.post(
        page(request, "request-amendment"),
        {"ground": "no_access", "explanation": "Not retained.", "alternatives": "The monthly aggregates instead."},
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == "amendment_requested"
    assert 'id="dsc-decision"' in staff_client.get(page(request)).content.decode()


def test_after_the_window_the_amendment_button_is_gone_and_a_forced_post_is_refused(staff_client):
    request = record(received_at=timezone.now() - dt.timedelta(days=17))
    assert 'id="dsc-request-amendment"' not in staff_client.get(page(request)).content.decode()
    response = staff_client.post(
        page(request, "request-amendment"), {"ground": "no_access", "explanation": "x", "alternatives": "y"}
    )
    assert response.status_code == 200
    assert "window" in " ".join(response.context["form"].non_field_errors())
    assert not AmendmentRequest.objects.exists()
    request.refresh_from_db()
    assert request.status == "received"


def test_the_dscs_decision_is_recorded_with_the_button_and_may_narrow_the_terms(staff_client):
    request = record(modality="records_and_exports")
    dsc.request_amendment(request, ground="vulnerability", explanation="x", alternatives="records only", actor=None)
    form = staff_client.get(page(request, "dsc-decision")).context["form"]
    assert form.initial["modality"] == "records_and_exports"
    response = staff_client.post(
        page(request, "dsc-decision"),
        {
            "decision": "amended",
            "decided_on": timezone.localdate().isoformat(),
            "note": "Agreed.",
            "modality": "records",
            "datasets": [d.pk for d in request.datasets.all()],
        },
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == "received" and request.modality == "records"
    assert request.amendments.get().decision == "amended"


def test_the_approve_button_offers_at_most_the_request_and_issues_the_grant(staff_client):
    request = linked_request(modality="records")
    response = staff_client.get(page(request, "approve"))
    form = response.context["form"]
    assert [value for value, _ in form.fields["modality"].choices] == ["aggregate", "records"]
    assert list(form.fields["datasets"].queryset) == list(request.datasets.all())
    summary = Dataset.objects.get(slug="enforcement-summary")
    wider = {
        **{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in form.initial.items()},
        "datasets": [summary.pk],
        "modality": "records_and_exports",
        "data_fields": "",
        "data_until": (request.data_until + dt.timedelta(days=1)).isoformat(),
    }
    refused = staff_client.post(page(request, "approve"), wider)
    assert refused.status_code == 200
    assert {"datasets", "modality", "data_until"} <= set(refused.context["form"].errors)
    assert not AccessGrant.objects.exists()
    initial = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in form.initial.items()}
    initial["datasets"] = [d.pk for d in initial["datasets"]]
    initial["data_fields"] = ""
    response = staff_client.post(page(request, "approve"), {**initial, "reason": "Accepted."})
    grant = AccessGrant.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/admin/researchers/accessgrant/{grant.pk}/change/"
    assert grant.dsc_reference == request.reference


def grant_form(grant: AccessGrant, **overrides) -> dict:
    data = {
        "datasets": [d.pk for d in grant.datasets.all()],
        "modality": grant.modality,
        "valid_from": grant.valid_from.isoformat(),
        "valid_until": grant.valid_until.isoformat(),
        "requests_per_minute": grant.requests_per_minute,
        "requests_per_day": grant.requests_per_day,
        "records_per_day": grant.records_per_day,
        "concurrent_exports": grant.concurrent_exports,
        "export_rows_per_month": grant.export_rows_per_month,
        "data_from": grant.data_from.isoformat() if grant.data_from else "",
        "data_until": grant.data_until.isoformat() if grant.data_until else "",
        "data_fields": ",".join(grant.data_fields),
        "history-TOTAL_FORMS": 0,
        "history-INITIAL_FORMS": 0,
        "history-MIN_NUM_FORMS": 0,
        "history-MAX_NUM_FORMS": 1000,
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("datasets", "all"),
        ("modality", "records_and_exports"),
        ("valid_until", "far"),
        ("data_from", "2000-01-01"),
        ("data_until", ""),
        ("data_fields", "decided_on,policy,account_id"),
    ],
)
def test_the_grant_form_cannot_widen_a_dsc_grant(staff_client, field, value):
    request = linked_request(modality="records", fields_requested=["decided_on", "policy"])
    grant = dsc.approve_reasoned_request(request, reviewer=None)
    if value == "all":
        value = [d.pk for d in Dataset.objects.all()]
    if value == "far":
        value = (request.access_until + dt.timedelta(days=1)).isoformat()
    response = staff_client.post(
        f"/admin/researchers/accessgrant/{grant.pk}/change/", grant_form(grant, **{field: value})
    )
    assert response.status_code == 200, "the form is shown again with its errors"
    errors = response.context["adminform"].form.errors
    assert field in errors and request.reference in str(errors[field])
    fresh = AccessGrant.objects.get(pk=grant.pk)
    assert (fresh.modality, fresh.valid_until, fresh.data_from, fresh.data_until, fresh.data_fields) == (
        grant.modality, grant.valid_until, grant.data_from, grant.data_until, grant.data_fields,
    )  # fmt: skip
    assert not fresh.history.filter(kind="updated").exists()


def test_the_grant_form_narrows_a_dsc_grant_and_shows_its_reference(staff_client):
    request = linked_request(modality="records")
    grant = dsc.approve_reasoned_request(request, reviewer=None)
    page_ = staff_client.get(f"/admin/researchers/accessgrant/{grant.pk}/change/").content.decode()
    assert request.reference in page_
    response = staff_client.post(
        f"/admin/researchers/accessgrant/{grant.pk}/change/",
        grant_form(grant, modality="aggregate", data_from="2025-06-01"),
    )
    assert response.status_code == 302
    grant.refresh_from_db()
    assert grant.modality == "aggregate" and grant.data_from == dt.date(2025, 6, 1)


def test_the_evidence_file_downloads_from_the_request_page_and_the_grant_list(staff_client):
    request = linked_request()
    grant = dsc.approve_reasoned_request(request, reviewer=None)
    response = staff_client.get(page(request, "evidence"))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert f'filename="evidence-{request.reference}' in response["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["reasoned_request"]["reference"] == request.reference and manifest["grant"]["id"] == grant.pk
    response = staff_client.post(
        "/admin/researchers/accessgrant/", {"action": "download_evidence_file", ACTION_CHECKBOX_NAME: [grant.pk]}
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    other = dsc.approve_reasoned_request(linked_request(), reviewer=None)
    response = staff_client.post(
        "/admin/researchers/accessgrant/",
        {"action": "download_evidence_file", ACTION_CHECKBOX_NAME: [grant.pk, other.pk]},
        follow=True,
    )
    assert "Select exactly one" in response.content.decode()


def test_people_who_are_not_staff_reach_none_of_it(client):
    request = record()
    client.force_login(UserFactory())
    for url in (CHANGELIST, f"{CHANGELIST}add/", page(request), page(request, "approve"), page(request, "evidence")):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_evidence_file_carries_the_request_document_and_its_checksum(staff_client, settings, tmp_path):
    settings.DSC_DOCUMENT_DIR = tmp_path
    document = SimpleUploadedFile("IE-request.pdf", b"%PDF-1.7 the DSC's reasoned request", "application/pdf")
    request = record(request_document=document)
    response = staff_client.get(page(request, "evidence"))
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        stored = manifest["reasoned_request"]["document"]
        assert archive.read(stored["file"]) == b"%PDF-1.7 the DSC's reasoned request"
    assert stored["sha256_recorded"] == stored["sha256_now"] == request.request_document_sha256
    assert manifest["grant"] is None and manifest["access_events"]["count"] == 0
