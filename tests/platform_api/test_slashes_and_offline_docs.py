"""One slash convention (docs/api.md) and API docs served by the platform itself, offline."""

from __future__ import annotations

import base64
import re

import pytest

from tests.api_fixtures import make_research_client


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/token/"])
def test_the_token_endpoint_answers_with_and_without_the_trailing_slash(client, path, settings):
    settings.DEBUG = True  # Django's APPEND_SLASH turns a slashless POST into an HTML 500 in debug
    researcher = make_research_client()
    response = client.post(
        path, {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=basic(researcher.client_id, researcher.secret)
    )
    assert response.status_code == 200, response.content
    assert response.json()["token_type"] == "Bearer"


@pytest.mark.django_db
def test_a_bad_token_request_without_the_slash_answers_the_json_envelope(client):
    response = client.post("/oauth/token", {"grant_type": "password"})
    assert response.status_code in (400, 401)
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] in ("invalid_request", "authentication_failed")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/me/", "/api/v1/datasets/", "/api/v1", "/api/v1/"])
def test_api_paths_work_with_and_without_the_trailing_slash(researcher, path):
    response = researcher.get(path)
    assert response.status_code == 200, (path, response.content)


@pytest.mark.django_db
def test_an_unknown_api_path_is_still_an_enveloped_404_either_way(researcher):
    for path in ("/api/v1/nope", "/api/v1/nope/"):
        response = researcher.get(path)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/docs", "/api/docs/", "/api/redoc"])
def test_interactive_docs_load_no_asset_from_another_site(client, path):
    page = client.get(path)
    assert page.status_code == 200
    html = page.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, html
    assert not [a for a in assets if a.startswith(("http:", "https:", "//"))], assets
    assert "jsdelivr" not in html and "unpkg" not in html
    scripts = [a for a in assets if a.endswith(".js")]
    assert scripts
    for asset in scripts:
        served = client.get(asset)
        assert served.status_code == 200, asset
