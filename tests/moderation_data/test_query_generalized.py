"""Honest filters on generalized values (docs/query.md, "Generalized values"): no row is dropped silently."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from moderation_data.catalog import enums
from moderation_data.query.records import _bucket_end

pytestmark = pytest.mark.django_db

RECORDS = "/api/v1/datasets/moderation-decisions/releases/latest/records"
COUNT = "/api/v1/datasets/moderation-decisions/releases/latest/count"


def _count(release, where: str, params=()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {release.rows_table} WHERE {where}", list(params))
        return cursor.fetchone()[0]


def _ask(researcher, *conditions) -> dict:
    return researcher.post(COUNT, {"query": {"and": list(conditions)}}).json()


def _precision(release, name: str) -> str:
    return next(f for f in release.codebook if f["name"] == name)["precision"]


def test_the_readme_date_query_returns_every_row_of_the_period(release, researcher):
    # The audit: `decided_on GTE 2025-01-01` silently lost 9 of 133 violent-extremism rows dated
    # 2024-12-30 (a week's Monday before the period). Buckets are clamped to the period's start now.
    assert release.period_start == dt.date(2025, 1, 1)
    body = _ask(
        researcher,
        {"operation": "EQ", "field_name": "policy", "field_values": ["violent_extremism"]},
        {"operation": "GTE", "field_name": "decided_on", "field_values": ["2025-01-01"]},
    )
    every = _count(release, "policy = 'violent_extremism'")
    assert body["count"] == every > 0 and body["generalized_overlap"] == 0
    assert _count(release, "decided_on < %s", [release.period_start]) == 0


def test_a_date_filter_finer_than_the_release_precision_reports_the_overlapping_bucket(release, researcher):
    precision = _precision(release, "decided_on")
    assert precision != "day"  # 1,500 demo rows cannot keep days
    days = sorted(d for (d,) in _rows(release, "SELECT DISTINCT decided_on FROM {t}"))
    middle = next(d for d in days if _bucket_end(d, precision) > d) + dt.timedelta(days=1)  # inside a bucket
    body = _ask(researcher, {"operation": "GTE", "field_name": "decided_on", "field_values": [middle.isoformat()]})
    straddling = [d for d in days if d < middle <= _bucket_end(d, precision)]
    expected = _count(release, "decided_on = ANY(%s)", [straddling])
    assert body["count"] == _count(release, "decided_on >= %s", [middle])
    assert body["generalized_overlap"] == expected > 0
    page = researcher.post(
        RECORDS,
        {
            "query": {"and": [{"operation": "GTE", "field_name": "decided_on", "field_values": [middle.isoformat()]}]},
            "page_size": 5,
        },
    )
    assert page.json()["generalized_overlap"] == expected  # fmt: skip
    # Negated, the same rows are uncertain the other way round.
    negated = researcher.post(COUNT, {"query": {"not": [
        {"operation": "GTE", "field_name": "decided_on", "field_values": [middle.isoformat()]}]}}).json()  # fmt: skip
    assert negated["generalized_overlap"] == expected
    assert negated["count"] + body["count"] == release.row_count


def _rows(release, sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql.format(t=release.rows_table))
        return cursor.fetchall()


def test_a_country_filter_reports_the_rows_generalized_to_its_region(release, researcher):
    body = _ask(researcher, {"operation": "EQ", "field_name": "country", "field_values": ["DE"]})
    wider = [enums.COUNTRY_TO_REGION["DE"], enums.OTHER_COUNTRY]
    assert body["count"] == _count(release, "country = 'DE'")
    assert body["generalized_overlap"] == _count(release, "country = ANY(%s)", [wider]) > 0
    # Exact values only: nothing is uncertain.
    exact = _ask(researcher, {"operation": "EQ", "field_name": "policy", "field_values": ["violent_extremism"]})
    assert exact["generalized_overlap"] == 0


def test_a_filter_on_a_withheld_field_says_every_row_is_uncertain(release, researcher):
    withheld = [f["name"] for f in release.codebook if f.get("withheld") and f["type"] == "enum"]
    assert withheld
    body = _ask(researcher, {"operation": "EQ", "field_name": withheld[0], "field_values": [
        next(f for f in release.codebook if f["name"] == withheld[0])["values"][0]["value"]]})  # fmt: skip
    assert body["count"] == 0 and body["generalized_overlap"] == release.row_count
