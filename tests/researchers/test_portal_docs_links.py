"""The portal's own pages link to the documentation pages: codebooks from the application form,
release notes and citations on the dashboard."""

from __future__ import annotations

import re

import pytest

from researchers import services
from tests.researchers.factories import ResearcherFactory, StaffFactory, ensure_datasets, make_application

pytestmark = pytest.mark.django_db


def test_dataset_choices_link_to_their_codebook_page(client):
    ensure_datasets()
    client.force_login(ResearcherFactory().user)
    page = client.get("/portal/applications/new/").text
    link = re.search(
        r'<a href="(/portal/docs/codebook/moderation-decisions)">Codebook of Moderation decisions</a>', page
    )
    assert link
    assert client.get(link.group(1)).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_dashboard_shows_release_notes_and_a_citation_with_bibtex_and_ris(client):
    from django.utils.html import escape

    from tests.conftest import purge_stale_releases

    purge_stale_releases()  # this test's release covers the demo period (periods are disjoint)

    from moderation_data.catalog.models import Dataset
    from moderation_data.ingest.demo import generate_demo_data
    from moderation_data.releases import citation
    from moderation_data.releases.services import build_release, publish_release, start_release

    ensure_datasets()
    generate_demo_data(rows=1500, seed=3)
    built = build_release(start_release(Dataset.objects.get(slug="moderation-decisions")).pk, publish=False)
    release = publish_release(built, notes="Appeal outcomes of March added.", doi="10.5281/zenodo.1234567")
    application = make_application(status="submitted")
    services.approve_application(application, reviewer=StaffFactory())
    client.force_login(application.principal_researcher.user)
    page = client.get("/portal/dashboard/").text
    entry = re.search(rf'<li class="release" id="release-{release.pk}">(.*?)</li>', page, re.S).group(1)
    assert "Appeal outcomes of March added." in entry
    assert escape(citation.as_text(release)) in entry and "https://doi.org/10.5281/zenodo.1234567" in entry
    downloads = citation.metadata(release)["downloads"]
    assert f'href="{downloads["bibtex"]}"' in entry and f'href="{downloads["ris"]}"' in entry
