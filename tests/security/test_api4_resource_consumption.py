"""OWASP API4:2023 Unrestricted Resource Consumption.

Every knob a client could turn to make the platform work harder has a limit that answers a clear
error before the work is done: page size (and its schema bounds), query size and depth, values
per condition, body size (413), a runaway query (503 at the statement timeout), requests per
minute, concurrent exports and export rows per month, and the token endpoint's failed attempts.
(Throttling of failed requests and anonymous floods, and login lockout, are issue 15's findings
that hfix fixes: tests/security/test_findings_*.)
"""

from __future__ import annotations

import base64

import psycopg
import pytest
from django.db import connection

from moderation_data.query import language
from moderation_data.query.records import MAX_PAGE_SIZE
from tests.api_fixtures import make_research_client, unique_ip
from tests.security.figures import record
from tests.security.support import api_schema

pytestmark = pytest.mark.django_db

RELEASE = "/api/v1/datasets/moderation-decisions/releases/latest"
COND = {"operation": "EQ", "field_name": "policy", "field_values": ["violent_extremism"]}


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:300])
    body = response.json()["error"]
    assert body["code"] == code, body
    return body


@pytest.fixture
def research(release):
    return make_research_client()


def test_page_size_bounds_are_in_the_schema_and_enforced(research):
    schema = api_schema()
    get_param = next(
        p
        for p in schema["paths"][f"{RELEASE.replace('moderation-decisions', '{slug}').replace('latest', '{version}')}"
                                 "/records"]["get"]["parameters"]
        if p["name"] == "page_size"
    )  # fmt: skip
    assert (get_param["schema"]["minimum"], get_param["schema"]["maximum"]) == (1, MAX_PAGE_SIZE)
    for size in (0, -1, MAX_PAGE_SIZE + 1, 10**20):
        error(research.get(f"{RELEASE}/records", {"page_size": size}), 400, "invalid_request")
        error(research.post(f"{RELEASE}/records", {"page_size": size}), 400, "invalid_request")
    page = research.post(f"{RELEASE}/records", {"page_size": MAX_PAGE_SIZE}).json()
    assert len(page["data"]) <= MAX_PAGE_SIZE


def nested(depth: int) -> dict:
    """A query whose innermost group is ``depth`` levels below the top one (which is level 0)."""
    group: dict = {"and": [COND]}
    for _ in range(depth):
        group = {"and": [group]}
    return group


def test_query_size_and_depth_are_bounded(research):
    too_many = {"or": [COND] * (language.MAX_CONDITIONS + 1)}
    too_deep = nested(language.MAX_DEPTH + 1)
    absurdly_deep = nested(200)
    too_many_values = {"and": [{**COND, "operation": "IN", "field_values": ["x"] * (language.MAX_IN_VALUES + 1)}]}
    too_long = {"and": [{**COND, "field_values": ["v" * (language.MAX_VALUE_LENGTH + 1)]}]}
    for endpoint in ("records", "count"):
        for query in (too_many, too_deep, absurdly_deep, too_many_values, too_long):
            response = research.post(f"{RELEASE}/{endpoint}", {"query": query})
            assert response.status_code == 400, (endpoint, response.content[:200])
            assert response.json()["error"]["code"] in ("invalid_query", "invalid_request")
    assert research.post(f"{RELEASE}/count", {"query": nested(language.MAX_DEPTH)}).status_code == 200, (
        "the limit itself"
    )
    record("API4 query limits (conditions, depth, IN values)", f"{language.MAX_CONDITIONS}, {language.MAX_DEPTH}, "
           f"{language.MAX_IN_VALUES}")  # fmt: skip


def test_an_oversized_body_answers_413_before_it_is_parsed(research, settings):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = '{"query": {"or": [' + ",".join(['{"operation": "EQ", "field_name": "policy", "field_values": ["x"]}'] * (
        limit // 60 + 10)) + "]}}"  # fmt: skip
    assert len(body) > limit
    for endpoint in ("records", "count", "aggregate"):
        response = research.http.post(
            f"{RELEASE}/{endpoint}",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {research.token}",
        )
        error(response, 413, "payload_too_large")
    record("API4 request body limit", limit, "bytes")


@pytest.mark.django_db(transaction=True)
def test_a_runaway_query_is_cancelled_at_the_statement_timeout_with_503(settings, release):
    research = make_research_client()
    settings.QUERY_STATEMENT_TIMEOUT_MS = 300
    from tests.conftest import database_url_of

    with psycopg.connect(database_url_of(connection.settings_dict)) as other:
        other.execute(f"LOCK TABLE {release.rows_table} IN ACCESS EXCLUSIVE MODE")
        for response in (research.post(f"{RELEASE}/count", {}), research.post(f"{RELEASE}/records", {})):
            body = error(response, 503, "unavailable")
            assert "Traceback" not in body["message"]
            assert int(response["Retry-After"]) > 0


def test_requests_per_minute_are_limited_per_grant(release):
    research = make_research_client(requests_per_minute=3)
    statuses = [research.post(f"{RELEASE}/count", {}).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    response = research.get("/api/v1/me")
    error(response, 429, "rate_limited")
    assert int(response["Retry-After"]) > 0


def test_concurrent_exports_and_monthly_export_rows_are_capped_before_queueing(release):
    from moderation_data.exports.models import Export

    one_at_a_time = make_research_client(concurrent_exports=1)
    body = {"dataset": "moderation-decisions", "format": "csv"}
    assert one_at_a_time.post("/api/v1/exports", body).status_code == 202
    error(one_at_a_time.post("/api/v1/exports", body), 429, "rate_limited")
    small = make_research_client(export_rows_per_month=10)
    refused = error(small.post("/api/v1/exports", body), 429, "quota_exceeded")
    assert "@" in refused["message"] or "ask" in refused["message"].lower()
    assert Export.objects.filter(grant=small.grant).count() == 0


def test_a_flood_of_failed_token_requests_from_one_ip_is_refused_with_retry_after(client, db, settings):
    settings.OAUTH_TOKEN_BRUTE_FORCE = {"WINDOW_SECONDS": 60, "FAILURES_PER_CLIENT": 100, "FAILURES_PER_IP": 20}
    ip = unique_ip()
    statuses = []
    for n in range(30):
        basic = base64.b64encode(f"made-up-{n}:wrong".encode()).decode()
        response = client.post(
            "/oauth/token", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}", REMOTE_ADDR=ip
        )
        statuses.append(response.status_code)
    assert statuses[:20] == [401] * 20
    assert set(statuses[20:]) == {429}
    assert int(response["Retry-After"]) > 0
    record("API4 failed token requests per IP before 429 (test setting)", statuses.index(429))
