"""The per-process token cache (researchers.authentication): fast, and never stale.

Each test first makes a request so that the token is cached, then changes what the token may do
the way staff, the admin or a task would (including ``.update()``, which sends no signal), and
replays the request: it must be refused at once.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from oauth2_provider.models import AccessToken

from moderation_data.catalog.models import Dataset
from researchers.models import AccessGrant
from tests.api_fixtures import make_research_client

pytestmark = pytest.mark.django_db

RECORDS = "/api/v1/datasets/moderation-decisions/releases/latest/records"


def test_a_cached_token_authenticates_without_reading_token_grant_or_scopes_again(release, researcher):
    assert researcher.get(RECORDS, {"page_size": 1}).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert researcher.get(RECORDS, {"page_size": 1}).status_code == 200
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "oauth2_provider_accesstoken" not in sql
    assert "researchers_accessgrant" not in sql
    assert sql.count("researchers_authgeneration") == 1


def test_a_cached_token_is_refused_once_its_grant_is_suspended_without_signals(release, researcher):
    assert researcher.get("/api/v1/me").status_code == 200
    AccessGrant.objects.filter(pk=researcher.grant.pk).update(status="suspended")
    response = researcher.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_a_cached_token_is_refused_once_revoked(release, researcher):
    assert researcher.get("/api/v1/me").status_code == 200
    AccessToken.objects.filter(application__client_id=researcher.client_id).delete()
    assert researcher.get("/api/v1/me").status_code == 401


def test_a_cached_token_is_refused_once_expired_by_update(release, researcher):
    import datetime as dt

    assert researcher.get("/api/v1/me").status_code == 200
    AccessToken.objects.filter(application__client_id=researcher.client_id).update(
        expires=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    )
    assert researcher.get("/api/v1/me").status_code == 401


def test_a_dataset_taken_off_the_grant_is_scope_missing_on_the_next_request(release):
    client = make_research_client()
    assert client.get(RECORDS, {"page_size": 1}).status_code == 200
    client.grant.datasets.remove(Dataset.objects.get(slug="moderation-decisions"))
    response = client.get(RECORDS, {"page_size": 1})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "scope_missing"


def test_a_dataset_deactivated_by_raw_sql_is_refused_on_the_next_request(release):
    client = make_research_client()
    assert client.get(RECORDS, {"page_size": 1}).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("UPDATE moderation_data_dataset SET is_active = false WHERE slug = 'moderation-decisions'")
    assert client.get(RECORDS, {"page_size": 1}).status_code == 403


def test_the_cache_never_holds_the_token_itself(release, researcher):
    from researchers import authentication

    assert researcher.get("/api/v1/me").status_code == 200
    assert researcher.token not in authentication._CACHE
    assert all(researcher.token not in key for key in authentication._CACHE)
