"""The record quota counts what pages spent, and nothing else (docs/quotas.md).

- Rebuilt after Redis lost the day's counters, and in ``/usage``'s history, records are the rows of
  ``…/records`` pages only: an export download logs the export's row count and an aggregate its
  number of groups in the audit log, but neither ever spent the record quota.
- A page that fails on the server's side (5xx) gives its reserved rows back, whatever step fails
  (the generalized-overlap count timing out included), so a client retrying a 503 is not charged twice.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from moderation_data.query import records
from platform_api.audit import record_access_event
from platform_api.errors import Unavailable
from platform_api.models import AccessEvent
from platform_api.ratelimit import client as redis_client
from researchers.quotas import records_window, request_windows, usage_today
from tests.api_fixtures import make_research_client

pytestmark = pytest.mark.django_db

BASE = "/api/v1/datasets/moderation-decisions/releases/latest"
RECORDS = f"{BASE}/records"
ARROW = "application/vnd.apache.arrow.stream"
EXPORT_ROWS = 1_000_000


def _audit_export_download(researcher, release, endpoint: str, via: dict) -> None:
    """The access event a whole export download writes (moderation_data/exports/api.py, researchers/views.py)."""
    grant = researcher.grant
    record_access_event(
        request_id=uuid.uuid4().hex,
        method="GET",
        endpoint=endpoint,
        status=200,
        grant=grant,
        client_id=researcher.client_id,
        dataset="moderation-decisions",
        release=release.version,
        query=via,
        rows_returned=EXPORT_ROWS,
        reference=getattr(grant, "dsc_reference", "") or "",
        bytes_returned=123_456_789,
    )


def _todays_history(usage: dict) -> dict:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    return next(day for day in usage["days"] if str(day["day"]) == today)


def test_records_rebuilt_after_redis_lost_the_day_and_the_history_count_pages_only(release):
    researcher = make_research_client()
    grant = researcher.grant
    first = researcher.get(RECORDS, {"page_size": 20})
    second = researcher.post(RECORDS, {"page_size": 17, "cursor": first.json()["next_cursor"]})
    assert first.status_code == second.status_code == 200
    pages = len(first.json()["data"]) + len(second.json()["data"])
    assert pages == 37
    # A real aggregate: its audit event carries its number of groups (12 policies and null × 3).
    aggregate = researcher.post(f"{BASE}/aggregate", {"group_by": ["policy", "appealed"], "epsilon": 0.1})
    assert aggregate.status_code == 200, aggregate.content
    groups = len(aggregate.json()["data"])
    # Two whole downloads of a million-row export, audited as the API and the portal audit them.
    export_id = uuid.uuid4()
    _audit_export_download(researcher, release, f"/api/v1/exports/{export_id}/file", {"export": str(export_id)})
    _audit_export_download(
        researcher, release, f"/portal/exports/{export_id}/download/", {"export": str(export_id), "via": "portal"}
    )
    audited = AccessEvent.objects.of_grant(grant).filter(status=200)
    assert sum(audited.values_list("rows_returned", flat=True)) == pages + groups + 2 * EXPORT_ROWS

    live = researcher.get("/api/v1/usage").json()
    assert live["today"]["records"] == pages  # the live counter: pages only
    assert _todays_history(live)["records"] == pages  # and the history agrees with it

    # Redis loses the day's counters of this grant (only those: other tests share this Redis).
    keys = [records_window(grant).key, request_windows(grant)[1].key]
    assert redis_client().delete(*keys) == 2

    assert usage_today(grant)["records"] == pages  # rebuilt from the audit log
    rebuilt = researcher.get("/api/v1/usage")
    assert rebuilt.status_code == 200
    body = rebuilt.json()
    assert body["today"]["records"] == pages
    assert body["today"]["records_remaining"] == grant.records_per_day - pages
    assert _todays_history(body)["records"] == pages
    # And the quota still lets the grant page on.
    again = researcher.get(RECORDS, {"page_size": 5})
    assert again.status_code == 200 and len(again.json()["data"]) == 5
    assert usage_today(grant)["records"] == pages + 5


@pytest.mark.parametrize("accept", ["application/json", ARROW])
def test_a_page_whose_overlap_count_times_out_answers_503_and_spends_no_records(release, monkeypatch, accept):
    researcher = make_research_client()

    def timed_out(query):
        # What platform_api.dataapi.statement_timeout raises when PostgreSQL cancels the count.
        raise Unavailable(
            "The query took too long and was cancelled; narrow it (e.g. by date or policy) and retry.",
            headers={"Retry-After": "5"},
        )

    counted = records.generalized_overlap
    monkeypatch.setattr(records, "generalized_overlap", timed_out)
    query = {"policy": "violent_extremism", "page_size": 50}
    for _ in range(2):  # the client retries the 503: still nothing spent
        response = researcher.get(RECORDS, query, HTTP_ACCEPT=accept)
        assert response.status_code == 503, response.content
        assert response.json()["error"]["code"] == "unavailable"
        assert usage_today(researcher.grant)["records"] == 0
    assert researcher.get("/api/v1/usage").json()["today"]["records"] == 0

    monkeypatch.setattr(records, "generalized_overlap", counted)  # the count answers again
    served = researcher.get(RECORDS, query, HTTP_ACCEPT=accept)
    assert served.status_code == 200
    assert usage_today(researcher.grant)["records"] > 0


def test_a_page_refused_for_the_record_quota_counts_in_no_window_and_its_headers_name_the_records_window(release):
    researcher = make_research_client(requests_per_minute=4, requests_per_day=1_000, records_per_day=5)
    assert researcher.get(RECORDS, {"page_size": 5}).status_code == 200
    for _ in range(4):  # more refused pages than the minute admits
        refused = researcher.get(RECORDS, {"page_size": 5})
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "quota_exceeded"
        wait = int(refused["Retry-After"])
        assert refused["RateLimit"] == f'"records";r=0;t={wait}'
        assert refused["RateLimit-Policy"] == '"records";q=5;w=86400'
    # The refusals took nothing from the minute or the day: the one page and this call are all.
    usage = researcher.get("/api/v1/usage")
    assert usage.status_code == 200, usage.content
    assert usage.json()["today"]["requests"] == 2 and usage.json()["today"]["records"] == 5
