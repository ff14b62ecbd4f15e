from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail

from researchers.models import AccessGrant, ResearchApplication
from tests.researchers.conftest import assert_nowhere_in_the_database, obtain_token
from tests.researchers.factories import (
    ResearcherFactory,
    StaffFactory,
    UserFactory,
    application_fields,
    ensure_datasets,
    make_application,
)

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-Unusual-passphrase-42"


def registration(**overrides) -> dict:
    data = {
        "first_name": "Rosalind",
        "last_name": "Franklin",
        "email": "r.franklin@uni.example",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "orcid": "0000-0002-1825-0097",
        "organisation_name": "Universiteit van Amsterdam",
        "organisation_type": "university",
        "organisation_country": "NL",
        "affiliation": "Institute for Information Law",
        "country": "NL",
    }
    data.update(overrides)
    return data


def form_data(datasets, **overrides) -> dict:
    fields = application_fields(**overrides)
    data = {k: v for k, v in fields.items() if k != "independence_declaration" and v is not None}
    if fields["independence_declaration"]:
        data["independence_declaration"] = "on"
    for name in ("ethics_approval_date", "start_date", "end_date"):
        data[name] = fields[name].isoformat()
    data["datasets_requested"] = [d.pk for d in datasets]
    return data


def test_the_whole_journey_from_registration_to_a_rotated_secret(client, django_capture_on_commit_callbacks):
    datasets = ensure_datasets()
    # Register (and be logged in), then confirm the address with the e-mailed link.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/portal/register/", registration())
    assert response.status_code == 302 and response["Location"] == "/portal/"
    assert client.get("/portal/").status_code == 200
    link = re.search(r"http://127\.0\.0\.1:8000(/portal/verify-email/\S+/)", mail.outbox[-1].body).group(1)
    assert "Confirm my address" in client.get(link).text
    assert "Address confirmed" in client.post(link).text

    # Draft, then submit.
    response = client.post("/portal/applications/new/", {**form_data(datasets), "save": "1"})
    assert response.status_code == 302
    application = ResearchApplication.objects.get()
    assert application.status == "draft"
    assert application.principal_researcher.orcid == "0000-0002-1825-0097"
    assert application.organisation.name == "Universiteit van Amsterdam"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/portal/applications/{application.pk}/submit/")
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.status == "submitted"
    assert mail.outbox[-1].to == ["r.franklin@uni.example"]

    # An admin asks for more information; the researcher sees it and answers.
    staff = StaffFactory()
    from django.test import Client

    admin = Client()
    admin.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(
            f"/admin/researchers/researchapplication/{application.pk}/request-information/",
            {"reason": "Which ethics board approved the study?"},
        )
    assert "Which ethics board approved the study?" in mail.outbox[-1].body
    page = client.get(f"/portal/applications/{application.pk}/")
    assert "Which ethics board approved the study?" in page.text
    assert "Information requested" in page.text
    # Editing is allowed while information is requested.
    response = client.post(
        f"/portal/applications/{application.pk}/edit/",
        {**form_data(datasets, ethics_body="Amsterdam Ethics Board"), "save": "1"},
    )
    assert response.status_code == 302
    response = client.post(f"/portal/applications/{application.pk}/submit/", {"answer": ""})
    assert response.status_code == 400 and "This field is required" in response.text
    client.post(f"/portal/applications/{application.pk}/submit/", {"answer": "The Amsterdam Ethics Board."})
    application.refresh_from_db()
    assert application.status == "submitted"
    assert application.ethics_body == "Amsterdam Ethics Board"

    # The admin approves.
    admin.post(
        f"/admin/researchers/researchapplication/{application.pk}/approve/",
        {
            "datasets": [d.pk for d in datasets],
            "modality": "records_and_exports",
            "valid_from": dt.date.today().isoformat(),
            "valid_until": (dt.date.today() + dt.timedelta(days=200)).isoformat(),
            "reason": "Approved",
        },
    )
    grant = AccessGrant.objects.get()
    page = client.get(f"/portal/applications/{application.pk}/")
    assert "Approved" in page.text
    history = page.text[page.text.index('id="history"') :]
    assert history.index("Draft") < history.index("Information requested") < history.rindex("Approved")

    # Credentials: the secret is shown once.
    page = client.get(f"/portal/grants/{grant.pk}/credentials/")
    assert grant.oauth_client.client_id in page.text and 'id="reveal-secret"' in page.text
    page = client.post(f"/portal/grants/{grant.pk}/credentials/")
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    secret = re.search(r'id="client-secret"[^>]*>([^<]+)</textarea>', page.text).group(1)
    reload = client.get(f"/portal/grants/{grant.pk}/credentials/")
    assert secret not in reload.text and 'id="reveal-secret"' not in reload.text
    assert client.post(f"/portal/grants/{grant.pk}/credentials/").status_code == 302  # no second reveal
    assert secret not in client.get(f"/portal/grants/{grant.pk}/credentials/").text

    # The secret works: a token, then /api/v1/me.
    token_response = obtain_token(client, grant.oauth_client.client_id, secret)
    assert token_response.status_code == 200
    token = token_response.json()["access_token"]
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert me.status_code == 200 and me.json()["project"]["title"] == application.title

    # Rotate: a new secret shown once; the old secret and its token stop working at once.
    assert client.get(f"/portal/grants/{grant.pk}/rotate/").status_code == 200
    page = client.post(f"/portal/grants/{grant.pk}/rotate/")
    assert page.status_code == 200
    new_secret = re.search(r'id="client-secret"[^>]*>([^<]+)</textarea>', page.text).group(1)
    assert new_secret != secret
    assert obtain_token(client, grant.oauth_client.client_id, secret).status_code == 401
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    assert obtain_token(client, grant.oauth_client.client_id, new_secret).status_code == 200

    # Nothing readable is left behind: not in any table, not in the session.
    new_token = obtain_token(client, grant.oauth_client.client_id, new_secret).json()["access_token"]
    assert_nowhere_in_the_database([secret, new_secret, token, new_token])

    # Grants list: validity and quotas.
    page = client.get("/portal/grants/")
    assert "1000 requests/day" in page.text and grant.valid_until.isoformat() in page.text


def test_registration_errors_are_shown_next_to_their_fields(client):
    ResearcherFactory(user=UserFactory(username="taken@uni.example"))
    response = client.post(
        "/portal/register/",
        registration(email="taken@uni.example", orcid="0000-0002-1825-0098", password2="different", country="XYZ"),
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) >= {"email", "orcid", "password2", "country"}
    assert "check digit" in errors["orcid"][0]
    html = response.text
    assert 'id="id_orcid_error"' in html
    assert re.search(r'<input[^>]*aria-describedby="id_orcid_helptext id_orcid_error"[^>]*>', html) or re.search(
        r'<input[^>]*aria-invalid="true"[^>]*id="id_orcid"', html
    )
    assert 'aria-invalid="true"' in html
    assert '<label for="id_email">' in html


def test_a_weak_password_is_refused(client):
    response = client.post("/portal/register/", registration(password1="password", password2="password"))
    assert response.status_code == 200
    assert "password1" in response.context["form"].errors


def test_submitting_an_incomplete_application_marks_the_missing_fields(client):
    datasets = ensure_datasets()
    researcher = ResearcherFactory()
    client.force_login(researcher.user)
    data = form_data(datasets, independence_declaration=False, systemic_risk_areas=[])
    data["datasets_requested"] = []
    data["end_date"] = "2000-01-01"
    data["methodology"] = ""
    response = client.post("/portal/applications/new/", {**data, "submit": "1"})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) >= {
        "independence_declaration",
        "systemic_risk_areas",
        "datasets_requested",
        "end_date",
        "methodology",
    }
    assert 'role="alert"' in response.text
    assert not ResearchApplication.objects.exists()


def test_save_and_submit_in_one_step(client):
    datasets = ensure_datasets()
    client.force_login(ResearcherFactory().user)
    response = client.post("/portal/applications/new/", {**form_data(datasets), "submit": "1"})
    assert response.status_code == 302
    assert ResearchApplication.objects.get().status == "submitted"


def test_the_researcher_can_withdraw(client):
    application = make_application(status="submitted")
    client.force_login(application.principal_researcher.user)
    assert client.get(f"/portal/applications/{application.pk}/withdraw/").status_code == 200
    client.post(f"/portal/applications/{application.pk}/withdraw/", {"reason": "Funding fell through"})
    application.refresh_from_db()
    assert application.status == "withdrawn"
    assert application.history.last().reason == "Funding fell through"


def test_a_submitted_application_cannot_be_edited(client):
    application = make_application(status="submitted")
    client.force_login(application.principal_researcher.user)
    response = client.post(f"/portal/applications/{application.pk}/edit/", {"title": "Changed"})
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.title != "Changed"


def test_another_researchers_application_and_grant_are_not_found(client, issued):
    grant, *_ = issued
    client.force_login(ResearcherFactory().user)
    assert client.get(f"/portal/applications/{grant.application_id}/").status_code == 404
    assert client.post(f"/portal/applications/{grant.application_id}/withdraw/").status_code == 404
    assert client.get(f"/portal/grants/{grant.pk}/credentials/").status_code == 404
    assert client.post(f"/portal/grants/{grant.pk}/rotate/").status_code == 404


def test_portal_pages_need_a_login(client):
    for path in ("/portal/", "/portal/applications/new/", "/portal/grants/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/portal/login/")


def test_login_logout_and_password_reset(client):
    researcher = ResearcherFactory()
    email = researcher.user.email
    response = client.post("/portal/login/", {"username": email, "password": "correct horse battery staple"})
    assert response.status_code == 302
    assert client.get("/portal/").status_code == 200
    client.post("/portal/logout/")
    assert client.get("/portal/").status_code == 302
    bad = client.post("/portal/login/", {"username": email, "password": "wrong"})
    assert bad.status_code == 200 and bad.context["form"].errors

    client.post("/portal/password-reset/", {"email": email})
    assert mail.outbox[-1].to == [email]
    link = re.search(r"http://testserver(/portal/password-reset/\S+/)", mail.outbox[-1].body).group(1)
    response = client.get(link, follow=True)
    assert response.status_code == 200
    response = client.post(
        response.redirect_chain[-1][0], {"new_password1": PASSWORD, "new_password2": PASSWORD}, follow=True
    )
    assert "Password changed" in response.text
    assert client.login(username=email, password=PASSWORD)


def test_the_portal_stylesheet_is_served(client):
    response = client.get("/static/researchers/portal.css")
    assert response.status_code == 200
