"""Property: for random queries, the records API returns exactly the rows an independent,
hand-written SQL query selects on the same release (and /count agrees)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation_data.releases import pseudonyms
from tests.api_fixtures import build_published_release, make_research_client

RECORDS = "/api/v1/datasets/moderation-decisions/releases/latest/records"
COUNT = "/api/v1/datasets/moderation-decisions/releases/latest/count"

SCALARS = ["policy", "detection_source", "account_type", "content_language", "country", "decision_ground"]
BOOLEANS = ["appealed", "reinstated", "automated_detection"]
LISTS = ["territorial_scope", "content_type", "category_specification"]
ORDERED = ["decided_on", "content_created_month"]
BUCKETS = {"views_before_action": ["0", "1-100", "101-1000", "1001-10000", ">10000"],
           "time_to_action": ["<1h", "1-24h", "1-7d", ">7d"]}  # fmt: skip


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """One release for the whole module, built in a transaction rolled back at the end."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            release = build_published_release(rows=1200, seed=5)
            researcher = make_research_client(requests_per_minute=100_000, requests_per_day=1_000_000)
            values = {}
            with connection.cursor() as cursor:
                for name in SCALARS + ORDERED:
                    cursor.execute(f"SELECT DISTINCT {name} FROM {release.rows_table} WHERE {name} IS NOT NULL")
                    values[name] = sorted(str(v) if not isinstance(v, dt.date) else v.isoformat() for (v,) in cursor)
                for name in LISTS:
                    cursor.execute(f"SELECT DISTINCT unnest({name}) FROM {release.rows_table}")
                    values[name] = sorted(v for (v,) in cursor)
            # A field k-anonymity withheld is null in every row: queried with values of its codebook domain
            # (nothing equals them); a withheld one without a domain (a month) is left out of the draws.
            domains = {f["name"]: [v["value"] for v in f.get("values") or []] for f in release.codebook}
            for name, found in values.items():
                if not found:
                    values[name] = domains.get(name, [])
            yield release, researcher, {name: found for name, found in values.items() if found}
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def condition_strategy(values):
    scalar = st.sampled_from([f for f in SCALARS if f in values]).flatmap(
        lambda f: st.one_of(
            st.tuples(st.just(f), st.sampled_from(["EQ", "NE"]), st.sampled_from(values[f]).map(lambda v: [v])),
            st.tuples(st.just(f), st.just("IN"), st.lists(st.sampled_from(values[f]), min_size=1, max_size=3)),
        )
    )
    boolean = st.tuples(st.sampled_from(BOOLEANS), st.sampled_from(["EQ", "NE"]), st.sampled_from([[True], [False]]))
    listed = st.sampled_from([f for f in LISTS if f in values]).flatmap(
        lambda f: st.one_of(
            st.tuples(st.just(f), st.sampled_from(["EQ", "NE"]), st.sampled_from(values[f]).map(lambda v: [v])),
            st.tuples(st.just(f), st.just("IN"), st.lists(st.sampled_from(values[f]), min_size=1, max_size=3)),
        )
    )
    ordered = st.sampled_from([f for f in ORDERED if f in values]).flatmap(
        lambda f: st.tuples(
            st.just(f), st.sampled_from(["GT", "GTE", "LT", "LTE", "EQ"]), st.sampled_from(values[f]).map(lambda v: [v])
        )
    )
    bucket = st.sampled_from(sorted(BUCKETS)).flatmap(
        lambda f: st.tuples(
            st.just(f),
            st.sampled_from(["GT", "GTE", "LT", "LTE", "EQ", "NE"]),
            st.sampled_from(BUCKETS[f]).map(lambda v: [v]),
        )
    )
    return st.one_of(scalar, boolean, listed, ordered, bucket)


def independent_sql(field: str, operation: str, values: list) -> tuple[str, list]:
    """Written by hand from the documented semantics, not with the query compiler."""
    if field in LISTS:
        if operation == "NE":
            return f"NOT coalesce(%s = ANY({field}), false)", [values[0]]
        return f"coalesce({field}::text[] && %s::text[], false)", [list(values)]
    if field in BUCKETS:
        order = BUCKETS[field]
        i = order.index(values[0])
        chosen = {"GT": order[i + 1 :], "GTE": order[i:], "LT": order[:i], "LTE": order[: i + 1], "EQ": [values[0]],
                  "NE": [v for v in order if v != values[0]]}[operation]  # fmt: skip
        if operation == "NE":
            return f"({field} IS NULL OR {field} = ANY(%s))", [chosen]
        return f"coalesce({field} = ANY(%s), false)", [chosen]
    if operation == "IN":
        return f"coalesce({field} = ANY(%s), false)", [list(values)]
    if operation == "NE":
        return f"{field} IS DISTINCT FROM %s", [values[0]]
    sql_op = {"EQ": "=", "GT": ">", "GTE": ">=", "LT": "<", "LTE": "<="}[operation]
    return f"coalesce({field} {sql_op} %s, false)", [values[0]]


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_queries_return_exactly_what_independent_sql_selects(world, data):
    release, researcher, values = world
    conditions = data.draw(st.lists(condition_strategy(values), min_size=1, max_size=3))
    negated = data.draw(st.lists(condition_strategy(values), max_size=1))
    clause = lambda f, op, v: {"operation": op, "field_name": f, "field_values": v}  # noqa: E731
    query = {"and": [clause(*c) for c in conditions], "not": [clause(*c) for c in negated]}

    parts, params = [], []
    for condition in conditions:
        sql, p = independent_sql(*condition)
        parts.append(sql)
        params += p
    for condition in negated:
        sql, p = independent_sql(*condition)
        parts.append(f"NOT ({sql})")
        params += p
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT decision_id FROM {release.rows_table} WHERE {' AND '.join(parts)} ORDER BY row_id", params
        )
        project = pseudonyms.for_grant(researcher.grant, release)
        expected = [project.pseudonym("decision", base) for (base,) in cursor.fetchall()]

    assert researcher.post(COUNT, {"query": query}).json()["count"] == len(expected)
    got, cursor_token = [], None
    while True:
        page = researcher.post(
            RECORDS, {"query": query, "fields": ["decision_id"], "page_size": 400, "cursor": cursor_token}
        )
        assert page.status_code == 200, page.content
        body = page.json()
        got += [row["decision_id"] for row in body["data"]]
        cursor_token = body["next_cursor"]
        if not body["has_more"]:
            break
    assert got == expected
