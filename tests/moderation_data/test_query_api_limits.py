"""Rate limits and quotas of the query API: exact, atomic, shared across processes (docs/query.md)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from platform_api.ratelimit import client as redis_client
from tests.api_fixtures import http_client, make_research_client

RECORDS = "/api/v1/datasets/moderation-decisions/releases/latest/records"
COUNT = "/api/v1/datasets/moderation-decisions/releases/latest/count"

ENDPOINTS = [
    ("get", "/api/v1/datasets"),
    ("get", "/api/v1/datasets/moderation-decisions"),
    ("get", "/api/v1/datasets/moderation-decisions/releases/latest"),
    ("get", RECORDS),
    ("post", RECORDS),
    ("post", COUNT),
    ("get", "/api/v1/usage"),
    ("get", "/api/v1/me"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_endpoint_is_throttled_per_grant_with_ratelimit_headers(release, method, path):
    researcher = make_research_client(requests_per_minute=2)
    responses = [getattr(researcher, method)(path) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    refused = responses[2].json()["error"]
    assert refused["code"] == "rate_limited"
    assert int(responses[2]["Retry-After"]) >= 1
    for response in responses:
        assert '"minute";q=2;w=60' in response["RateLimit-Policy"]
        assert response["RateLimit"].startswith('"minute";r=')
    assert responses[1]["RateLimit"].startswith('"minute";r=0;')


@pytest.mark.django_db
def test_the_daily_request_limit_applies_too(release):
    researcher = make_research_client(requests_per_day=3)
    statuses = [researcher.get("/api/v1/datasets").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


@pytest.mark.django_db
def test_a_page_is_cut_short_by_the_record_quota_then_quota_exceeded(release):
    researcher = make_research_client(records_per_day=150)
    first = researcher.get(RECORDS, {"page_size": 100}).json()
    second = researcher.get(RECORDS, {"page_size": 100, "cursor": first["next_cursor"]}).json()
    assert (len(first["data"]), len(second["data"])) == (100, 50)
    assert second["has_more"] is True and second["next_cursor"]
    refused = researcher.get(RECORDS, {"page_size": 100, "cursor": second["next_cursor"]})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "quota_exceeded"
    assert int(refused["Retry-After"]) >= 1
    assert researcher.get("/api/v1/usage").json()["today"]["records_remaining"] == 0


@pytest.mark.django_db
def test_rows_not_returned_are_refunded_to_the_quota(release):
    researcher = make_research_client(records_per_day=1000)
    body = researcher.get(RECORDS, {"page_size": 1000, "policy": "violent_extremism"}).json()
    used = researcher.get("/api/v1/usage").json()["today"]["records"]
    assert used == len(body["data"]) < 1000


@pytest.mark.django_db
def test_count_and_catalog_do_not_spend_the_record_quota(release):
    researcher = make_research_client(records_per_day=5)
    researcher.post(COUNT, {})
    researcher.get("/api/v1/datasets/moderation-decisions/releases/latest")
    assert researcher.get("/api/v1/usage").json()["today"]["records"] == 0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_200_concurrent_requests_through_two_gunicorns_admit_exactly_the_limit(two_gunicorns, release):
    researcher = make_research_client(requests_per_minute=50, requests_per_day=100_000)
    headers = {"Authorization": f"Bearer {researcher.token}"}

    def one(i: int) -> int:
        server = two_gunicorns[i % 2]
        return http.get(f"{server.url}{RECORDS}", params={"page_size": 1}, headers=headers).status_code

    with http_client(40, timeout=60) as http, ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(one, range(200)))
    # The servers' clocks run: a burst may straddle two fixed minutes. Each minute's counter then
    # holds exactly what it admitted, never more than the limit, and one of them is full.
    redis = redis_client()
    pattern = f"{two_gunicorns[0].ratelimit_prefix}:grant:{researcher.grant.pk}:minute:*"
    minutes = [int(redis.get(key) or 0) for key in redis.scan_iter(match=pattern)]
    assert statuses.count(200) == sum(minutes)
    assert max(minutes) == 50 and all(count <= 50 for count in minutes)
    assert statuses.count(200) + statuses.count(429) == 200
    if len(minutes) == 1:
        assert statuses.count(200) == 50


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_pages_never_exceed_the_daily_record_quota(two_gunicorns, release):
    researcher = make_research_client(records_per_day=700, requests_per_minute=10_000, requests_per_day=100_000)
    headers = {"Authorization": f"Bearer {researcher.token}"}

    def one(i: int) -> tuple[int, int]:
        server = two_gunicorns[i % 2]
        response = http.get(f"{server.url}{RECORDS}", params={"page_size": 60}, headers=headers)
        return response.status_code, len(response.json().get("data", []))

    with http_client(30, timeout=60) as http, ThreadPoolExecutor(max_workers=30) as pool:
        results = list(pool.map(one, range(30)))
    assert sum(rows for _, rows in results) == 700
    assert {status for status, _ in results} <= {200, 429}
    assert any(status == 429 for status, _ in results)
