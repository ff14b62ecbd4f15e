"""The application pages: drafts that save, country choices, labels instead of keys, the default modality."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail

from researchers import services
from researchers.models import Organisation, ResearchApplication, Researcher
from tests.researchers.factories import ResearcherFactory, ensure_datasets, make_application
from tests.researchers.test_portal import form_data, registration

pytestmark = pytest.mark.django_db


@pytest.fixture
def researcher_client(client):
    researcher = ResearcherFactory()
    client.force_login(researcher.user)
    client.researcher = researcher
    return client


# --------------------------------------------------------------------------- drafts
def test_save_draft_with_only_a_title_creates_a_draft(researcher_client):
    ensure_datasets()
    response = researcher_client.post("/portal/applications/new/", {"title": "Appeals in 2025", "save": "1"})
    assert response.status_code == 302
    application = ResearchApplication.objects.get()
    assert application.status == "draft"
    assert application.title == "Appeals in 2025"
    assert application.start_date is None and application.end_date is None
    assert application.public_summary == "" and application.datasets_requested.count() == 0
    page = researcher_client.get(response["Location"])
    assert "Draft saved" in page.text
    assert application.history.get().to_status == "draft"


def test_a_draft_without_a_title_is_not_saved_and_says_why(researcher_client):
    response = researcher_client.post("/portal/applications/new/", {"title": "", "save": "1"})
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["title"]
    assert not ResearchApplication.objects.exists()


def test_a_saved_draft_can_be_edited_as_a_draft_again_and_then_submitted(researcher_client):
    datasets = ensure_datasets()
    researcher_client.post("/portal/applications/new/", {"title": "Appeals", "save": "1"})
    application = ResearchApplication.objects.get()
    edit = f"/portal/applications/{application.pk}/edit/"
    assert researcher_client.post(edit, {"title": "Appeals", "methodology": "Survival analysis", "save": "1"})[
        "Location"
    ] == (f"/portal/applications/{application.pk}/")
    application.refresh_from_db()
    assert application.methodology == "Survival analysis" and application.status == "draft"

    # Submitting the incomplete draft from its page lists what is missing, by label.
    response = researcher_client.post(f"/portal/applications/{application.pk}/submit/", follow=True)
    (message,) = [str(m) for m in response.context["messages"] if m.level_tag == "error"]
    assert "Public summary: This field is required to submit." in message
    assert "Start of the project" in message and "Datasets requested" in message
    assert "public_summary" not in message and "start date" not in message
    application.refresh_from_db()
    assert application.status == "draft"

    response = researcher_client.post(edit, {**form_data(datasets), "submit": "1"})
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.status == "submitted"


def test_submit_still_requires_every_field_a_reviewer_needs(researcher_client):
    ensure_datasets()
    response = researcher_client.post("/portal/applications/new/", {"title": "Only a title", "submit": "1"})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {
        *ResearchApplication.REQUIRED_TO_SUBMIT,
        "systemic_risk_areas",
        "datasets_requested",
        "independence_declaration",
    }
    assert not ResearchApplication.objects.exists()


def test_the_submit_service_refuses_a_draft_without_dates(researcher_client):
    application = services.create_application(
        researcher=researcher_client.researcher, fields={"title": "No dates"}, datasets=ensure_datasets()
    )
    with pytest.raises(services.InvalidRequest) as excinfo:
        services.submit_application(application, actor=researcher_client.researcher.user)
    assert {"start_date", "end_date", "public_summary"} <= set(excinfo.value.detail)


def test_the_form_marks_which_fields_a_submission_needs(researcher_client):
    page = researcher_client.get("/portal/applications/new/").text
    assert re.search(r'for="id_title">Title <span class="req">\(required\)</span>', page)
    assert re.search(r'for="id_methodology">Methodology <span class="req">\(required to submit\)</span>', page)
    assert "only a title is needed" in page


# --------------------------------------------------------------------------- default modality
def test_a_new_application_defaults_to_row_level_records(researcher_client):
    page = researcher_client.get("/portal/applications/new/")
    assert page.context["form"]["modality_requested"].value() == "records"
    assert re.search(r'<input[^>]*name="modality_requested"[^>]*value="records"[^>]*checked', page.text)
    researcher_client.post("/portal/applications/new/", {"title": "Default modality", "save": "1"})
    assert ResearchApplication.objects.get().modality_requested == "records"
    assert ResearchApplication._meta.get_field("modality_requested").default == "records"


# --------------------------------------------------------------------------- countries
def test_registration_offers_countries_by_name_and_stores_the_right_code(client):
    page = client.get("/portal/register/").text
    assert '<option value="NL">Netherlands</option>' in page
    assert '<option value="NE">Niger</option>' in page
    assert 'name="country" maxlength' not in page  # a choice, not two letters of free text
    response = client.post("/portal/register/", registration(organisation_country="NL", country="NL"))
    assert response.status_code == 302
    researcher = Researcher.objects.get()
    assert researcher.country == "NL" and researcher.get_country_display() == "Netherlands"
    assert researcher.organisation.country == "NL"


@pytest.mark.parametrize("typed", ["Netherlands", "NE ", "nl", "XX", "Ne"])
def test_a_country_that_is_not_one_of_the_choices_is_refused(client, typed):
    response = client.post("/portal/register/", registration(country=typed))
    assert response.status_code == 200
    assert "country" in response.context["form"].errors
    assert not Researcher.objects.exists()


def test_the_admin_organisation_and_researcher_forms_offer_country_names(admin_client):
    page = admin_client.get("/admin/researchers/organisation/add/").text
    assert '<select name="country"' in page and '<option value="NL">Netherlands</option>' in page
    researcher = ResearcherFactory(country="NE")
    page = admin_client.get(f"/admin/researchers/researcher/{researcher.pk}/change/").text
    assert '<option value="NE" selected>Niger</option>' in page
    listing = admin_client.get("/admin/researchers/organisation/").text
    assert "Germany" in listing  # the factory's organisations are in DE


def test_an_organisation_with_a_made_up_code_does_not_validate():
    from django.core.exceptions import ValidationError

    organisation = Organisation(name="Nowhere Institute", country="XX", type="other")
    with pytest.raises(ValidationError) as excinfo:
        organisation.full_clean()
    assert "country" in excinfo.value.message_dict


# --------------------------------------------------------------------------- labels
def test_the_application_page_shows_labels_not_keys(client):
    application = make_application(systemic_risk_areas=["public_security", "civic_discourse_elections"])
    client.force_login(application.principal_researcher.user)
    page = client.get(f"/portal/applications/{application.pk}/").text
    assert "Public security, Civic discourse, electoral processes" in page
    for key in ("public_security", "civic_discourse_elections", "records_and_exports"):
        assert key not in page
    assert "Row-level records and bulk exports" in page
    assert "Germany" in page  # the organisation's country by name


def test_the_admin_application_page_shows_risk_areas_by_name(admin_client):
    application = make_application(status="submitted", systemic_risk_areas=["minors"])
    page = admin_client.get(f"/admin/researchers/researchapplication/{application.pk}/change/").text
    assert "Protection of minors" in page
    assert "[&#x27;minors&#x27;]" not in page and "['minors']" not in page


def test_dataset_choices_show_their_description(researcher_client):
    ensure_datasets()
    page = researcher_client.get("/portal/applications/new/").text
    assert "Row-level, anonymized moderation decisions" in page
    match = re.search(r'<input[^>]*name="datasets_requested"[^>]*>', page)
    assert match and 'aria-describedby="id_datasets_requested_0_description"' in match.group(0)
    assert 'id="id_datasets_requested_0_description"' in page


# --------------------------------------------------------------------------- e-mails
def test_notification_emails_link_to_the_public_base_url(client, settings, django_capture_on_commit_callbacks):
    settings.PUBLIC_BASE_URL = "https://research.example.org"
    settings.SITE_NAME = "Example research access"
    application = make_application()
    with django_capture_on_commit_callbacks(execute=True):
        services.submit_application(application, actor=application.principal_researcher.user)
    message = mail.outbox[-1]
    assert f"https://research.example.org/portal/applications/{application.pk}/" in message.body
    assert message.subject.startswith("[Example research access]")
    assert not re.search(r"(?<!https://research\.example\.org)/portal/", message.body.replace("\n", " "))


def test_grant_emails_link_to_the_dashboard(settings, django_capture_on_commit_callbacks, staff):
    settings.PUBLIC_BASE_URL = "https://research.example.org/"
    application = make_application(status="submitted")
    grant = services.approve_application(application, reviewer=staff)
    with django_capture_on_commit_callbacks(execute=True):
        services.suspend_grant(grant, actor=staff, reason="Audit")
    assert "https://research.example.org/portal/dashboard/" in mail.outbox[-1].body


def test_dates_of_a_submitted_application_stay_checked():
    application = make_application()
    application.end_date = application.start_date - dt.timedelta(days=1)
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        application.save()
