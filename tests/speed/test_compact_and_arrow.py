"""Compact pages (format=columns, named-set short codes) and Arrow IPC streams of the records endpoint."""

from __future__ import annotations

import datetime as dt

import orjson
import pyarrow as pa
import pytest

from moderation_data.catalog import enums
from moderation_data.catalog.codebook import NAMED_SETS

pytestmark = pytest.mark.django_db

RECORDS = "/api/v1/datasets/moderation-decisions/releases/latest/records"
ARROW = "application/vnd.apache.arrow.stream"
EEA = sorted(enums.EUROPEAN_COUNTRY_CODES)


def expand(value, sets):
    return sorted(sets[value[0]]) if value and len(value) == 1 and value[0] in sets else value


def test_columns_layout_holds_the_same_rows_as_objects_and_is_smaller(release, researcher):
    objects = researcher.get(RECORDS, {"page_size": 300})
    columns = researcher.get(RECORDS, {"page_size": 300, "format": "columns"})
    assert objects.status_code == columns.status_code == 200
    rows = orjson.loads(objects.content)["data"]
    body = orjson.loads(columns.content)
    assert body["format"] == "columns"
    assert body["next_cursor"] is not None and body["has_more"] is True
    sets = NAMED_SETS["territorial_scope"]
    for name, values in body["data"].items():
        original = [row[name] for row in rows]
        if name == "territorial_scope":
            # The anonymizer may itself answer the all-EEA scope as its code (docs/privacy.md): same meaning.
            assert [expand(v, sets) for v in values] == [
                expand(sorted(v), sets) if v is not None else None for v in original
            ]
        else:
            assert values == original
    assert len(columns.content) < 0.6 * len(objects.content)


def test_an_all_eea_territorial_scope_is_the_short_code_documented_in_the_codebook(release, researcher):
    codebook = researcher.get("/api/v1/datasets/moderation-decisions").json()["codebook"]
    scope = next(f for f in codebook if f["name"] == "territorial_scope")
    assert scope["named_sets"] == {"EEA": EEA}
    rows = researcher.get(RECORDS, {"page_size": 1000, "fields": "territorial_scope"}).json()["data"]
    compact = researcher.get(RECORDS, {"page_size": 1000, "fields": "territorial_scope", "format": "columns"})
    values = compact.json()["data"]["territorial_scope"]
    sets = NAMED_SETS["territorial_scope"]
    full = [
        i
        for i, row in enumerate(rows)
        if row["territorial_scope"] and expand(sorted(row["territorial_scope"]), sets) == EEA
    ]
    assert full, "the demo data has all-EEA decisions"
    assert all(values[i] == ["EEA"] for i in full)
    assert all(values[i] == rows[i]["territorial_scope"] for i in range(len(rows)) if i not in full)


def test_the_cursor_of_a_columns_page_continues_the_walk(release, researcher):
    first = researcher.post(RECORDS, {"page_size": 50, "format": "columns"}).json()
    second = researcher.post(RECORDS, {"page_size": 50, "format": "columns", "cursor": first["next_cursor"]}).json()
    whole = researcher.post(RECORDS, {"page_size": 100}).json()["data"]
    assert first["data"]["decision_id"] + second["data"]["decision_id"] == [r["decision_id"] for r in whole]


def test_an_unknown_format_is_invalid(release, researcher):
    response = researcher.get(RECORDS, {"format": "xml"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"invalid_request", "invalid_query"}


def test_an_arrow_page_has_the_codebook_types_and_the_same_rows_as_json(release, researcher):
    json_page = researcher.get(RECORDS, {"page_size": 250}).json()
    response = researcher.get(RECORDS, {"page_size": 250}, HTTP_ACCEPT=ARROW)
    assert response.status_code == 200
    assert response["Content-Type"] == ARROW
    # Cursors are encrypted with a fresh nonce (docs/pseudonyms.md): equal positions, not equal strings.
    after_arrow = researcher.get(RECORDS, {"page_size": 5, "cursor": response["X-Next-Cursor"]}).json()["data"]
    after_json = researcher.get(RECORDS, {"page_size": 5, "cursor": json_page["next_cursor"]}).json()["data"]
    assert after_arrow == after_json and after_arrow
    assert response["X-Has-More"] == "true"
    table = pa.ipc.open_stream(response.content).read_all()
    meta = {k.decode(): v.decode() for k, v in table.schema.metadata.items()}
    assert meta["next_cursor"] == response["X-Next-Cursor"] and meta["release"] == release.version
    schema = table.schema
    assert schema.field("decided_on").type == pa.date32()
    assert pa.types.is_dictionary(schema.field("policy").type)
    assert schema.field("views_before_action").type.ordered
    assert pa.types.is_list(schema.field("territorial_scope").type)
    assert pa.types.is_dictionary(schema.field("territorial_scope").type.value_type)
    assert schema.field("appealed").type == pa.bool_()
    rows = table.to_pylist()
    assert len(rows) == len(json_page["data"]) == 250
    for got, expected in zip(rows, json_page["data"], strict=True):
        got["decided_on"] = got["decided_on"].isoformat() if isinstance(got["decided_on"], dt.date) else None
        assert got == expected


def test_an_arrow_walk_follows_the_cursor_to_the_end(release, researcher):
    cursor, total = None, 0
    while True:
        params = {"page_size": 1000, **({"cursor": cursor} if cursor else {})}
        response = researcher.get(RECORDS, params, HTTP_ACCEPT=ARROW)
        total += pa.ipc.open_stream(response.content).read_all().num_rows
        if response["X-Has-More"] != "true":
            break
        cursor = response["X-Next-Cursor"]
    assert total == release.row_count


def test_an_error_answered_to_an_arrow_client_is_the_json_envelope(release, researcher):
    response = researcher.get(RECORDS, {"policy": "no_such_policy"}, HTTP_ACCEPT=ARROW)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "invalid_query"


def test_arrow_pages_are_audited_with_their_row_count_like_json(release, researcher):
    from platform_api.models import AccessEvent

    researcher.get(RECORDS, {"page_size": 7}, HTTP_ACCEPT=ARROW)
    event = AccessEvent.objects.filter(grant_id=researcher.grant.pk, endpoint__endswith="/records").latest("id")
    assert event.rows_returned == 7
