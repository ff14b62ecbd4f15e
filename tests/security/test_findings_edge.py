"""Red-team finding (issue 15): NUL bytes and lone surrogates reached PostgreSQL, answered 500 and left no
audit event. Replayed on the query string, the path, a header and a JSON body: 400 ``invalid_request``,
audited."""

from __future__ import annotations

import pytest

from platform_api.models import AccessEvent
from tests.api_fixtures import make_research_client

RECORDS = "/api/v1/datasets/moderation-decisions/releases/latest/records"
pytestmark = pytest.mark.django_db


def assert_refused(response) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"]["code"] == "invalid_request"
    assert body["error"]["request_id"]


@pytest.fixture
def client_(release):
    return make_research_client()


def test_a_nul_in_a_query_parameter_is_400_and_audited(client_):
    response = client_.get(RECORDS + "?country=%00")
    assert_refused(response)
    event = AccessEvent.objects.get(request_id=response["X-Request-ID"])
    assert event.status == 400 and event.endpoint == RECORDS


def test_a_nul_in_the_path_is_400_and_audited(client_):
    response = client_.get("/api/v1/datasets/moderation%00decisions/releases/latest/records")
    assert_refused(response)
    event = AccessEvent.objects.get(request_id=response["X-Request-ID"])
    assert event.status == 400 and "\\u0000" in event.endpoint


def test_a_nul_in_a_header_is_400(client_):
    assert_refused(client_.get("/api/v1/me", HTTP_X_NOTE="a\x00b"))


@pytest.mark.parametrize("value", ["\\ud800", "\\u0000", "ok\\udfffok"])
def test_a_lone_surrogate_or_nul_in_a_json_body_is_400_and_audited(client_, value):
    body = '{"query": {"and": [{"operation": "EQ", "field_name": "country", "field_values": ["' + value + '"]}]}}'
    response = client_.http.post(
        RECORDS, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {client_.token}"
    )
    assert_refused(response)
    event = AccessEvent.objects.get(request_id=response["X-Request-ID"])
    assert event.status == 400 and event.grant_id == client_.grant.pk


def test_a_lone_surrogate_in_a_json_key_is_400(client_):
    response = client_.http.post(
        "/api/v1/datasets/moderation-decisions/releases/latest/count",
        '{"\\ud800": 1}',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {client_.token}",
    )
    assert_refused(response)


def test_a_nul_in_the_token_form_is_400_not_500(db):
    response = make_research_client().http.post(
        "/oauth/token/", {"grant_type": "client_credentials", "client_id": "a\x00b", "client_secret": "x"}
    )
    assert_refused(response)
