"""The records query language: parsing both forms, validation paths, canonical form and SQL on real PostgreSQL."""

from __future__ import annotations

import datetime
import hashlib

import psycopg
import pytest
from django.db import connection
from django.http import QueryDict

from moderation_data.query.language import (
    MAX_CONDITIONS,
    MAX_IN_VALUES,
    Condition,
    Field,
    Group,
    compile_sql,
    normalise,
    parse_body_query,
    parse_fields,
    parse_get_query,
    query_fingerprint,
)
from platform_api.errors import InvalidQuery

BUCKETS = ("0", "1-100", "101-1000", "1001-10000", ">10000")
FIELDS = {
    field.name: field
    for field in [
        Field("row_id", "integer", "id", filterable=False),
        Field("account_id", "pseudonym", "account"),
        Field("content_language", "string", "lang"),
        Field("decided_on", "date", "decided_on"),
        Field("content_created_month", "month", "created_month"),
        Field("policy", "enum", "policy", ("spam", "hate", "violence")),
        Field("views_before_action", "bucket", "views", BUCKETS),
        Field("automated_decision", "boolean", "automated"),
        Field("score", "integer", "score"),
        Field("content_type", "list", "content_type", ("video", "image", "text")),
        Field("territorial_scope", "list", "scope", ("DE", "FR", "IT")),
    ]
}

# Row 4 is missing every value; row 6's bucket sorts before row 3's as text but after it in bucket order.
ROWS = [
    (1, "aa01", "de", "2025-01-01", "2024-12", "spam", "0", True, 0, ["video"], ["DE"]),
    (2, "bb02", "fr", "2025-01-15", "2025-01", "hate", "1-100", False, 5, ["video", "image"], ["DE", "FR"]),
    (3, "cc03", "de", "2025-02-01", "2025-02", "violence", "101-1000", True, 10, ["text"], []),
    (4, None, None, None, None, None, None, None, None, None, None),
    (5, "dd04", "it", "2025-03-31", "2025-03", "spam", ">10000", False, -3, [], ["IT"]),
    (6, "ee05", "en", "2025-01-20", "2025-01", "hate", "1001-10000", True, 100, ["image"], ["FR", "IT"]),
]


@pytest.fixture(scope="module")
def _committed_sample_table(django_db_setup, django_db_blocker):
    """The sample table, created and filled once for the module (tests only read it)."""
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS querylang_sample")
        cursor.execute(
            """
            CREATE TABLE querylang_sample (
                id integer PRIMARY KEY, account text, lang text, decided_on date, created_month text,
                policy text, views text, automated boolean, score integer,
                content_type text[], scope varchar(80)[]
            )
            """
        )
        cursor.executemany("INSERT INTO querylang_sample VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", ROWS)
    yield "querylang_sample"
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS querylang_sample")


@pytest.fixture
def sample_table(db, _committed_sample_table):
    return _committed_sample_table


def selected_ids(node, **kwargs) -> list[int]:
    sql, params = compile_sql(node, FIELDS, **kwargs)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM querylang_sample WHERE {sql} ORDER BY id", params)
        return [row[0] for row in cursor.fetchall()]


def condition(operation: str, field_name: str, *values) -> dict:
    return {"operation": operation, "field_name": field_name, "field_values": list(values)}


def post(query) -> Group:
    return parse_body_query(query, FIELDS)


def invalid_query_path(query) -> str:
    with pytest.raises(InvalidQuery) as caught:
        post(query)
    assert caught.value.code == "invalid_query"
    assert caught.value.status_code == 400
    assert caught.value.message
    return caught.value.detail["path"]


def invalid_get_path(params) -> str:
    with pytest.raises(InvalidQuery) as caught:
        parse_get_query(params, FIELDS)
    assert caught.value.code == "invalid_query"
    return caught.value.detail["path"]


def get_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# (field, operation, values, ids of the rows it selects): every operation on every field type.
OPERATION_CASES = [
    ("content_language", "EQ", ["de"], [1, 3]),
    ("content_language", "IN", ["fr", "it"], [2, 5]),
    ("content_language", "NE", ["de"], [2, 4, 5, 6]),
    ("account_id", "EQ", ["aa01"], [1]),
    ("account_id", "IN", ["aa01", "bb02"], [1, 2]),
    ("account_id", "NE", ["cc03"], [1, 2, 4, 5, 6]),
    ("decided_on", "EQ", ["2025-01-15"], [2]),
    ("decided_on", "IN", ["2025-01-01", "2025-03-31"], [1, 5]),
    ("decided_on", "GT", ["2025-01-15"], [3, 5, 6]),
    ("decided_on", "GTE", ["2025-01-15"], [2, 3, 5, 6]),
    ("decided_on", "LT", ["2025-01-15"], [1]),
    ("decided_on", "LTE", ["2025-01-15"], [1, 2]),
    ("decided_on", "NE", ["2025-01-15"], [1, 3, 4, 5, 6]),
    ("content_created_month", "EQ", ["2025-01"], [2, 6]),
    ("content_created_month", "IN", ["2024-12", "2025-03"], [1, 5]),
    ("content_created_month", "GT", ["2025-01"], [3, 5]),
    ("content_created_month", "GTE", ["2025-01"], [2, 3, 5, 6]),
    ("content_created_month", "LT", ["2025-01"], [1]),
    ("content_created_month", "LTE", ["2025-01"], [1, 2, 6]),
    ("content_created_month", "NE", ["2025-01"], [1, 3, 4, 5]),
    ("policy", "EQ", ["spam"], [1, 5]),
    ("policy", "IN", ["hate", "violence"], [2, 3, 6]),
    ("policy", "NE", ["spam"], [2, 3, 4, 6]),
    ("views_before_action", "EQ", ["1-100"], [2]),
    ("views_before_action", "IN", ["0", ">10000"], [1, 5]),
    ("views_before_action", "GT", ["101-1000"], [5, 6]),
    ("views_before_action", "GTE", ["101-1000"], [3, 5, 6]),
    ("views_before_action", "LT", ["1001-10000"], [1, 2, 3]),
    ("views_before_action", "LTE", ["1001-10000"], [1, 2, 3, 6]),
    ("views_before_action", "NE", ["0"], [2, 3, 4, 5, 6]),
    ("views_before_action", "LT", ["0"], []),
    ("views_before_action", "GT", [">10000"], []),
    ("automated_decision", "EQ", [True], [1, 3, 6]),
    ("automated_decision", "EQ", [False], [2, 5]),
    ("automated_decision", "IN", [True, False], [1, 2, 3, 5, 6]),
    ("automated_decision", "NE", [True], [2, 4, 5]),
    ("score", "EQ", [5], [2]),
    ("score", "IN", [0, 10], [1, 3]),
    ("score", "GT", [5], [3, 6]),
    ("score", "GTE", [5], [2, 3, 6]),
    ("score", "LT", [5], [1, 5]),
    ("score", "LTE", [5], [1, 2, 5]),
    ("score", "NE", [5], [1, 3, 4, 5, 6]),
    ("content_type", "EQ", ["image"], [2, 6]),
    ("content_type", "IN", ["text", "image"], [2, 3, 6]),
    ("content_type", "NE", ["video"], [3, 4, 5, 6]),
    ("territorial_scope", "EQ", ["DE"], [1, 2]),
    ("territorial_scope", "IN", ["IT", "FR"], [2, 5, 6]),
    ("territorial_scope", "NE", ["DE"], [3, 4, 5, 6]),
]


def _case_id(case) -> str:
    field_name, operation, values, _ = case
    return f"{operation}-on-{FIELDS[field_name].type}-{field_name}-{'-'.join(map(get_value, values))}"


@pytest.mark.parametrize("case", OPERATION_CASES, ids=_case_id)
def test_each_operation_on_each_field_type_selects_the_expected_rows(sample_table, case):
    field_name, operation, values, expected = case
    assert selected_ids(post({"and": [condition(operation, field_name, *values)]})) == expected


@pytest.mark.parametrize("case", OPERATION_CASES, ids=_case_id)
def test_each_operation_written_as_a_get_parameter_selects_the_same_rows(sample_table, case):
    field_name, operation, values, expected = case
    key = field_name if operation == "EQ" else f"{field_name}__{operation.lower()}"
    node = parse_get_query({key: ",".join(get_value(v) for v in values)}, FIELDS)
    assert selected_ids(node) == expected
    assert normalise(node) == normalise(post({"and": [condition(operation, field_name, *values)]}))


@pytest.mark.parametrize("case", OPERATION_CASES, ids=_case_id)
def test_not_of_each_condition_selects_exactly_the_other_rows(sample_table, case):
    field_name, operation, values, expected = case
    others = [row[0] for row in ROWS if row[0] not in expected]
    assert selected_ids(post({"not": [condition(operation, field_name, *values)]})) == others


@pytest.mark.parametrize("cursor_class", [psycopg.ClientCursor, psycopg.Cursor], ids=["client-side", "server-side"])
def test_the_compiled_sql_runs_with_client_and_server_side_parameter_binding(sample_table, cursor_class):
    connection.ensure_connection()
    all_ids = [row[0] for row in ROWS]
    for field_name, operation, values, expected in OPERATION_CASES:
        for key, ids in (("and", expected), ("not", [i for i in all_ids if i not in expected])):
            sql, params = compile_sql(post({key: [condition(operation, field_name, *values)]}), FIELDS)
            with cursor_class(connection.connection) as cursor:
                cursor.execute(f"SELECT id FROM querylang_sample WHERE {sql} ORDER BY id", params)
                assert [row[0] for row in cursor.fetchall()] == ids


# --- semantics ----------------------------------------------------------------------------------


def test_an_empty_query_selects_every_row(sample_table):
    assert compile_sql(post(None), FIELDS) == ("TRUE", [])
    assert compile_sql(post({}), FIELDS) == ("TRUE", [])
    assert compile_sql(parse_get_query({}, FIELDS), FIELDS) == ("TRUE", [])
    assert selected_ids(post({"and": [], "or": [], "not": []})) == [1, 2, 3, 4, 5, 6]


def test_and_conditions_must_all_hold(sample_table):
    query = {"and": [condition("EQ", "content_language", "de"), condition("EQ", "automated_decision", True)]}
    assert selected_ids(post(query)) == [1, 3]


def test_at_least_one_or_condition_must_hold(sample_table):
    query = {"or": [condition("EQ", "content_language", "de"), condition("EQ", "policy", "spam")]}
    assert selected_ids(post(query)) == [1, 3, 5]


def test_none_of_the_not_conditions_may_hold(sample_table):
    query = {"not": [condition("EQ", "content_language", "de"), condition("EQ", "policy", "spam")]}
    assert selected_ids(post(query)) == [2, 4, 6]


def test_and_or_and_not_combine_as_in_the_tiktok_research_api(sample_table):
    query = {
        "and": [condition("GTE", "decided_on", "2025-01-01")],
        "or": [condition("EQ", "policy", "hate"), condition("EQ", "content_language", "de")],
        "not": [condition("EQ", "automated_decision", False)],
    }
    assert selected_ids(post(query)) == [1, 3, 6]


def test_nested_groups_express_or_of_ands(sample_table):
    query = {
        "or": [
            {"and": [condition("EQ", "content_language", "de"), condition("EQ", "policy", "violence")]},
            {"and": [condition("EQ", "content_language", "it")]},
        ]
    }
    assert selected_ids(post(query)) == [3, 5]


def test_not_of_a_nested_group_is_its_exact_complement(sample_table):
    inner = {"and": [condition("EQ", "content_language", "de")], "or": [condition("GT", "score", 5)]}
    assert selected_ids(post({"and": [inner]})) == [3]
    assert selected_ids(post({"not": [inner]})) == [1, 2, 4, 5, 6]
    assert selected_ids(post({"not": [{"not": [inner]}]})) == [3]


def test_five_levels_of_nesting_are_accepted(sample_table):
    query: dict = {"and": [condition("EQ", "policy", "spam")]}
    for _ in range(5):
        query = {"and": [query]}
    assert selected_ids(post(query)) == [1, 5]


def test_in_on_a_list_field_matches_any_element(sample_table):
    assert selected_ids(post({"and": [condition("IN", "content_type", "image", "text")]})) == [2, 3, 6]


def test_eq_on_a_list_field_is_contains(sample_table):
    assert selected_ids(post({"and": [condition("EQ", "content_type", "video")]})) == [1, 2]


def test_ne_on_a_list_field_selects_lists_without_the_value_including_empty_and_missing_ones(sample_table):
    assert selected_ids(post({"and": [condition("NE", "territorial_scope", "DE")]})) == [3, 4, 5, 6]


def test_ne_includes_rows_where_the_field_is_missing(sample_table):
    assert 4 in selected_ids(post({"and": [condition("NE", "policy", "spam")]}))


def test_ordering_operations_never_select_rows_where_the_field_is_missing(sample_table):
    assert 4 not in selected_ids(post({"or": [condition("GT", "score", -100), condition("LT", "score", 1000)]}))


def test_gt_on_a_bucket_compares_by_bucket_order_not_text_order(sample_table):
    # '1001-10000' sorts before '101-1000' as text; in bucket order it comes after.
    assert selected_ids(post({"and": [condition("GT", "views_before_action", "101-1000")]})) == [5, 6]


def test_bucket_ordering_compiles_to_a_set_of_values_so_storage_need_not_know_the_order():
    sql, params = compile_sql(post({"and": [condition("GTE", "views_before_action", "1001-10000")]}), FIELDS)
    assert sql == '"views" = ANY(%s)'
    assert params == [["1001-10000", ">10000"]]


def test_pseudonyms_are_matched_case_insensitively_as_lower_case_hex(sample_table):
    assert selected_ids(post({"and": [condition("EQ", "account_id", "AA01")]})) == [1]


def test_booleans_and_integers_may_be_written_as_strings_in_post_bodies(sample_table):
    query = {"and": [condition("EQ", "automated_decision", "true"), condition("GTE", "score", "10")]}
    assert selected_ids(post(query)) == [3, 6]
    assert normalise(post(query)) == normalise(
        post({"and": [condition("EQ", "automated_decision", True), condition("GTE", "score", 10)]})
    )


def test_values_travel_as_parameters_never_in_the_sql_text(sample_table):
    hostile = "x'); DROP TABLE querylang_sample; --"
    sql, params = compile_sql(post({"and": [condition("EQ", "content_language", hostile)]}), FIELDS)
    assert hostile not in sql
    assert params == [hostile]
    assert selected_ids(post({"and": [condition("EQ", "content_language", hostile)]})) == []


def test_columns_are_quoted_identifiers_and_may_be_qualified():
    fields = {"policy": Field("policy", "enum", "r.policy", ("spam",))}
    assert compile_sql(parse_body_query({"and": [condition("EQ", "policy", "spam")]}, fields), fields) == (
        '"r"."policy" = %s',
        ["spam"],
    )


@pytest.mark.parametrize("column", ["policy; DROP TABLE x", 'po"licy', "a.b.c", "1abc", "", "policy)"])
def test_a_field_refuses_a_column_that_is_not_a_plain_identifier(column):
    with pytest.raises(ValueError, match="identifier"):
        Field("policy", "string", column)


def test_a_field_refuses_an_unknown_type_and_an_enum_without_values():
    with pytest.raises(ValueError, match="type"):
        Field("x", "float", "x")
    with pytest.raises(ValueError, match="values"):
        Field("x", "enum", "x")


def test_a_negated_condition_stays_two_valued_when_the_column_is_null():
    sql, _ = compile_sql(post({"not": [condition("EQ", "policy", "spam")]}), FIELDS)
    assert sql == '("policy" = %s) IS NOT TRUE'


# --- GET form -------------------------------------------------------------------------------------


def test_repeated_get_parameters_are_anded(sample_table):
    node = parse_get_query(QueryDict("score__gte=1&score__gte=6&fields=policy&cursor=abc"), FIELDS)
    assert selected_ids(node) == [3, 6]
    assert selected_ids(parse_get_query({"policy__in": ["spam,hate", "hate,violence"]}, FIELDS)) == [2, 6]


def test_a_get_eq_value_may_contain_a_comma(sample_table):
    node = parse_get_query({"content_language": "de,fr"}, FIELDS)
    assert node == Group(and_=(Condition("EQ", "content_language", ("de,fr",)),))


def test_reserved_get_parameters_are_not_conditions():
    assert parse_get_query({"fields": "x", "page_size": "10", "cursor": "c"}, FIELDS) == Group()
    assert parse_get_query({"format": "json"}, FIELDS, reserved=("format",)) == Group()


def test_unknown_get_parameters_are_all_named():
    with pytest.raises(InvalidQuery) as caught:
        parse_get_query({"policy": "spam", "colour": "red", "size__gte": "3"}, FIELDS)
    assert caught.value.detail == {"path": "colour", "unknown": ["colour", "size__gte"]}
    assert "colour" in caught.value.message and "size__gte" in caught.value.message


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"decided_on__between": "2025-01-01"}, "decided_on__between"),
        ({"decided_on__gte": "2025-13-01"}, "decided_on__gte"),
        ({"decided_on": "01/02/2025"}, "decided_on"),
        ({"policy__gt": "spam"}, "policy__gt"),
        ({"policy__in": "spam,,hate"}, "policy__in"),
        ({"policy__in": "spam,eggs"}, "policy__in"),
        ({"policy": ""}, "policy"),
        ({"row_id": "3"}, "row_id"),
        ({"automated_decision": "1"}, "automated_decision"),
        ({"automated_decision": "True"}, "automated_decision"),
        ({"score__lt": "1.5"}, "score__lt"),
        ({"score__lt": "9" * 30}, "score__lt"),
        ({"content_type__gte": "video"}, "content_type__gte"),
        ({"content_created_month": "2025-1"}, "content_created_month"),
        ({"policy__in": ",".join(["spam"] * (MAX_IN_VALUES + 1))}, "policy__in"),
        ({"policy": ["spam"] * (MAX_CONDITIONS + 1)}, "policy"),
        ({"policy": [3]}, "policy"),
    ],
)
def test_an_invalid_get_parameter_is_refused_naming_the_parameter(params, path):
    assert invalid_get_path(params) == path


# --- POST validation: every documented error and its path -----------------------------------------

EQ_SPAM = condition("EQ", "policy", "spam")


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ([], "query"),
        ("policy=spam", "query"),
        ({"andd": [EQ_SPAM]}, "query.andd"),
        ({"and": EQ_SPAM}, "query.and"),
        ({"and": None}, "query.and"),
        ({"and": ["policy"]}, "query.and[0]"),
        ({"and": [{}]}, "query.and[0]"),
        ({"and": [EQ_SPAM, {"colour": "red"}]}, "query.and[1].colour"),
        ({"and": [{**EQ_SPAM, "extra": 1}]}, "query.and[0].extra"),
        ({"and": [{**EQ_SPAM, "and": []}]}, "query.and[0].and"),
        ({"or": [{"and": [EQ_SPAM], "xor": []}]}, "query.or[0].xor"),
        ({"or": [{"and": []}]}, "query.or[0]"),
        ({"not": [{"or": [], "not": []}]}, "query.not[0]"),
        ({"and": [{"field_name": "policy", "field_values": ["spam"]}]}, "query.and[0].operation"),
        ({"and": [{"operation": "EQ", "field_values": ["spam"]}]}, "query.and[0].field_name"),
        ({"and": [{"operation": "EQ", "field_name": "policy"}]}, "query.and[0].field_values"),
        ({"and": [condition("CONTAINS", "policy", "spam")]}, "query.and[0].operation"),
        ({"and": [condition("eq", "policy", "spam")]}, "query.and[0].operation"),
        ({"and": [condition(1, "policy", "spam")]}, "query.and[0].operation"),
        ({"and": [EQ_SPAM, condition("EQ", "colour", "red")]}, "query.and[1].field_name"),
        ({"and": [condition("EQ", ["policy"], "spam")]}, "query.and[0].field_name"),
        ({"and": [condition("EQ", "row_id", 3)]}, "query.and[0].field_name"),
        ({"or": [{"and": [EQ_SPAM, EQ_SPAM, condition("GT", "policy", "spam")]}]}, "query.or[0].and[2].operation"),
        ({"and": [condition("GT", "content_type", "video")]}, "query.and[0].operation"),
        ({"and": [condition("LTE", "automated_decision", True)]}, "query.and[0].operation"),
        ({"and": [condition("GTE", "content_language", "de")]}, "query.and[0].operation"),
        ({"and": [condition("LT", "account_id", "aa01")]}, "query.and[0].operation"),
        ({"and": [{"operation": "EQ", "field_name": "policy", "field_values": "spam"}]}, "query.and[0].field_values"),
        ({"and": [condition("IN", "policy")]}, "query.and[0].field_values"),
        ({"and": [condition("EQ", "policy", "spam", "hate")]}, "query.and[0].field_values"),
        ({"and": [condition("GT", "score", 1, 2)]}, "query.and[0].field_values"),
        ({"and": [condition("IN", "score", *range(MAX_IN_VALUES + 1))]}, "query.and[0].field_values"),
        ({"and": [EQ_SPAM, condition("EQ", "territorial_scope", "US")]}, "query.and[1].field_values[0]"),
        ({"and": [condition("IN", "policy", "spam", "eggs")]}, "query.and[0].field_values[1]"),
        ({"and": [condition("EQ", "policy", 3)]}, "query.and[0].field_values[0]"),
        ({"and": [condition("EQ", "views_before_action", "5")]}, "query.and[0].field_values[0]"),
        ({"and": [condition("EQ", "decided_on", "2025-02-30")]}, "query.and[0].field_values[0]"),
        ({"and": [condition("EQ", "decided_on", "2025-1-01")]}, "query.and[0].field_values[0]"),
        ({"and": [condition("EQ", "decided_on", "20250101")]}, "query.and[0].field_values[0]"),
        ({"and": [condition("EQ", "decided_on", "2025-01-01T00:00")]}, "query.and[0].field_values[0]"),
        ({"and": [condition("EQ", "decided_on", "２０２５-01-01")]}, "query.and[0].field_values[0]"),
        ({"and": [condition("EQ", "decided_on", 20250101)]}, "query.and[0].field_values[0]"),
        ({"and": [condition("EQ", "content_created_month", "2025-13")]}, "query.and[0].field_values[0]"),
        ({"and": [condition("EQ", "content_created_month", "2025-01-01")]}, "query.and[0].field_values[0]"),
        ({"and": [condition("EQ", "content_created_month", "2025-1")]}, "query.and[0].field_values[0]"),
        ({"and": [condition("EQ", "automated_decision", "yes")]}, "query.and[0].field_values[0]"),
        ({"and": [condition("EQ", "automated_decision", 1)]}, "query.and[0].field_values[0]"),
        ({"and": [condition("EQ", "score", 1.5)]}, "query.and[0].field_values[0]"),
        ({"and": [condition("EQ", "score", True)]}, "query.and[0].field_values[0]"),
        ({"and": [condition("EQ", "score", "ten")]}, "query.and[0].field_values[0]"),
        ({"and": [condition("EQ", "score", 2**63)]}, "query.and[0].field_values[0]"),
        ({"and": [condition("EQ", "content_language", "")]}, "query.and[0].field_values[0]"),
        ({"and": [condition("EQ", "content_language", "d\x00e")]}, "query.and[0].field_values[0]"),
        ({"and": [condition("EQ", "content_language", "\ud800")]}, "query.and[0].field_values[0]"),
        ({"and": [condition("EQ", "content_language", "x" * 201)]}, "query.and[0].field_values[0]"),
        ({"and": [condition("EQ", "content_language", 7)]}, "query.and[0].field_values[0]"),
        ({"and": [condition("EQ", "account_id", "not-hex")]}, "query.and[0].field_values[0]"),
        ({"and": [condition("EQ", "account_id", "a" * 65)]}, "query.and[0].field_values[0]"),
        ({"not": [{"or": [{"and": [condition("IN", "score", 1, "x")]}]}]}, "query.not[0].or[0].and[0].field_values[1]"),
    ],
)
def test_an_invalid_post_query_is_refused_naming_the_offending_clause(query, path):
    assert invalid_query_path(query) == path


def test_a_lower_case_operation_is_refused_with_a_hint():
    with pytest.raises(InvalidQuery, match="upper case"):
        post({"and": [condition("in", "policy", "spam")]})


def test_an_operation_that_does_not_apply_names_the_allowed_ones():
    with pytest.raises(InvalidQuery) as caught:
        post({"and": [condition("GT", "policy", "spam")]})
    assert caught.value.detail["allowed"] == ["EQ", "IN", "NE"]


def test_fifty_conditions_are_accepted_and_the_fifty_first_is_refused():
    assert len(post({"and": [condition("EQ", "score", i) for i in range(MAX_CONDITIONS)]}).and_) == MAX_CONDITIONS
    too_many = {"and": [condition("EQ", "score", i) for i in range(MAX_CONDITIONS)], "not": [EQ_SPAM]}
    assert invalid_query_path(too_many) == "query.not[0]"


def test_conditions_in_nested_groups_count_towards_the_limit():
    groups = [{"or": [condition("EQ", "score", 2 * i), condition("EQ", "score", 2 * i + 1)]} for i in range(26)]
    assert invalid_query_path({"and": groups}) == "query.and[25].or[0]"


def test_nesting_deeper_than_five_levels_is_refused_at_the_sixth_group():
    query: dict = {"and": [EQ_SPAM]}
    for _ in range(6):
        query = {"and": [query]}
    assert invalid_query_path(query) == "query" + ".and[0]" * 6


def test_the_first_error_in_document_order_is_reported():
    query = {"and": [condition("EQ", "policy", "eggs"), condition("EQ", "colour", "red")]}
    assert invalid_query_path(query) == "query.and[0].field_values[0]"


# --- canonical form and fingerprint ------------------------------------------------------------------


def test_the_order_of_conditions_and_values_does_not_change_the_fingerprint():
    a = post({"and": [condition("IN", "policy", "spam", "hate"), condition("GTE", "decided_on", "2025-01-01")]})
    b = post({"and": [condition("GTE", "decided_on", "2025-01-01"), condition("IN", "policy", "hate", "spam", "hate")]})
    assert normalise(a) == normalise(b)
    assert query_fingerprint(a, {"fields": ["policy"]}) == query_fingerprint(b, {"fields": ["policy"]})


def test_the_get_and_post_forms_of_one_query_have_the_same_fingerprint():
    from_get = parse_get_query(
        QueryDict("policy__in=spam,hate&decided_on__gte=2025-01-01&automated_decision=true"), FIELDS
    )
    from_post = post(
        {
            "and": [
                condition("EQ", "automated_decision", True),
                condition("IN", "policy", "hate", "spam"),
                condition("GTE", "decided_on", "2025-01-01"),
            ]
        }
    )
    assert query_fingerprint(from_get, {}) == query_fingerprint(from_post, {})


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"and": [condition("NE", "policy", "spam")]}, {"not": [EQ_SPAM]}),
        ({"and": [condition("IN", "policy", "spam")]}, {"and": [EQ_SPAM]}),
        ({"or": [EQ_SPAM]}, {"and": [EQ_SPAM]}),
        ({"and": [{"and": [EQ_SPAM, condition("EQ", "score", 1)]}]}, {"and": [condition("EQ", "score", 1), EQ_SPAM]}),
        ({"not": [{"or": [EQ_SPAM, condition("EQ", "score", 1)]}]}, {"not": [condition("EQ", "score", 1), EQ_SPAM]}),
        ({"and": [EQ_SPAM, EQ_SPAM]}, {"and": [EQ_SPAM]}),
        ({"not": [{"not": [EQ_SPAM]}]}, {"and": [EQ_SPAM]}),
    ],
)
def test_equivalent_spellings_have_one_canonical_form(one, other):
    assert normalise(post(one)) == normalise(post(other))


def test_different_queries_or_extras_have_different_fingerprints():
    spam, hate = post({"and": [EQ_SPAM]}), post({"and": [condition("EQ", "policy", "hate")]})
    assert query_fingerprint(spam, {}) != query_fingerprint(hate, {})
    assert query_fingerprint(spam, {}) != query_fingerprint(post({"not": [EQ_SPAM]}), {})
    assert query_fingerprint(spam, {"fields": ["a"]}) != query_fingerprint(spam, {"fields": ["b"]})


def test_the_normal_form_is_itself_a_valid_post_query_with_the_same_normal_form():
    node = post(
        {
            "and": [condition("GTE", "decided_on", "2025-01-01"), condition("EQ", "automated_decision", "false")],
            "or": [{"and": [condition("IN", "content_type", "video", "text")]}, condition("LT", "score", 3)],
            "not": [condition("NE", "territorial_scope", "DE")],
        }
    )
    assert normalise(post(normalise(node))) == normalise(node)
    assert post(normalise(node)) == node


FINGERPRINT_OF_KNOWN_QUERY = "1b48031a565bed4004100bbdc578a7f0593d47ee0fa29988cc8e759c7b9052e5"


def test_the_fingerprint_of_a_known_query_never_changes():
    # Outstanding cursors embed fingerprints: changing the canonical form would invalidate them all.
    node = post({"and": [condition("IN", "policy", "spam", "hate"), condition("GTE", "decided_on", "2025-01-01")]})
    assert normalise(node) == {
        "and": [
            {"operation": "GTE", "field_name": "decided_on", "field_values": ["2025-01-01"]},
            {"operation": "IN", "field_name": "policy", "field_values": ["hate", "spam"]},
        ]
    }
    # sha256 of the compact, key-sorted JSON of {"extra": ..., "query": <normal form>}.
    document = (
        '{"extra":{"fields":["policy"]},"query":{"and":[{"field_name":"decided_on","field_values":["2025-01-01"],'
        '"operation":"GTE"},{"field_name":"policy","field_values":["hate","spam"],"operation":"IN"}]}}'
    )
    assert hashlib.sha256(document.encode()).hexdigest() == FINGERPRINT_OF_KNOWN_QUERY
    assert query_fingerprint(node, {"fields": ["policy"]}) == FINGERPRINT_OF_KNOWN_QUERY


def test_parsed_values_have_python_types():
    node = post({"and": [condition("EQ", "decided_on", "2025-01-02"), condition("EQ", "score", "7")]})
    assert node.and_ == (
        Condition("EQ", "decided_on", (datetime.date(2025, 1, 2),)),
        Condition("EQ", "score", (7,)),
    )


# --- field selection ----------------------------------------------------------------------------------


def test_field_selection_defaults_when_absent():
    assert parse_fields(None, FIELDS, default=["policy", "decided_on"]) == ["policy", "decided_on"]


def test_field_selection_accepts_a_comma_separated_string_or_a_list_and_drops_duplicates_in_order():
    assert parse_fields("score,policy,score", FIELDS, default=[]) == ["score", "policy"]
    assert parse_fields(["policy", "score", "policy"], FIELDS, default=[]) == ["policy", "score"]


def test_a_field_that_cannot_be_filtered_can_still_be_selected():
    assert parse_fields("row_id", FIELDS, default=[]) == ["row_id"]


@pytest.mark.parametrize(
    ("requested", "path"),
    [
        ("policy,colour", "fields[1]"),
        ("policy,", "fields[1]"),
        (["policy", "score", 3], "fields[2]"),
        (["policy,score"], "fields[0]"),
        ([], "fields"),
        ("", "fields[0]"),
        ({"policy": True}, "fields"),
    ],
)
def test_an_unknown_selected_field_is_refused_naming_its_position(requested, path):
    with pytest.raises(InvalidQuery) as caught:
        parse_fields(requested, FIELDS, default=["policy"])
    assert caught.value.detail["path"] == path


def test_canonical_form_keeps_the_meaning_of_an_empty_group_built_by_hand():
    from moderation_data.query.language import canonical

    spam = Condition("EQ", "policy", ("spam",))
    assert canonical(Group(or_=(Group(), spam))) == Group(or_=(spam, Group()))
    assert canonical(Group(not_=(Group(),))) == Group(not_=(Group(),))
    assert canonical(Group(and_=(Group(), spam))) == Group(and_=(spam,))
