"""OWASP API6:2023 Unrestricted Access to Sensitive Business Flows: bulk extraction.

The sensitive flow is taking the data out. A grant can extract at most its daily record quota
through pages (however they are cut: page sizes, GET and POST forms, counts in between) plus its
monthly export allowance through exports, together; a rejected request costs nothing and a
cancelled export gives its rows back exactly once.
"""

from __future__ import annotations

import pytest

from tests.api_fixtures import make_research_client
from tests.security.figures import record

pytestmark = pytest.mark.django_db

RELEASE = "/api/v1/datasets/moderation-decisions/releases/latest"
EXPORT = {"dataset": "moderation-decisions", "format": "csv"}


def walk(research, page_sizes) -> tuple[int, int]:
    """Pages until the quota refuses; returns (rows received, the status that ended the walk)."""
    rows, cursor, n = 0, None, 0
    while True:
        size = page_sizes[n % len(page_sizes)]
        n += 1
        if n % 2:
            response = research.post(f"{RELEASE}/records", {"page_size": size, "cursor": cursor})
        else:
            response = research.get(f"{RELEASE}/records", {"page_size": size, **({"cursor": cursor} if cursor else {})})
        research.post(f"{RELEASE}/count", {})  # free, and must stay free
        if response.status_code != 200:
            return rows, response.status_code
        page = response.json()
        rows += len(page["data"])
        if not page["has_more"]:
            return rows, 200
        cursor = page["next_cursor"]


def test_pages_and_exports_together_never_exceed_the_daily_quota_plus_the_monthly_allowance(release):
    quota, allowance = 250, release.row_count
    research = make_research_client(records_per_day=quota, export_rows_per_month=allowance)
    rows, ended = walk(research, page_sizes=[7, 100, 1, 33])
    assert (rows, ended) == (quota, 429)
    # The export allowance is separate, charged whole when the export is requested...
    first = research.post("/api/v1/exports", EXPORT)
    assert first.status_code == 202, first.content
    # ...and a second export of the same rows does not fit.
    second = research.post("/api/v1/exports", EXPORT)
    assert second.status_code == 429 and second.json()["error"]["code"] == "quota_exceeded"
    usage = research.get("/api/v1/me").json()
    assert usage["usage_today"]["records"] == quota
    extracted = quota + allowance
    record("API6 rows extractable per day and month (pages + exports) in the test grant", extracted, "rows")


def test_a_cancelled_export_refunds_its_rows_once_and_only_once(release):
    research = make_research_client(export_rows_per_month=release.row_count)
    export_id = research.post("/api/v1/exports", EXPORT).json()["id"]
    for _ in range(3):  # cancelling is idempotent: one refund
        assert (
            research.http.delete(
                f"/api/v1/exports/{export_id}", HTTP_AUTHORIZATION=f"Bearer {research.token}"
            ).status_code
            == 200
        )
    assert research.post("/api/v1/exports", EXPORT).status_code == 202
    refused = research.post("/api/v1/exports", EXPORT)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "quota_exceeded"


def test_two_clients_of_one_project_do_not_double_the_extraction(release):
    """The limits belong to the grant (the project), not to a token: a second token shares them."""
    import base64

    research = make_research_client(records_per_day=100)
    basic = base64.b64encode(f"{research.client_id}:{research.secret}".encode()).decode()
    second = research.http.post(
        "/oauth/token", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    other_token = second.json()["access_token"]
    assert research.post(f"{RELEASE}/records", {"page_size": 100}).status_code == 200
    response = research.http.post(
        f"{RELEASE}/records",
        {"page_size": 1},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {other_token}",
    )
    assert response.status_code == 429 and response.json()["error"]["code"] == "quota_exceeded"
