"""The portal page behind an invitation link: the named researcher creates their account, once."""

from __future__ import annotations

import pytest

from researchers.reasoned_requests.models import NamedResearcher
from tests.researchers.dsc_support import PASSWORD, invitation_links, record
from tests.researchers.factories import ResearcherFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def invited(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request = record()
    named = request.researchers.get(is_principal=True)
    return named, invitation_links(named.email)[-1]


def form(**overrides) -> dict:
    return {
        "first_name": "Maria",
        "last_name": "Schmidt",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "country": "AT",
        "orcid": "",
        "affiliation": "Department of Communication",
        **overrides,
    }


def test_the_invitation_page_names_the_request_and_keeps_the_link_to_this_site(client, invited):
    named, link = invited
    response = client.get(link)
    assert response.status_code == 200
    text = response.content.decode()
    assert named.request.reference in text and named.email in text and "principal researcher" in text
    assert response["Referrer-Policy"] == "same-origin"
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_the_researcher_creates_the_account_and_is_logged_in(client, invited):
    named, link = invited
    response = client.post(link, form())
    assert response.status_code == 302 and response["Location"] == "/portal/"
    named.refresh_from_db()
    user = named.researcher.user
    assert user.email == named.email and user.check_password(PASSWORD) and named.researcher.country == "AT"
    assert client.get("/portal/").status_code == 200
    client.logout()
    assert client.get(link).status_code == 400  # used


def test_a_weak_or_mismatched_password_is_shown_next_to_its_field(client, invited):
    _, link = invited
    response = client.post(link, form(password1="12345678901", password2="12345678901"))
    assert response.status_code == 200 and "password1" in response.context["form"].errors
    response = client.post(link, form(password2="something else entirely"))
    assert "password2" in response.context["form"].errors
    assert not NamedResearcher.objects.filter(researcher__isnull=False).exists()


def test_a_broken_link_shows_a_clear_page(client, invited):
    _, link = invited
    response = client.get(link.replace(":", "x", 1))
    assert response.status_code == 400
    assert "does not work" in response.content.decode()


def test_a_logged_in_user_is_told_to_log_out_first(client, invited):
    _, link = invited
    client.force_login(ResearcherFactory().user)
    response = client.get(link, follow=True)
    assert "Log out first" in response.content.decode()
    assert not NamedResearcher.objects.filter(researcher__isnull=False).exists()


def test_the_link_never_reaches_the_access_log(client, invited, caplog):
    _, link = invited
    token = link.rstrip("/").rsplit("/", 1)[-1]
    with caplog.at_level("INFO", logger="platform_api.request"):
        client.get(link)
        client.post(link, form())
    paths = [record.path for record in caplog.records if record.name == "platform_api.request"]
    assert paths == ["/portal/invitations/<token>/"] * 2
    assert not any(token in record.getMessage() or token in str(record.__dict__) for record in caplog.records)
