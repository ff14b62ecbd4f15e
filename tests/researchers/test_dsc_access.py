"""A DSC grant through the API: its reference in /me and in every access event, and rows and fields
never beyond the reasoned request, whatever the query asks."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from django.db import connection

from moderation_data.query.records import _bucket_end
from platform_api.audit import GENESIS, canonical, record_access_event, seal_chain, verify_chain
from platform_api.models import AccessEvent
from tests.api_fixtures import make_research_client
from tests.moderation_data.exports_support import api_rows
from tests.researchers.dsc_support import dsc_research_client

pytestmark = pytest.mark.django_db
RECORDS = "/api/v1/datasets/moderation-decisions/releases/latest/records"
COUNT = "/api/v1/datasets/moderation-decisions/releases/latest/count"
GENEROUS = {"requests_per_minute": 100_000, "requests_per_day": 1_000_000, "records_per_day": 10_000_000}


def middle_of(release) -> tuple[dt.date, dt.date]:
    """A data period strictly inside the release's: rows exist on both sides of it."""
    span = (release.period_end - release.period_start).days
    return release.period_start + dt.timedelta(days=span // 4), release.period_end - dt.timedelta(days=span // 4)


def _precision(release) -> str:
    return next(f for f in release.codebook if f["name"] == "decided_on").get("precision", "day")


def rows_wholly_within(release, start: dt.date, end: dt.date) -> int:
    """Independently of the query layer: rows whose (generalized) decision period lies inside [start, end]."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT decided_on, count(*) FROM {release.rows_table} GROUP BY 1")
        return sum(n for day, n in cursor.fetchall() if start <= day and _bucket_end(day, _precision(release)) <= end)


def test_me_names_the_reasoned_request_and_the_data_limits(release):
    start, end = middle_of(release)
    researcher = dsc_research_client(data_from=start, data_until=end, fields_requested=["decided_on", "policy"])
    body = researcher.get("/api/v1/me").json()
    assert body["dsc_reference"] == researcher.grant.dsc_reference
    assert body["data_limits"] == {"from": str(start), "until": str(end), "fields": ["decided_on", "policy"]}
    assert body["project"]["title"] == "Terrorist content moderation across the EU"


def test_a_platform_vetted_grant_has_no_reference_and_no_limits(release):
    body = make_research_client().get("/api/v1/me").json()
    assert body["dsc_reference"] is None and body["data_limits"] is None


def test_records_never_include_a_row_outside_the_requested_period_whatever_the_query(release):
    start, end = middle_of(release)
    researcher = dsc_research_client(data_from=start, data_until=end, quotas=GENEROUS)
    wider = {"and": [{"operation": "GTE", "field_name": "decided_on", "field_values": [str(release.period_start)]}]}
    rows = api_rows(researcher, query=wider, fields=["decided_on"])
    # One precision per release (docs/privacy.md): a bucket wider than the period holds no row wholly inside.
    assert rows or _bucket_end(start, _precision(release)) > end, "the period holds rows"
    for row in rows:
        first = dt.date.fromisoformat(row["decided_on"])
        assert start <= first and _bucket_end(first, _precision(release)) <= end, row
    assert len(rows) == rows_wholly_within(release, start, end)
    count = researcher.post(COUNT, {"query": wider}).json()["count"]
    assert count == len(rows) < release.row_count or (count == len(rows) == 0)
    # The GET form too.
    page = researcher.get(RECORDS, {"decided_on__lt": str(start), "fields": "decided_on"}).json()
    assert page["data"] == []


def test_fields_outside_the_request_can_be_neither_read_nor_filtered(release):
    researcher = dsc_research_client(fields_requested=["decided_on", "policy", "country"])
    default = researcher.post(RECORDS, {"page_size": 5}).json()["data"]
    assert default and set(default[0]) == {"decided_on", "policy", "country"}
    for body in (
        {"fields": ["policy", "account_id"]},
        {"query": {"and": [{"operation": "EQ", "field_name": "detection_source", "field_values": ["hash_match"]}]}},
    ):
        response = researcher.post(RECORDS, body)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_query"
    response = researcher.get(RECORDS, {"content_language": "DE"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_query"


def test_a_dsc_grant_limited_to_records_cannot_export(release):
    researcher = dsc_research_client(modality="records")
    assert "exports" not in researcher.get("/api/v1/me").json()["scopes"]
    response = researcher.post("/api/v1/exports", {"dataset": "moderation-decisions", "format": "csv"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "scope_missing"


def test_a_token_cannot_ask_for_a_dataset_outside_the_request(release):
    researcher = dsc_research_client()
    response = researcher.http.post(
        "/oauth/token/",
        {"grant_type": "client_credentials", "scope": "dataset:enforcement-summary"},
        HTTP_AUTHORIZATION=_basic(researcher),
    )
    assert response.status_code in (400, 401)
    assert "access_token" not in response.json()
    denied = researcher.get("/api/v1/datasets/enforcement-summary")
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "scope_missing"


def _basic(researcher) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{researcher.client_id}:{researcher.secret}".encode()).decode()


def test_every_access_event_of_a_dsc_grant_carries_its_reference_and_the_chain_verifies(release):
    researcher = dsc_research_client()
    other = make_research_client()
    researcher.get("/api/v1/me")
    researcher.post(RECORDS, {"page_size": 3})
    researcher.post(RECORDS, {"fields": ["no_such_field"]})  # refused requests are audited too
    other.post(RECORDS, {"page_size": 2})
    events = AccessEvent.objects.of_grant(researcher.grant)
    assert events.count() >= 2
    assert set(events.values_list("reference", flat=True)) == {researcher.grant.dsc_reference}
    assert set(AccessEvent.objects.of_grant(other.grant).values_list("reference", flat=True)) == {""}
    assert verify_chain().ok


def test_the_reference_is_covered_by_the_hash_and_events_without_one_hash_as_before(db):
    plain = record_access_event(request_id="r1", method="GET", endpoint="/api/v1/me", status=200)
    referenced = record_access_event(
        request_id="r2", method="GET", endpoint="/api/v1/me", status=200, reference="IE-CNAM-2026-0042"
    )
    seal_chain()  # events are linked by the sealer (platform_api.audit)
    plain, referenced = (AccessEvent.objects.get(pk=e.pk) for e in (plain, referenced))
    # An event without a reference hashes exactly as events did before the field existed.
    before = {
        "occurred_at": plain.occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "request_id": "r1", "grant_id": None, "client_id": "", "method": "GET", "endpoint": "/api/v1/me",
        "dataset": "", "release": "", "query": {}, "rows_returned": 0, "status": 200,
    }  # fmt: skip
    old_bytes = json.dumps(before, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert canonical(plain) == old_bytes
    assert plain.hash == hashlib.sha256(plain.prev_hash.encode() + old_bytes).hexdigest()
    assert json.loads(canonical(referenced))["reference"] == "IE-CNAM-2026-0042"
    assert verify_chain().ok
    # Changing the reference breaks the chain at that event.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks: the table can be altered
        cursor.execute("ALTER TABLE platform_api_accessevent DISABLE TRIGGER USER")
        cursor.execute("UPDATE platform_api_accessevent SET reference = 'XX-FORGED' WHERE id = %s", [referenced.pk])
        cursor.execute("ALTER TABLE platform_api_accessevent ENABLE TRIGGER USER")
    result = verify_chain()
    assert not result.ok and result.first_broken.pk == referenced.pk


def test_verifying_a_range_starts_from_the_hash_before_it(db):
    events = [record_access_event(request_id=f"r{i}", method="GET", endpoint="/x", status=200) for i in range(4)]
    seal_chain()
    events = [AccessEvent.objects.get(pk=e.pk) for e in events]
    assert events[0].prev_hash == GENESIS or AccessEvent.objects.filter(pk__lt=events[0].pk).exists()
    tail = AccessEvent.objects.filter(pk__gte=events[2].pk).order_by("id")
    assert verify_chain(tail, prev_hash=events[1].hash).ok
    assert not verify_chain(tail).ok  # not anchored at the genesis


AGGREGATE = "/api/v1/datasets/moderation-decisions/releases/latest/aggregate"


def test_aggregates_of_a_dsc_grant_group_and_filter_only_by_requested_fields(release):
    researcher = dsc_research_client(modality="aggregate", fields_requested=["decided_on", "policy"])
    for body, field in (
        ({"group_by": ["country"], "epsilon": 0.1}, "group_by"),
        ({"group_by": ["policy"], "measure": "mean", "value": "views_before_action", "epsilon": 0.1}, "value"),
    ):
        response = researcher.post(AGGREGATE, body)
        assert response.status_code == 400, response.content
        assert field in response.json()["error"]["detail"]
    query = {"and": [{"operation": "EQ", "field_name": "country", "field_values": ["DE"]}]}
    response = researcher.post(AGGREGATE, {"group_by": ["policy"], "query": query, "epsilon": 0.1})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_query"
    ok = researcher.post(AGGREGATE, {"group_by": ["policy"], "epsilon": 0.1})
    assert ok.status_code == 200, ok.content


def test_aggregates_of_a_dsc_grant_count_only_rows_within_the_requested_period(release):
    from moderation_data.aggregates.compute import bounded_vectors
    from moderation_data.aggregates.mechanism import RESOLUTION
    from moderation_data.aggregates.spec import build_spec
    from moderation_data.aggregates.table import ensure_aggregation_table

    start, end = middle_of(release)
    researcher = dsc_research_client(data_from=start, data_until=end, modality="aggregate")
    table = ensure_aggregation_table(release)
    body = {"group_by": [], "epsilon": 1, "contribution_bound": 1000}
    limited = bounded_vectors(build_spec(release, body, grant=researcher.grant), table=table)["count"][0]
    everything = bounded_vectors(build_spec(release, body), table=table)["count"][0]
    assert limited // RESOLUTION == rows_wholly_within(release, start, end) < everything // RESOLUTION


def test_aggregates_of_a_dsc_grant_never_count_a_date_bucket_that_ends_after_the_requested_period(release):
    from moderation_data.aggregates.compute import bounded_vectors
    from moderation_data.aggregates.mechanism import RESOLUTION
    from moderation_data.aggregates.spec import build_spec
    from moderation_data.aggregates.table import ensure_aggregation_table
    from moderation_data.query.records import _bucket_start

    precision = _precision(release)
    assert precision != "day", "the shared release generalizes decision dates (a coarser bucket than a day)"
    # The period ends inside a bucket: the rows of that bucket may lie after it, so none count.
    middle = release.period_start + (release.period_end - release.period_start) / 2
    end = _bucket_start(middle, precision) + dt.timedelta(days=2)
    assert _bucket_end(end, precision) > end
    researcher = dsc_research_client(data_from=release.period_start, data_until=end, modality="aggregate")
    table = ensure_aggregation_table(release)
    body = {"group_by": [], "epsilon": 1, "contribution_bound": 1000}
    limited = bounded_vectors(build_spec(release, body, grant=researcher.grant), table=table)["count"][0]
    expected = rows_wholly_within(release, release.period_start, end)
    assert limited // RESOLUTION == expected < release.row_count
    # Counting the records of the same period agrees.
    reader = dsc_research_client(data_from=release.period_start, data_until=end, quotas=GENEROUS)
    assert reader.post(COUNT, {}).json()["count"] == expected


def test_the_generalized_overlap_of_a_dsc_grant_counts_no_row_outside_its_period(release):
    """The rows of a date bucket that the grant's period cuts lie outside it: the overlap (rows that may
    or may not match) must not count them, or it would give their exact number to the grant."""
    from moderation_data.query.records import _bucket_start

    precision = _precision(release)
    assert precision != "day", "the shared release generalizes decision dates (a coarser bucket than a day)"
    start = _bucket_start(release.period_start, precision) + dt.timedelta(days=9)  # inside the first bucket
    researcher = dsc_research_client(data_from=start, data_until=release.period_end, quotas=GENEROUS)
    inside = rows_wholly_within(release, start, release.period_end)
    policy = {"and": [{"operation": "EQ", "field_name": "policy", "field_values": ["violent_extremism"]}]}
    for body in ({}, {"query": policy}):
        answer = researcher.post(COUNT, body).json()
        assert answer["count"] <= inside and answer["generalized_overlap"] <= inside - answer["count"]
    # A filter finer than the release's precision, inside the period, still reports its own overlap.
    later = {"and": [{"operation": "GTE", "field_name": "decided_on", "field_values": [str(start)]}]}
    assert researcher.post(COUNT, {"query": later}).json()["generalized_overlap"] <= inside
