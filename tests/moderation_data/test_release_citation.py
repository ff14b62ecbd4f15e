"""Releases have notes and a citation people can use (docs/citation.md): publishing takes a changelog
and an optional DOI; the release endpoint, its public page and every export manifest carry the
citation (provider, version, period, rows, sha256, persistent URL, DOI), downloadable as BibTeX and
RIS; researchers who can read the dataset are e-mailed when a new release is published.
"""

from __future__ import annotations

import pytest
from django.core import mail

from moderation_data.catalog.models import Dataset
from moderation_data.ingest.demo import generate_demo_data
from moderation_data.releases import citation as cite
from moderation_data.releases.build import build
from moderation_data.releases.models import Release
from moderation_data.releases.services import ReleaseError, publish_release, start_release
from tests.api_fixtures import make_research_client
from tests.researchers.factories import ensure_datasets

BASE = "/api/v1/datasets/moderation-decisions/releases"


@pytest.fixture
def citing(settings):
    settings.PROVIDER_NAME = "Example Platform Trust & Safety"
    settings.PUBLIC_BASE_URL = "https://research.example.org"


def built_release(version: str) -> Release:
    """A release built (not yet published) inside the test's transaction.

    Its data spans eight weeks: releases cover disjoint periods (docs/privacy.md), so when the module's
    shared release (the first four weeks) exists, this one takes the next four."""
    ensure_datasets()
    generate_demo_data(rows=800, seed=5, days=56)
    release = start_release(Dataset.objects.get(slug="moderation-decisions"), version=version)
    build(release)
    release.refresh_from_db()
    assert release.status == Release.Status.BUILT
    return release


@pytest.mark.django_db
def test_the_release_endpoint_carries_notes_and_a_citation_with_provider_url_and_checksum(release, citing):
    researcher = make_research_client()
    body = researcher.get(f"{BASE}/latest").json()
    facts = body["citation_metadata"]
    assert facts["provider"] == "Example Platform Trust & Safety"
    assert facts["version"] == release.version and facts["row_count"] == release.row_count
    assert facts["sha256"] == release.sha256
    assert facts["url"] == f"https://research.example.org/portal/releases/moderation-decisions/{release.version}"
    assert facts["downloads"]["bibtex"] == f"{facts['url']}/citation.bib"
    assert "Example Platform Trust & Safety" in body["citation"] and release.sha256 in body["citation"]
    assert "notes" in body and "doi" in body


@pytest.mark.django_db
def test_the_citation_downloads_as_bibtex_and_ris(release, citing):
    researcher = make_research_client()
    bibtex = researcher.get(f"{BASE}/{release.version}/citation", {"format": "bibtex"})
    assert bibtex.status_code == 200
    assert bibtex["Content-Type"].startswith("application/x-bibtex")
    assert "attachment" in bibtex["Content-Disposition"] and ".bib" in bibtex["Content-Disposition"]
    text = bibtex.content.decode()
    assert text.startswith("@misc{moderation_decisions_")
    assert "author = {{Example Platform Trust \\& Safety}}" in text
    assert f"sha256 {release.sha256}" in text and "url = {https://research.example.org/portal/releases/" in text
    ris = researcher.get(f"{BASE}/latest/citation", {"format": "ris"})
    lines = ris.content.decode().split("\r\n")
    assert lines[0] == "TY  - DATA" and "ER  - " in lines
    assert f"ET  - {release.version}" in lines
    assert researcher.get(f"{BASE}/latest/citation").json()["version"] == release.version
    bad = researcher.get(f"{BASE}/latest/citation", {"format": "docx"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_request"


@pytest.mark.django_db
def test_a_dataset_outside_the_token_is_refused_for_citations_too(release):
    researcher = make_research_client(datasets=["enforcement-summary"])
    response = researcher.get(f"{BASE}/latest/citation", {"format": "bibtex"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "scope_missing"


@pytest.mark.django_db
def test_publishing_records_notes_and_doi_and_emails_the_researchers_who_can_read_it(
    citing, django_capture_on_commit_callbacks
):
    reader = make_research_client(datasets=["moderation-decisions"])
    other = make_research_client(datasets=["enforcement-summary"])
    suspended = make_research_client(datasets=["moderation-decisions"])
    type(suspended.grant).objects.filter(pk=suspended.grant.pk).update(status="suspended")
    release = built_release("2030.01.01")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        published = publish_release(release, notes="Adds March; fixes time_to_action buckets.", doi="10.5281/zenodo.42")
    assert (published.status, published.notes, published.doi) == ("published", published.notes, "10.5281/zenodo.42")
    assert published.notes == "Adds March; fixes time_to_action buckets."
    addresses = {message.to[0] for message in mail.outbox}
    reader_email = reader.grant.application.principal_researcher.user.email
    assert reader_email in addresses
    assert suspended.grant.application.principal_researcher.user.email not in addresses
    message = next(m for m in mail.outbox if m.to == [reader_email])
    assert "2030.01.01" in message.subject
    assert "Adds March; fixes time_to_action buckets." in message.body
    assert "https://research.example.org/portal/releases/moderation-decisions/2030.01.01" in message.body
    assert "https://doi.org/10.5281/zenodo.42" in message.body
    # The summary's readers hear about its companion release.
    assert other.grant.application.principal_researcher.user.email in addresses
    assert "10.5281/zenodo.42" in cite.as_bibtex(published)


@pytest.mark.django_db
def test_no_email_is_sent_before_the_publishing_transaction_commits(citing, django_capture_on_commit_callbacks):
    make_research_client(datasets=["moderation-decisions"])
    release = built_release("2030.02.01")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        publish_release(release, notes="x")
    assert callbacks and mail.outbox == []


@pytest.mark.django_db
def test_a_malformed_doi_is_refused_and_nothing_is_published(citing):
    release = built_release("2030.03.01")
    with pytest.raises(ReleaseError, match="not a DOI"):
        publish_release(release, doi="zenodo 42")
    release.refresh_from_db()
    assert release.status == Release.Status.BUILT


@pytest.mark.django_db
def test_the_admin_publish_form_takes_release_notes(admin_client, citing):
    release = built_release("2030.04.01")
    response = admin_client.post(
        f"/admin/moderation_data/release/{release.pk}/publish/", {"notes": "First quarter.", "doi": ""}
    )
    assert response.status_code == 302
    release.refresh_from_db()
    assert (release.status, release.notes) == ("published", "First quarter.")
    page = admin_client.get(f"/admin/moderation_data/release/{release.pk}/change/")
    assert b"First quarter." in page.content
