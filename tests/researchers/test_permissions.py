from __future__ import annotations

import pytest

from researchers import services
from tests.researchers.conftest import obtain_token
from tests.researchers.factories import StaffFactory, ensure_datasets, make_application

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.researchers.permission_urls")]


def token(client, issued, **data) -> dict:
    _, client_id, secret = issued
    response = obtain_token(client, client_id, secret, **data)
    assert response.status_code == 200
    return {"HTTP_AUTHORIZATION": f"Bearer {response.json()['access_token']}"}


def code(response) -> str:
    return response.json()["error"]["code"]


def test_a_dataset_in_the_tokens_scopes_is_allowed_and_the_grant_is_exposed(client, issued):
    grant, *_ = issued
    response = client.get("/t/datasets/moderation-decisions", **token(client, issued))
    assert response.status_code == 200
    assert response.json()["project"] == grant.project_id


def test_a_dataset_outside_the_tokens_scopes_answers_scope_missing(client, issued):
    auth = token(client, issued, scope="dataset:enforcement-summary")
    response = client.get("/t/datasets/moderation-decisions", **auth)
    assert response.status_code == 403 and code(response) == "scope_missing"
    assert response.json()["error"]["detail"]["required_scope"] == "dataset:moderation-decisions"
    assert client.get("/t/datasets/unknown-dataset", **auth).status_code == 403


def test_a_dataset_removed_from_the_grant_is_refused_even_if_the_token_names_it(client, issued):
    grant, *_ = issued
    auth = token(client, issued)
    datasets = [d for d in ensure_datasets() if d.slug == "enforcement-summary"]
    services.update_grant(grant, actor=StaffFactory(), datasets=datasets)
    response = client.get("/t/datasets/moderation-decisions", **auth)
    assert response.status_code == 403 and code(response) == "scope_missing"


def test_exports_need_the_exports_scope(client, issued):
    assert client.get("/t/exports", **token(client, issued)).status_code == 200
    response = client.get("/t/exports", **token(client, issued, scope="dataset:moderation-decisions"))
    assert response.status_code == 403 and code(response) == "scope_missing"


def test_records_are_refused_to_an_aggregate_only_grant(client):
    application = make_application(status="submitted", datasets=ensure_datasets(), modality_requested="aggregate")
    grant = services.approve_application(application, reviewer=StaffFactory())
    secret = services.rotate_client_secret(grant, actor=None)
    auth = token(client, (grant, grant.oauth_client.client_id, secret))
    assert client.get("/t/datasets/moderation-decisions", **auth).status_code == 200
    response = client.get("/t/datasets/moderation-decisions/records", **auth)
    assert response.status_code == 403 and code(response) == "permission_denied"


def test_without_a_token_the_building_blocks_answer_401(client, issued):
    for path in ("/t/datasets/moderation-decisions", "/t/exports", "/t/datasets/moderation-decisions/records"):
        response = client.get(path)
        assert response.status_code == 401 and code(response) == "authentication_failed"
        assert response["WWW-Authenticate"].startswith("Bearer")
