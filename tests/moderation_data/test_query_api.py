"""The researcher query API: catalog, release metadata, records, count, usage (docs/query.md)."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from platform_api.models import AccessEvent
from tests.api_fixtures import make_research_client

pytestmark = pytest.mark.django_db

RECORDS = "/api/v1/datasets/moderation-decisions/releases/latest/records"
COUNT = "/api/v1/datasets/moderation-decisions/releases/latest/count"


def error_code(response) -> str:
    return response.json()["error"]["code"]


def table_rows(release, where: str = "TRUE", params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT row_id FROM {release.rows_table} WHERE {where} ORDER BY row_id", list(params))
        return cursor.fetchall()


# ----------------------------------------------------------------------------- catalog


def test_datasets_lists_only_the_granted_datasets_with_their_releases(release, researcher):
    response = researcher.get("/api/v1/datasets")
    assert response.status_code == 200
    slugs = [d["slug"] for d in response.json()["data"]]
    assert slugs == ["enforcement-summary", "moderation-decisions"]
    decisions = next(d for d in response.json()["data"] if d["slug"] == "moderation-decisions")
    assert decisions["latest_release"] == release.version
    assert decisions["releases"][0]["row_count"] == release.row_count


def test_datasets_of_a_narrower_grant_omit_the_others(release):
    narrow = make_research_client(datasets=["enforcement-summary"], modality="aggregate")
    slugs = [d["slug"] for d in narrow.get("/api/v1/datasets").json()["data"]]
    assert slugs == ["enforcement-summary"]


def test_dataset_detail_carries_the_codebook(release, researcher):
    body = researcher.get("/api/v1/datasets/moderation-decisions").json()
    names = [field["name"] for field in body["codebook"]]
    assert {"decision_id", "policy", "decided_on", "views_before_action"} <= set(names)
    policy = next(f for f in body["codebook"] if f["name"] == "policy")
    assert "violent_extremism" in [v["value"] for v in policy["values"]]


def test_a_dataset_outside_the_tokens_scopes_is_scope_missing(release):
    narrow = make_research_client(datasets=["enforcement-summary"], modality="aggregate")
    response = narrow.get("/api/v1/datasets/moderation-decisions")
    assert response.status_code == 403
    assert error_code(response) == "scope_missing"


def test_an_unknown_dataset_is_scope_missing_too_so_nothing_leaks(researcher):
    response = researcher.get("/api/v1/datasets/secret-internal-dataset")
    assert (response.status_code, error_code(response)) == (403, "scope_missing")


def test_release_metadata_resolves_latest_and_says_which_version(release, researcher):
    body = researcher.get("/api/v1/datasets/moderation-decisions/releases/latest").json()
    assert body["release"] == body["version"] == release.version
    assert body["row_count"] == release.row_count
    assert body["sha256"] == release.sha256
    assert body["anonymization"]["k"] == 10 or body["k_anonymity"] == 10
    assert body["control_totals"]
    assert release.version in body["citation"]


def test_an_unknown_release_is_not_found(release, researcher):
    response = researcher.get("/api/v1/datasets/moderation-decisions/releases/1999.01.01")
    assert (response.status_code, error_code(response)) == (404, "not_found")


def test_a_withdrawn_release_answers_not_found_and_serves_no_rows(release, researcher):
    from moderation_data.releases.services import withdraw_release

    withdraw_release(release, reason="test")
    url = f"/api/v1/datasets/moderation-decisions/releases/{release.version}/records"
    response = researcher.get(url)
    assert (response.status_code, error_code(response)) == (404, "not_found")


# ----------------------------------------------------------------------------- auth on every endpoint

ENDPOINTS = [
    ("get", "/api/v1/datasets"),
    ("get", "/api/v1/datasets/moderation-decisions"),
    ("get", "/api/v1/datasets/moderation-decisions/releases/latest"),
    ("get", RECORDS),
    ("post", RECORDS),
    ("post", COUNT),
    ("get", "/api/v1/usage"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_endpoint_refuses_a_request_without_token(client, release, method, path):
    response = getattr(client, method)(path, content_type="application/json")
    assert response.status_code == 401
    assert error_code(response) == "authentication_failed"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_endpoint_refuses_a_forged_token(client, release, method, path):
    response = getattr(client, method)(path, content_type="application/json", HTTP_AUTHORIZATION="Bearer forged")
    assert (response.status_code, error_code(response)) == (401, "authentication_failed")


def test_a_token_narrowed_to_another_dataset_cannot_read_records(release):
    narrowed = make_research_client(scope="dataset:enforcement-summary")
    response = narrowed.get(RECORDS)
    assert (response.status_code, error_code(response)) == (403, "scope_missing")


def test_an_aggregate_only_grant_is_refused_row_level_records(release):
    aggregate = make_research_client(modality="aggregate")
    for response in (aggregate.get(RECORDS), aggregate.post(COUNT, {})):
        assert (response.status_code, error_code(response)) == (403, "permission_denied")


def test_a_suspended_grant_fails_on_the_very_next_request(release, researcher):
    from researchers import services
    from tests.researchers.factories import StaffFactory

    assert researcher.get(RECORDS).status_code == 200
    services.suspend_grant(researcher.grant, actor=StaffFactory(), reason="investigation")
    response = researcher.get(RECORDS)
    assert (response.status_code, error_code(response)) == (401, "authentication_failed")


# ----------------------------------------------------------------------------- records


def test_records_default_page_has_all_codebook_fields_and_the_release(release, researcher):
    body = researcher.get(RECORDS).json()
    assert body["release"] == release.version
    assert len(body["data"]) == 100
    assert body["has_more"] is True and body["next_cursor"]
    assert set(body["data"][0]) == {field["name"] for field in release.codebook}


def test_field_selection_returns_only_those_fields_in_order(release, researcher):
    body = researcher.get(RECORDS, {"fields": "policy,decided_on", "page_size": 5}).json()
    assert [list(row) for row in body["data"]] == [["policy", "decided_on"]] * 5


def test_get_filters_match_an_independent_sql_query(release, researcher):
    params = {"policy": "violent_extremism", "decided_on__gte": "2025-01-01", "page_size": 1000, "fields": "policy"}
    rows = walk(researcher, RECORDS, params)
    expected = table_rows(release, "policy = %s AND decided_on >= %s", ["violent_extremism", "2025-01-01"])
    assert len(rows) == len(expected)
    assert all(row["policy"] == "violent_extremism" for row in rows)


def test_post_query_and_count_agree_with_sql(release, researcher):
    query = {
        "and": [{"operation": "IN", "field_name": "policy", "field_values": ["harassment_bullying", "minor_safety"]}],
        "not": [{"operation": "EQ", "field_name": "appealed", "field_values": [True]}],
    }
    count = researcher.post(COUNT, {"query": query}).json()["count"]
    expected = table_rows(release, "policy IN ('harassment_bullying', 'minor_safety') AND appealed IS NOT TRUE")
    assert count == len(expected) > 0
    rows = walk_post(researcher, {"query": query, "fields": ["policy"], "page_size": 500})
    assert len(rows) == count


def test_pseudonyms_are_keyed_to_the_project_and_differ_between_projects(release, researcher):
    other = make_research_client()
    mine = researcher.get(RECORDS, {"fields": "decision_id,account_id", "page_size": 20}).json()["data"]
    theirs = other.get(RECORDS, {"fields": "decision_id,account_id", "page_size": 20}).json()["data"]
    assert mine == researcher.get(RECORDS, {"fields": "decision_id,account_id", "page_size": 20}).json()["data"]
    assert {r["decision_id"] for r in mine}.isdisjoint({r["decision_id"] for r in theirs})
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT decision_id FROM {release.rows_table} ORDER BY row_id LIMIT 20")
        stored = {row[0] for row in cursor.fetchall()}
    assert stored.isdisjoint({r["decision_id"] for r in mine})


@pytest.mark.parametrize("page_size", [1, 7, 100, 1000])
def test_a_full_walk_returns_every_row_exactly_once_in_order(release, page_size):
    researcher = make_research_client(requests_per_minute=10_000, requests_per_day=100_000)
    params = {"fields": "decided_on", "page_size": page_size}
    if page_size == 1:
        params["policy"] = "violent_extremism"  # keep the 1-row walk short
        expected = len(table_rows(release, "policy = 'violent_extremism'"))
    else:
        expected = release.row_count
    rows, pages = walk(researcher, RECORDS, params, with_pages=True)
    assert len(rows) == expected
    assert pages == -(-expected // page_size)


def test_cursor_is_bound_to_its_query(release, researcher):
    first = researcher.get(RECORDS, {"policy": "violent_extremism", "page_size": 2}).json()
    response = researcher.get(
        RECORDS, {"policy": "spam_fake_engagement", "page_size": 2, "cursor": first["next_cursor"]}
    )
    assert (response.status_code, error_code(response)) == (400, "invalid_cursor")


def test_cursor_is_bound_to_its_field_selection_and_form(release, researcher):
    cursor = researcher.get(RECORDS, {"fields": "policy", "page_size": 2}).json()["next_cursor"]
    response = researcher.get(RECORDS, {"fields": "country", "page_size": 2, "cursor": cursor})
    assert error_code(response) == "invalid_cursor"
    # The same query in POST form is the same query: the cursor carries over.
    response = researcher.post(RECORDS, {"fields": ["policy"], "page_size": 2, "cursor": cursor})
    assert response.status_code == 200


def test_tampered_cursor_is_refused(release, researcher):
    cursor = researcher.get(RECORDS, {"page_size": 2}).json()["next_cursor"]
    tampered = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    for bad in (tampered, cursor[:10], "not-a-cursor", ""):
        response = researcher.get(RECORDS, {"page_size": 2, "cursor": bad} if bad else {"cursor": "%%%"})
        assert (response.status_code, error_code(response)) == (400, "invalid_cursor"), bad


@pytest.mark.parametrize("name", ["cursor", "fields", "format", "page_size"])
def test_a_get_parameter_given_empty_is_refused_not_read_as_absent(release, researcher, name):
    # `?cursor=` must not silently answer the first page, nor `?fields=` every field.
    response = researcher.get(RECORDS, {name: ""})
    assert response.status_code == 400
    error = response.json()["error"]
    assert name in json.dumps(error["detail"]) and error["request_id"]


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"policy": "not_a_policy"}, "policy"),
        ({"decided_on__gte": "2025-13-45"}, "decided_on__gte"),
        ({"no_such_field": "x"}, "no_such_field"),
        ({"fields": "policy,nope"}, "fields[1]"),
    ],
)
def test_bad_get_filters_answer_invalid_query_naming_the_parameter(release, researcher, params, path):
    response = researcher.get(RECORDS, params)
    assert (response.status_code, error_code(response)) == (400, "invalid_query")
    assert response.json()["error"]["detail"]["path"] == path


def test_bad_post_query_names_the_offending_clause(release, researcher):
    query = {"and": [{"operation": "EQ", "field_name": "policy", "field_values": ["spam_fake_engagement"]},
                     {"or": [{"operation": "GT", "field_name": "policy", "field_values": ["x"]}]}]}  # fmt: skip
    response = researcher.post(RECORDS, {"query": query})
    assert (response.status_code, error_code(response)) == (400, "invalid_query")
    assert response.json()["error"]["detail"]["path"].startswith("query.and[1].or[0]")


@pytest.mark.parametrize(
    "body",
    [{"page_size": 0}, {"page_size": 1001}, {"page_size": "many"}, {"unexpected": 1}, {"fields": []}],
)
def test_bad_request_bodies_answer_invalid_request(release, researcher, body):
    response = researcher.post(RECORDS, body)
    assert (response.status_code, error_code(response)) == (400, "invalid_request")


@pytest.mark.django_db(transaction=True)
def test_runaway_query_is_cancelled_and_answered_unavailable(settings, release):
    import psycopg

    from tests.conftest import database_url_of

    researcher = make_research_client()
    settings.QUERY_STATEMENT_TIMEOUT_MS = 300
    # Another session holds a lock the query needs: the query waits, and is cancelled at the timeout.
    with psycopg.connect(database_url_of(connection.settings_dict)) as other:
        other.execute(f"LOCK TABLE {release.rows_table} IN ACCESS EXCLUSIVE MODE")
        response = researcher.get(RECORDS)
    assert (response.status_code, error_code(response)) == (503, "unavailable")
    assert "Retry-After" in response
    # A failure on our side costs the client nothing.
    assert researcher.get("/api/v1/usage").json()["today"]["records"] == 0


# ----------------------------------------------------------------------------- usage and audit


def test_usage_reports_today_and_per_day_history(release, researcher):
    researcher.get(RECORDS, {"page_size": 10})
    body = researcher.get("/api/v1/usage").json()
    assert body["today"]["records"] == 10
    assert body["today"]["records_remaining"] == researcher.grant.records_per_day - 10
    assert body["quotas"]["records_per_day"] == researcher.grant.records_per_day
    assert body["days"][0]["records"] == 10


def test_every_data_request_writes_one_access_event_including_refusals(release, researcher, client):
    before = AccessEvent.objects.count()
    researcher.get(RECORDS, {"page_size": 3, "policy": "violent_extremism"})
    researcher.post(COUNT, {})
    researcher.get(RECORDS, {"policy": "bogus"})
    client.get(RECORDS)  # no token
    events = list(AccessEvent.objects.order_by("id"))[before:]
    assert [e.status for e in events] == [200, 200, 400, 401]
    assert events[0].rows_returned == 3
    assert events[0].query == {"policy": "violent_extremism"}
    assert events[0].release == release.version
    assert events[0].grant_id == researcher.grant.pk
    assert events[3].grant_id is None
    assert all(researcher.token not in str(e.query) for e in events)


# ----------------------------------------------------------------------------- helpers


def walk(research_client, path, params, *, with_pages: bool = False):
    rows, pages, cursor = [], 0, None
    while True:
        page_params = dict(params, **({"cursor": cursor} if cursor else {}))
        body = research_client.get(path, page_params).json()
        rows.extend(body["data"])
        pages += 1
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    return (rows, pages) if with_pages else rows


def walk_post(research_client, body):
    rows, cursor = [], None
    while True:
        page = research_client.post(RECORDS, dict(body, cursor=cursor)).json()
        rows.extend(page["data"])
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return rows
