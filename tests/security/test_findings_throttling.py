"""Red-team finding (issue 15): requests that failed were never throttled (80/80 anonymous
``?page=99999999999999999999`` and 40/40 deeply nested ``/count`` bodies got errors, no 429).
Per-minute windows now count every request, failed ones included; only daily quotas refund a
server-side failure; unbounded numeric parameters answer 400."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.api_fixtures import make_research_client, unique_ip

COUNT = "/api/v1/datasets/moderation-decisions/releases/latest/count"
SUMMARY = "/api/v1/public/enforcement-summary"
pytestmark = pytest.mark.django_db


def nested(depth: int) -> dict:
    query: dict = {"operation": "EQ", "field_name": "country", "field_values": ["DE"]}
    for _ in range(depth):
        query = {"and": [query]}
    return {"query": query}


def test_a_huge_page_number_is_400_not_500(release, settings):
    settings.PUBLIC_RATE_LIMIT_PER_MINUTE = 1000
    response = Client(REMOTE_ADDR=unique_ip()).get(SUMMARY, {"page": "99999999999999999999"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert "page" in response.json()["error"]["detail"]


def test_anonymous_failing_requests_are_throttled_per_ip(release, settings):
    settings.PUBLIC_RATE_LIMIT_PER_MINUTE = 60
    http = Client(REMOTE_ADDR=unique_ip())
    statuses = [http.get(SUMMARY, {"page": "99999999999999999999"}).status_code for _ in range(80)]
    assert set(statuses[:60]) == {400}
    assert statuses[60:] == [429] * 20
    # Another address is not affected.
    assert Client(REMOTE_ADDR=unique_ip()).get(SUMMARY, {"page": "1"}).status_code != 429


def test_deeply_nested_count_bodies_are_400_and_throttled(release):
    client = make_research_client(requests_per_minute=30, requests_per_day=10_000)
    body = json.dumps(nested(200))
    responses = [
        client.http.post(COUNT, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {client.token}")
        for _ in range(40)
    ]
    statuses = [r.status_code for r in responses]
    assert all(s < 500 for s in statuses), statuses
    assert set(statuses[:30]) == {400}
    assert statuses[30:] == [429] * 10
    assert responses[-1].json()["error"]["code"] == "rate_limited"


def test_a_server_error_refunds_the_daily_quota_but_not_the_minute(release):
    from platform_api import ratelimit
    from platform_api.ratelimit import DAY
    from researchers.quotas import request_windows

    client = make_research_client(requests_per_minute=50, requests_per_day=1000)
    windows = request_windows(client.grant)
    charged = ratelimit.admit(windows)
    assert charged.admitted
    # What the middleware does for a 5xx answer.
    ratelimit.refund([w for w in windows if w.seconds >= DAY])
    counts = dict(zip([w.name for w in windows], ratelimit.counts(windows), strict=True))
    assert counts["minute"] == 1
    assert counts["day"] == 0
