"""The client's pure parts, without a server: where= forms, aggregate answers, citations, credentials files."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from modresearch.citation import citation
from modresearch.client import aggregate_frame
from modresearch.config import read_file, resolve
from modresearch.errors import ConfigurationError
from modresearch.query import get_parameters, to_query

CODEBOOK = [
    {"name": "detection_source", "type": "enum", "nullable": True,
     "values": [{"value": "hash_match", "label": "Hash"}, {"value": "user_report", "label": "Report"}]},
    {"name": "views_before_action", "type": "bucket", "nullable": True,
     "buckets": [{"value": "0"}, {"value": "1-100"}], "values": [{"value": "0"}, {"value": "1-100"}]},
]  # fmt: skip


def test_get_style_dicts_become_and_groups_with_lookups_and_lists_as_in():
    assert to_query(
        {"policy": "violent_extremism", "country": ["DE", "FR"], "decided_on__gte": dt.date(2025, 1, 1)}
    ) == {
        "and": [
            {"operation": "EQ", "field_name": "policy", "field_values": ["violent_extremism"]},
            {"operation": "IN", "field_name": "country", "field_values": ["DE", "FR"]},
            {"operation": "GTE", "field_name": "decided_on", "field_values": ["2025-01-01"]},
        ]
    }
    assert to_query("country__in=DE,FR&reinstated=true") == to_query(
        {"country__in": ["DE", "FR"], "reinstated": "true"}
    )
    assert to_query({"decided_on__lt": pd.Timestamp("2025-02-03 10:00")})["and"][0]["field_values"] == ["2025-02-03"]
    assert to_query(None) is None and to_query({}) is None and to_query("") is None


def test_tiktok_conditions_and_the_query_language_pass_through_and_nest():
    condition = {"operation": "eq", "field_name": "policy", "field_values": "misinformation"}
    assert to_query(condition) == {
        "and": [{"operation": "EQ", "field_name": "policy", "field_values": ["misinformation"]}]
    }
    nested = {"or": [condition, {"and": [{"country": "DE"}]}], "not": [{"reinstated": True}]}
    query = to_query(nested)
    assert query["or"][1] == {"and": [{"and": [{"operation": "EQ", "field_name": "country", "field_values": ["DE"]}]}]}
    assert query["not"] == [{"and": [{"operation": "EQ", "field_name": "reinstated", "field_values": [True]}]}]
    assert to_query('{"and": [{"operation": "EQ", "field_name": "policy", "field_values": ["x"]}]}')["and"][0][
        "field_values"
    ] == ["x"]


def test_a_misspelt_lookup_or_a_mixed_dict_is_refused_before_any_request():
    with pytest.raises(ValueError, match="__gte"):
        to_query({"decided_on__greater": "2025-01-01"})
    with pytest.raises(ValueError, match="mixes"):
        to_query({"and": [], "policy": "x"})


def test_an_aggregate_answer_becomes_typed_groups_with_interval_columns():
    answer = {
        "dataset": "moderation-decisions", "release": "2026.01.01", "epsilon_spent": 0.5, "budget_remaining": 4.5,
        "data": [
            {"detection_source": "user_report", "count": 12, "noise_scale": 2.0, "ci95": [6, 18]},
            {"detection_source": "hash_match", "count": -1, "noise_scale": 2.0, "ci95": [-7, 5]},
        ],
    }  # fmt: skip
    frame = aggregate_frame(answer, ["detection_source"], CODEBOOK, "moderation-decisions", "2026.01.01")
    assert list(frame.columns) == ["detection_source", "count", "noise_scale", "ci95_low", "ci95_high"]
    assert list(frame["detection_source"].cat.categories) == ["hash_match", "user_report"]
    assert frame["ci95_low"].tolist() == [6, -7] and frame["ci95_high"].tolist() == [18, 5]
    assert frame.attrs["epsilon_spent"] == 0.5 and frame.attrs["budget_remaining"] == 4.5


def test_local_citations_carry_version_period_rows_and_checksum():
    meta = {"release": "2026.01.01", "dataset": "moderation-decisions", "period_start": "2025-01-01",
            "period_end": "2025-12-31", "row_count": 1000, "sha256": "ab" * 32,
            "published_at": "2026-01-02T00:00:00Z"}  # fmt: skip
    for fmt in ("text", "bibtex", "ris"):
        text = citation(meta, "Moderation decisions", fmt)
        assert "2026.01.01" in text and "ab" * 32 in text and "1000" in text
    assert citation({"citation": "As the server says."}, "t", "text") == "As the server says."


def test_credentials_files_in_env_and_json_form(tmp_path):
    env_file = tmp_path / "modresearch.env"
    env_file.write_text("# comment\nexport MODRESEARCH_URL=http://h:1\nCLIENT_ID='abc'\nCLIENT_SECRET=\"s e\"  # x\n")
    assert read_file(env_file)["CLIENT_SECRET"] == "s e"
    assert resolve(env_file, environ={}) == {"url": "http://h:1", "client_id": "abc", "client_secret": "s e"}
    json_file = tmp_path / "modresearch.json"
    json_file.write_text('{"url": "http://h:2", "client_id": "i", "client_secret": "s"}')
    assert resolve(environ={"MODRESEARCH_CREDENTIALS": str(json_file)})["url"] == "http://h:2"
    assert resolve(json_file, environ={"MODRESEARCH_URL": "http://other"})["url"] == "http://other"
    with pytest.raises(ConfigurationError, match="does not exist"):
        resolve(tmp_path / "missing.env", environ={})


def test_plain_ands_walk_as_get_parameters_and_anything_else_as_post():
    query = to_query({"country__in": ["DE", "FR"], "reinstated": True, "decided_on__gte": "2025-01-01"})
    assert get_parameters(query) == [
        ("country__in", "DE,FR"),
        ("reinstated", "true"),
        ("decided_on__gte", "2025-01-01"),
    ]
    assert get_parameters(None) == []
    assert get_parameters(to_query({"or": [{"policy": "x"}]})) is None
    assert get_parameters(to_query({"country__in": ["a,b"]})) is None  # a comma cannot be said in the GET form
    assert get_parameters(to_query({"fields": "x"})) is None
