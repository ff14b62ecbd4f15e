"""Account e-mail addresses are verified (a signed link by e-mail) before an application can be submitted."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail, signing
from django.utils import timezone

from researchers import services
from researchers.errors import EmailNotVerified
from researchers.models import ResearchApplication, Researcher
from tests.researchers.factories import ResearcherFactory, ensure_datasets, make_application
from tests.researchers.test_portal import PASSWORD, form_data, registration

pytestmark = pytest.mark.django_db
LINK = re.compile(r"https?://[^/\s]+(/portal/verify-email/[^/\s]+/)")


def verification_link() -> str:
    return LINK.search(mail.outbox[-1].body).group(1)


def unverified_researcher() -> Researcher:
    return ResearcherFactory(email_verified_at=None)


def test_registering_sends_a_signed_link_that_verifies_the_address(
    client, settings, django_capture_on_commit_callbacks
):
    settings.PUBLIC_BASE_URL = "https://research.example.org"
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/portal/register/", registration())
    researcher = Researcher.objects.get()
    assert researcher.email_verified_at is None
    message = mail.outbox[-1]
    assert message.to == ["r.franklin@uni.example"] and "Confirm your e-mail address" in message.subject
    assert "https://research.example.org/portal/verify-email/" in message.body
    home = client.get("/portal/")
    assert 'id="verify-notice"' in home.text

    client.logout()  # the link works on any device, logged in or not
    page = client.get(verification_link())
    # Opening the link only asks (a mail scanner fetching it confirms nothing); the button confirms.
    assert page.status_code == 200 and 'id="confirm-address"' in page.text and "r.franklin@uni.example" in page.text
    researcher.refresh_from_db()
    assert researcher.email_verified_at is None
    page = client.post(verification_link())
    assert page.status_code == 200 and "Address confirmed" in page.text
    researcher.refresh_from_db()
    assert researcher.email_verified_at is not None
    # Opening it again changes nothing and still confirms.
    first = researcher.email_verified_at
    for again in (client.get, client.post):
        assert "Address confirmed" in again(verification_link()).text
    researcher.refresh_from_db()
    assert researcher.email_verified_at == first
    client.login(username="r.franklin@uni.example", password=PASSWORD)
    assert 'id="verify-notice"' not in client.get("/portal/").text


def test_an_unverified_researcher_can_save_drafts_but_not_submit(client, django_capture_on_commit_callbacks):
    datasets = ensure_datasets()
    researcher = unverified_researcher()
    client.force_login(researcher.user)
    response = client.post("/portal/applications/new/", {**form_data(datasets), "submit": "1"}, follow=True)
    application = ResearchApplication.objects.get()
    assert application.status == "draft"  # saved, not submitted
    assert "Draft saved, but not submitted: Confirm your e-mail address" in response.text
    response = client.post(f"/portal/applications/{application.pk}/submit/", follow=True)
    assert "Confirm your e-mail address before submitting" in response.text
    application.refresh_from_db()
    assert application.status == "draft"
    with pytest.raises(EmailNotVerified) as excinfo:
        services.submit_application(application, actor=researcher.user)
    assert excinfo.value.code == "permission_denied" and excinfo.value.detail == {"email": ["Not verified yet."]}

    # Once verified, the same draft goes through.
    with django_capture_on_commit_callbacks(execute=True):
        services.send_email_verification(researcher=researcher)
    client.post(verification_link())
    client.post(f"/portal/applications/{application.pk}/submit/")
    application.refresh_from_db()
    assert application.status == "submitted"


def test_the_request_log_never_holds_a_verification_or_reset_token(client, caplog, django_capture_on_commit_callbacks):
    researcher = unverified_researcher()
    with django_capture_on_commit_callbacks(execute=True):
        services.send_email_verification(researcher=researcher)
    token = verification_link().split("/")[-2]
    caplog.set_level("INFO", logger="platform_api.request")
    client.get(verification_link())
    client.post(verification_link())
    client.post("/portal/password-reset/", {"email": researcher.user.email})
    reset_link = re.search(r"http://testserver(/portal/password-reset/\S+/)", mail.outbox[-1].body).group(1)
    client.get(reset_link)
    paths = [record.path for record in caplog.records if record.name == "platform_api.request"]
    assert "/portal/verify-email/…/" in paths
    assert not any(token in path for path in paths)
    reset_token = reset_link.rstrip("/").split("/")[-1]
    assert not any(reset_token in path for path in paths)


def test_a_tampered_link_verifies_nothing(client, django_capture_on_commit_callbacks):
    researcher = unverified_researcher()
    with django_capture_on_commit_callbacks(execute=True):
        services.send_email_verification(researcher=researcher)
    link = verification_link()
    other = unverified_researcher()
    # Swap the signed payload's researcher id: the signature no longer matches.
    token = link.split("/")[-2]
    payload = signing.loads(token, salt=services.EMAIL_VERIFICATION_SALT)
    forged = signing.dumps({**payload, "r": other.pk}, salt="another-salt")
    for bad in (token[:-2] + "xx", forged, "nonsense"):
        for method in (client.get, client.post):
            page = method(f"/portal/verify-email/{bad}/")
            assert page.status_code == 400 and "does not work" in page.text
    assert not Researcher.objects.filter(email_verified_at__isnull=False).exists()


def test_an_expired_link_is_refused(client, settings, monkeypatch):
    researcher = unverified_researcher()
    issued = timezone.now() - dt.timedelta(days=settings.EMAIL_VERIFICATION_MAX_AGE_DAYS, seconds=5)
    monkeypatch.setattr(signing.time, "time", lambda: issued.timestamp())
    token = services.email_verification_token(researcher=researcher)
    monkeypatch.undo()
    page = client.post(f"/portal/verify-email/{token}/")
    assert page.status_code == 400 and "expired" in page.text
    researcher.refresh_from_db()
    assert researcher.email_verified_at is None


def test_a_link_for_an_address_the_account_no_longer_has_is_refused(client):
    researcher = unverified_researcher()
    token = services.email_verification_token(researcher=researcher)
    researcher.user.email = "new.address@uni.example"
    researcher.user.save()
    assert client.post(f"/portal/verify-email/{token}/").status_code == 400
    researcher.refresh_from_db()
    assert researcher.email_verified_at is None


def test_asking_again_sends_a_new_link_at_most_once_a_minute(client, django_capture_on_commit_callbacks):
    researcher = unverified_researcher()
    client.force_login(researcher.user)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post("/portal/verify-email/", follow=True)
        second = client.post("/portal/verify-email/", follow=True)
    assert "We sent a new link" in first.text
    assert "less than a minute ago" in second.text
    assert len(mail.outbox) == 1
    Researcher.objects.filter(pk=researcher.pk).update(verification_sent_at=timezone.now() - dt.timedelta(seconds=61))
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/portal/verify-email/")
    assert len(mail.outbox) == 2


def test_a_verified_address_gets_no_more_links(django_capture_on_commit_callbacks):
    researcher = ResearcherFactory()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.send_email_verification(researcher=researcher) is False
    assert mail.outbox == []


def test_resetting_the_password_by_email_also_verifies_the_address(client):
    researcher = unverified_researcher()
    client.post("/portal/password-reset/", {"email": researcher.user.email})
    link = re.search(r"http://testserver(/portal/password-reset/\S+/)", mail.outbox[-1].body).group(1)
    response = client.get(link, follow=True)
    client.post(response.redirect_chain[-1][0], {"new_password1": PASSWORD, "new_password2": PASSWORD})
    researcher.refresh_from_db()
    assert researcher.email_verified_at is not None


def test_answering_an_information_request_needs_no_new_verification(client):
    application = make_application(status="info_requested")
    client.force_login(application.principal_researcher.user)
    client.post(f"/portal/applications/{application.pk}/submit/", {"answer": "The Amsterdam board."})
    application.refresh_from_db()
    assert application.status == "submitted"
