"""The platform serves its documentation (docs/api.md): docs/*.md as portal pages, a codebook page
per dataset read from the newest release's codebook, the crosswalk, and release pages with citations;
all linked from the portal's navigation and readable without logging in.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from moderation_data.catalog.codebook import country_names

DOCS = Path(__file__).resolve().parent.parent.parent / "docs"


@pytest.mark.django_db
def test_every_docs_page_is_rendered_as_html_with_working_links_between_pages(client):
    index = client.get("/portal/docs/")
    assert index.status_code == 200
    for path in sorted(DOCS.glob("*.md")):
        page = client.get(f"/portal/docs/{path.stem}")
        assert page.status_code == 200, path.name
        html = page.content.decode()
        assert ("<h1" in html and "<table" in html) or "<p>" in html
        assert f'href="/portal/docs/{path.stem}"' in index.content.decode()
        # Links to other pages point at their portal pages, never at .md files.
        assert not re.search(r'href="[a-z0-9_-]+\.md', html), path.name
    query = client.get("/portal/docs/query").content.decode()
    assert '<a href="authentication">' in query or 'href="api#' in query or 'href="authentication' in query


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["../settings", "nope", "README"])
def test_unknown_or_hostile_page_names_are_not_found(client, name):
    assert client.get(f"/portal/docs/{name}").status_code == 404


@pytest.mark.django_db
def test_the_codebook_page_lists_fields_values_regions_buckets_and_generalization(client, release):
    page = client.get("/portal/docs/codebook/moderation-decisions")
    assert page.status_code == 200
    html = page.content.decode()
    assert release.version in html
    for field in ("decided_on", "country", "views_before_action", "policy"):
        assert f'id="field-{field}"' in html
    assert "violent_extremism" in html and "Violent extremism" in html  # values with labels
    assert "EU_WEST" in html and "DE (Germany)" in html  # which countries a region code stands for
    assert "1,001 to 10,000 views" in html and "1001 to 10000" in html  # bucket ranges
    # How each quasi-identifier is generalized: the precision this release kept, from its codebook.
    precision = release.anonymization["precision"]
    for name in ("decided_on", "country", "policy"):
        assert f"<code>{name}</code></a>: released at precision <code>{precision[name]}</code>" in html
    assert "<code>day</code> → <code>week</code> → <code>month</code>" in html
    assert country_names()["US"] in html


@pytest.mark.django_db
def test_the_codebook_page_follows_the_release_codebook_not_a_copy(client, release, monkeypatch):
    import copy

    from researchers import docs_views

    altered = copy.copy(release)
    altered.codebook = [dict(entry) for entry in release.codebook]
    altered.codebook[0]["description"] = "A description only this release's codebook has."
    monkeypatch.setattr(docs_views, "get_release", lambda dataset, version: altered)
    html = client.get("/portal/docs/codebook/moderation-decisions").content.decode()
    assert "A description only this release&#x27;s codebook has." in html


@pytest.mark.django_db
def test_the_crosswalk_page_maps_dsa_columns_and_tiktok_parameters(client):
    html = client.get("/portal/docs/crosswalk").content.decode()
    assert "<code>application_date</code></td><td><code>decided_on</code>" in html
    assert "<code>max_count</code></td><td><code>page_size</code>" in html
    assert "<code>region_code</code></td><td><code>country</code>" in html


@pytest.mark.django_db
def test_the_release_page_is_the_citations_persistent_url(client, release, settings):
    settings.PROVIDER_NAME = "Example Platform"
    page = client.get(f"/portal/releases/moderation-decisions/{release.version}")
    assert page.status_code == 200
    html = page.content.decode()
    assert release.sha256 in html and "Example Platform" in html and "@misc{" in html
    bib = client.get(f"/portal/releases/moderation-decisions/{release.version}/citation.bib")
    assert bib.status_code == 200 and bib.content.startswith(b"@misc{")
    assert client.get("/portal/releases/moderation-decisions/1999.01.01").status_code == 404


@pytest.mark.django_db
def test_the_portal_navigation_links_to_the_docs(client, django_user_model):
    assert b'href="/portal/docs/"' in client.get("/portal/login/").content
    user = django_user_model.objects.create_user("reader", "reader@example.org", "a-long-password-1")
    client.force_login(user)
    assert b'href="/portal/docs/"' in client.get("/portal/docs/").content
