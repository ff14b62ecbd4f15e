"""GET /api/v1/public/enforcement-summary: no token, filters, k-suppression, envelope, rate limit."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from moderation_data.releases.selectors import latest_summary_release

URL = "/api/v1/public/enforcement-summary"
pytestmark = pytest.mark.django_db


def _get(client, **params):
    # A fresh address per test: the anonymous limit is per client address.
    return client.get(URL, params, REMOTE_ADDR=f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7")


def test_anyone_can_read_the_summary_without_a_token(client, demo_release):
    response = _get(client)
    assert response.status_code == 200
    body = response.json()
    assert body["release"] == demo_release.version and body["k"] == 10
    assert body["count"] == len(body["data"]) > 10 and body["has_more"] is False
    cell = body["data"][0]
    assert set(cell) == {"month", "policy", "country", "detection_source", "action", "decisions"}


def test_cells_under_k_are_suppressed_and_published_counts_are_exact(client, demo_release):
    summary = latest_summary_release()
    data = _get(client, page_size=10000).json()["data"]
    assert min(cell["decisions"] for cell in data) >= 10
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT to_char(coalesce(actioned_at, application_date), 'YYYY-MM'), coalesce(policy, 'other'),
                      coalesce(uploader_country, 'unknown'), coalesce(detection_source, 'unknown'),
                      coalesce(decision_account, decision_provision, decision_visibility[1], decision_monetary),
                      count(*), count(DISTINCT coalesce(account_id, platform_decision_id))
                 FROM moderation_data_decision GROUP BY 1, 2, 3, 4, 5"""
        )
        raw = {row[:5]: row[5:] for row in cursor.fetchall()}
    published = {(c["month"], c["policy"], c["country"], c["detection_source"], c["action"]): c["decisions"]
                 for c in data}  # fmt: skip
    for key, (decisions, accounts) in raw.items():
        if decisions >= 10 and accounts >= 10:
            assert published[key] == decisions
        else:
            assert key not in published
    assert summary.anonymization["decisions_in_suppressed_cells"] > 0


def test_filters_by_month_range_policy_and_country(client, demo_release):
    everything = _get(client, page_size=10000).json()["data"]
    months = sorted({c["month"] for c in everything})
    body = _get(client, month_from=months[0], month_to=months[0], policy="spam_fake_engagement", country="DE").json()
    assert body["data"] and all(
        (c["month"], c["policy"], c["country"]) == (months[0], "spam_fake_engagement", "DE") for c in body["data"]
    )
    expected = [c for c in everything if c["month"] == months[0] and c["policy"] == "spam_fake_engagement"
                and c["country"] == "DE"]  # fmt: skip
    assert body["data"] == expected


def test_pages_cover_every_cell_once(client, demo_release):
    everything = _get(client, page_size=10000).json()["data"]
    pages, page = [], 1
    while True:
        body = _get(client, page=page, page_size=7).json()
        pages += body["data"]
        if not body["has_more"]:
            break
        page += 1
    assert pages == everything


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"month_from": "2025-13"}, "month_from"),
        ({"month_to": "25-01"}, "month_to"),
        ({"month_from": "2025-05", "month_to": "2025-01"}, "month_to"),
        ({"policy": "nonsense"}, "policy"),
        ({"country": "germany"}, "country"),
        ({"page_size": "0"}, "page_size"),
    ],
)
def test_bad_filters_answer_400_invalid_request_in_the_envelope(client, demo_release, params, field):
    response = _get(client, **params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and field in error["detail"] and error["request_id"]


def test_the_anonymous_rate_limit_answers_429_with_retry_after(client, demo_release, settings):
    settings.PUBLIC_RATE_LIMIT_PER_MINUTE = 2
    address = f"10.99.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    codes = [client.get(URL, REMOTE_ADDR=address).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    response = client.get(URL, REMOTE_ADDR=address)
    assert response.json()["error"]["code"] == "rate_limited" and int(response["Retry-After"]) > 0


def test_the_endpoint_is_documented_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/public/enforcement-summary"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"month_from", "month_to", "policy", "country", "page", "page_size"} <= names
    assert {"200", "400", "429"} <= set(operation["responses"])
