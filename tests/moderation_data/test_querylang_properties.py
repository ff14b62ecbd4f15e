"""Property-based: for random valid queries, the compiled SQL selects exactly what an independent evaluator selects.

The evaluator below reads the raw POST/GET form directly (not the parsed tree) and implements the
documented semantics in plain Python: a group holds when all ``and`` clauses, at least one ``or``
clause (if any) and none of the ``not`` clauses hold; a condition on a missing value is false;
``NE v`` is ``not EQ v``; list fields match when any element matches; buckets compare by position.
"""

from __future__ import annotations

import datetime
import random
from urllib.parse import urlencode

import pytest
from django.db import connection, transaction
from django.http import QueryDict
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from moderation_data.query.language import (
    MAX_CONDITIONS,
    OPERATIONS_BY_TYPE,
    Field,
    compile_sql,
    normalise,
    parse_body_query,
    parse_get_query,
    query_fingerprint,
)

BUCKETS = ("0", "1-100", "101-1000", "1001-10000", ">10000")
FIELDS = {
    field.name: field
    for field in [
        Field("text", "string", "s"),
        Field("account", "pseudonym", "p"),
        Field("day", "date", "d"),
        Field("month", "month", "m"),
        Field("kind", "enum", "e", ("A", "B", "C", "D")),
        Field("views", "bucket", "b", BUCKETS),
        Field("flag", "boolean", "f"),
        Field("number", "integer", "n"),
        Field("tags", "list", "l", ("x", "y", "z", "w")),
        Field("scope", "list", "v", ("DE", "FR", "IT")),
    ]
}
TEXTS = ["alpha", "beta", "gamma", "delta", "Alpha", "b,c"]
ACCOUNTS = ["0a1b", "ff00", "1234", "abcd"]
DAYS = [datetime.date(2025, 1, 1) + datetime.timedelta(days=i) for i in range(20)]
MONTHS = ["2024-11", "2024-12", "2025-01", "2025-02", "2025-03"]
ROW_COUNT = 300


def random_rows(seed: int = 20251125) -> list[dict]:
    rng = random.Random(seed)

    def maybe(make):
        return None if rng.random() < 0.15 else make()

    rows = []
    for row_id in range(1, ROW_COUNT + 1):
        rows.append(
            {
                "id": row_id,
                "text": maybe(lambda: rng.choice(TEXTS[:4])),
                "account": maybe(lambda: rng.choice(ACCOUNTS)),
                "day": maybe(lambda: rng.choice(DAYS)),
                "month": maybe(lambda: rng.choice(MONTHS)),
                "kind": maybe(lambda: rng.choice(FIELDS["kind"].values)),
                "views": maybe(lambda: rng.choice(BUCKETS)),
                "flag": maybe(lambda: rng.random() < 0.5),
                "number": maybe(lambda: rng.randint(-5, 5)),
                "tags": maybe(lambda: rng.sample(FIELDS["tags"].values, rng.randint(0, 3))),
                "scope": maybe(lambda: rng.sample(FIELDS["scope"].values, rng.randint(0, 2))),
            }
        )
    return rows


ROWS = random_rows()
COLUMNS = ["id", *(FIELDS[name].column for name in FIELDS)]


@pytest.fixture
def property_table(db):
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE TABLE querylang_property (
                id integer PRIMARY KEY, s text, p text, d date, m text, e text, b text, f boolean,
                n integer, l text[], v varchar(80)[]
            )
            """
        )
        cursor.executemany(
            f"INSERT INTO querylang_property ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})",
            [[row["id"], *(row[name] for name in FIELDS)] for row in ROWS],
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS querylang_property")


def sql_ids(node) -> set[int]:
    sql, params = compile_sql(node, FIELDS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM querylang_property WHERE {sql}", params)
        return {row[0] for row in cursor.fetchall()}


# --- the independent evaluator --------------------------------------------------------------------


def _python_value(field: Field, raw):
    if field.type == "date":
        return datetime.date.fromisoformat(raw)
    if field.type == "boolean":
        return raw if isinstance(raw, bool) else raw == "true"
    if field.type == "integer":
        return int(raw)
    if field.type == "pseudonym":
        return raw.lower()
    return raw


def _rank(field: Field, value):
    return BUCKETS.index(value) if field.type == "bucket" else value


def condition_holds(clause: dict, row: dict) -> bool:
    field = FIELDS[clause["field_name"]]
    operation = clause["operation"]
    if operation == "NE":
        return not condition_holds({**clause, "operation": "EQ"}, row)
    wanted = [_python_value(field, raw) for raw in clause["field_values"]]
    value = row[field.name]
    if value is None:
        return False
    if field.type == "list":
        return any(element in wanted for element in value)
    if operation in ("EQ", "IN"):
        return value in wanted
    left, right = _rank(field, value), _rank(field, wanted[0])
    return {"GT": left > right, "GTE": left >= right, "LT": left < right, "LTE": left <= right}[operation]


def clause_holds(clause: dict, row: dict) -> bool:
    if "operation" in clause:
        return condition_holds(clause, row)
    return (
        all(clause_holds(child, row) for child in clause.get("and", []))
        and (not clause.get("or") or any(clause_holds(child, row) for child in clause["or"]))
        and not any(clause_holds(child, row) for child in clause.get("not", []))
    )


def python_ids(query: dict) -> set[int]:
    return {row["id"] for row in ROWS if clause_holds(query, row)}


# --- strategies -----------------------------------------------------------------------------------


def values_of(field: Field) -> st.SearchStrategy:
    if field.type == "string":
        return st.sampled_from([*TEXTS, "omega"])
    if field.type == "pseudonym":
        return st.sampled_from([*ACCOUNTS, "0A1B", "FF00", "beef"])
    if field.type == "date":
        return st.sampled_from([datetime.date(2024, 12, 31), *DAYS, datetime.date(2025, 2, 1)]).map(str)
    if field.type == "month":
        return st.sampled_from(["2024-10", *MONTHS, "2025-04"])
    if field.type == "boolean":
        return st.sampled_from([True, False, "true", "false"])
    if field.type == "integer":
        return st.one_of(st.integers(-7, 7), st.integers(-7, 7).map(str))
    return st.sampled_from(field.values)


@st.composite
def conditions(draw) -> dict:
    field = FIELDS[draw(st.sampled_from(sorted(FIELDS)))]
    operation = draw(st.sampled_from(OPERATIONS_BY_TYPE[field.type]))
    count = draw(st.integers(1, 4)) if operation == "IN" else 1
    return {
        "operation": operation,
        "field_name": field.name,
        "field_values": [draw(values_of(field)) for _ in range(count)],
    }


def groups(depth: int = 0) -> st.SearchStrategy:
    clause = (
        conditions() if depth >= 3 else st.one_of(conditions(), conditions(), st.deferred(lambda: groups(depth + 1)))
    )
    lists = {
        "and": st.lists(clause, max_size=3),
        "or": st.lists(clause, max_size=3),
        "not": st.lists(clause, max_size=2),
    }
    if depth == 0:
        return st.fixed_dictionaries({}, optional=lists)
    # A nested group must hold at least one clause (the top-level query may be empty).
    return st.one_of(
        st.fixed_dictionaries(
            {key: st.lists(clause, min_size=1, max_size=2)}, optional={k: v for k, v in lists.items() if k != key}
        )
        for key in lists
    )


def count_conditions(clause: dict) -> int:
    if "operation" in clause:
        return 1
    return sum(count_conditions(child) for key in ("and", "or", "not") for child in clause.get(key, []))


def shuffled(clause: dict, rng: random.Random) -> dict:
    if "operation" in clause:
        values = list(clause["field_values"])
        if clause["operation"] == "IN":
            rng.shuffle(values)
        return {**clause, "field_values": values}
    out = {}
    for key in rng.sample(list(clause), len(clause)):
        children = [shuffled(child, rng) for child in clause[key]]
        rng.shuffle(children)
        out[key] = children
    return out


def as_get_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY_SETTINGS
@given(query=groups())
def test_compiled_sql_selects_exactly_the_rows_the_python_evaluator_selects(property_table, query):
    assume(count_conditions(query) <= MAX_CONDITIONS)
    node = parse_body_query(query, FIELDS)
    expected = python_ids(query)
    event("selects " + ("no row" if not expected else "every row" if len(expected) == ROW_COUNT else "some rows"))
    assert sql_ids(node) == expected
    if any(query.values()):
        assert sql_ids(parse_body_query({"not": [query]}, FIELDS)) == set(range(1, ROW_COUNT + 1)) - expected


@PROPERTY_SETTINGS
@given(query=groups(), seed=st.integers(0, 2**32))
def test_reordering_a_query_keeps_its_normal_form_and_fingerprint(query, seed):
    assume(count_conditions(query) <= MAX_CONDITIONS)
    node = parse_body_query(query, FIELDS)
    reordered = parse_body_query(shuffled(query, random.Random(seed)), FIELDS)
    assert normalise(reordered) == normalise(node)
    assert query_fingerprint(reordered, {"fields": ["kind"]}) == query_fingerprint(node, {"fields": ["kind"]})
    # The normal form is itself a valid query with the same normal form.
    assert normalise(parse_body_query(normalise(node), FIELDS)) == normalise(node)


@PROPERTY_SETTINGS
@given(clauses=st.lists(conditions(), max_size=6))
def test_a_get_query_selects_the_same_rows_as_its_post_form(property_table, clauses):
    # Commas separate IN values in GET, so a value with a comma can only be an EQ there.
    assume(not any("," in str(v) for c in clauses if c["operation"] == "IN" for v in c["field_values"]))
    pairs = []
    for clause in clauses:
        lookup = "" if clause["operation"] == "EQ" else "__" + clause["operation"].lower()
        pairs.append((clause["field_name"] + lookup, ",".join(as_get_value(v) for v in clause["field_values"])))
    node = parse_get_query(QueryDict(urlencode(pairs)), FIELDS)
    assert sql_ids(node) == python_ids({"and": clauses})
    assert query_fingerprint(node, {}) == query_fingerprint(parse_body_query({"and": clauses}, FIELDS), {})


def test_the_random_rows_cover_missing_values_and_empty_lists():
    # The property tests are only as good as the data: make sure the awkward cases are there.
    assert any(row["kind"] is None for row in ROWS)
    assert any(row["tags"] == [] for row in ROWS)
    assert any(row["tags"] is None for row in ROWS)
    assert {row["views"] for row in ROWS} >= set(BUCKETS)
