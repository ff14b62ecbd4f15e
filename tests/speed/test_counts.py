"""Fast counts from the release's count cubes (moderation_data.query.counts): exact, or not used."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db

COUNT = "/api/v1/datasets/moderation-decisions/releases/latest/count"


def scan_count(release, query_node_sql: str, params=()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {release.rows_table} WHERE {query_node_sql}", list(params))
        return cursor.fetchone()[0]


def cond(op, field, *values):
    return {"operation": op, "field_name": field, "field_values": list(values)}


QUERIES = [
    # A broad OR across two fields, the shape of the benchmark's query.
    {"or": [cond("NE", "policy", "violent_extremism"), cond("EQ", "appealed", True)]},
    {"and": [cond("IN", "policy", "violent_extremism", "hateful_behavior")], "not": [cond("EQ", "reinstated", True)]},
    {"and": [cond("GTE", "views_before_action", "101-1000"), cond("EQ", "appealed", False)]},
    {"or": [cond("EQ", "detection_source", "partner_alert"), cond("EQ", "automated_detection", True)]},
    {"and": [cond("EQ", "decision_ground", "DECISION_GROUND_ILLEGAL_CONTENT")]},
]


@pytest.mark.parametrize("query", QUERIES)
def test_a_count_answered_by_a_cube_equals_the_count_of_a_scan(release, researcher, query):
    from moderation_data.query import records

    first = researcher.post(COUNT, {"query": query})
    second = researcher.post(COUNT, {"query": query})
    assert first.status_code == second.status_code == 200
    built = records.build_query(release, body_query=query)
    from moderation_data.query import language as ql

    where, params = ql.compile_sql(built.node, built.fields)
    expected = scan_count(release, where, params)
    assert first.json()["count"] == second.json()["count"] == expected


def test_a_repeated_count_reads_the_cube_not_the_rows(release, researcher):
    query = QUERIES[0]
    researcher.post(COUNT, {"query": query})
    with CaptureQueriesContext(connection) as queries:
        assert researcher.post(COUNT, {"query": query}).status_code == 200
    sql = [q["sql"] for q in queries.captured_queries if "sum(n)" in q["sql"] or "count(*)" in q["sql"]]
    assert any("_cube_" in s and "sum(n)" in s for s in sql)
    assert not any(f"FROM {release.rows_table} WHERE" in s for s in sql)


def test_a_query_whose_cube_would_be_large_is_counted_by_a_scan_and_still_exact(release, researcher, monkeypatch):
    from moderation_data.query import counts

    # The anonymized release has few distinct combinations (docs/privacy.md), so every cube is small
    # here: a zero share makes any cube "too large", the case of a release with fine-grained fields.
    monkeypatch.setattr(counts, "MAX_CUBE_SHARE", 0.0)
    query = {
        "and": [
            cond("GTE", "decided_on", "2020-01-01"),
            cond("NE", "country", "DE"),
            cond("NE", "content_language", "DE"),
            cond("NE", "policy", "spam_fake_engagement"),
        ]
    }
    with CaptureQueriesContext(connection) as queries:
        response = researcher.post(COUNT, {"query": query})
    assert response.status_code == 200
    assert not any("CREATE TABLE" in q["sql"] for q in queries.captured_queries)
    from moderation_data.query import language as ql
    from moderation_data.query import records

    built = records.build_query(release, body_query=query)
    where, params = ql.compile_sql(built.node, built.fields)
    assert response.json()["count"] == scan_count(release, where, params)


def test_an_empty_query_counts_every_row(release, researcher):
    assert researcher.post(COUNT, {}).json()["count"] == release.row_count
