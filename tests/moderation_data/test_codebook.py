"""The codebook: every released field described, DSA values verbatim with labels, stored per release."""

from __future__ import annotations

import json

import pytest

from moderation_data.catalog import generalization
from moderation_data.catalog.codebook import codebook_for
from moderation_data.catalog.enums import ENUMS_PATH, POLICY_TO_DSA, Category, Keyword, Policy
from moderation_data.releases.selectors import codebook_fields, iter_release_rows

SPEC_FIELDS = [
    "decision_id", "account_id", "content_id", "decided_on", "content_created_month", "subject_type", "content_type",
    "decision_visibility", "decision_monetary", "decision_provision", "decision_account", "account_type",
    "decision_ground", "category", "category_specification", "policy", "source_type", "detection_source",
    "automated_detection", "automated_decision", "territorial_scope", "country", "content_language",
    "views_before_action", "time_to_action", "off_platform_behavior_considered", "reported_to_law_enforcement",
    "appealed", "appeal_outcome", "reinstated",
]  # fmt: skip
TYPES = {"pseudonym", "date", "month", "enum", "list", "boolean", "bucket", "string", "integer"}


def test_the_codebook_describes_every_field_of_the_spec():
    fields = {f["name"]: f for f in codebook_for("moderation-decisions")}
    assert set(SPEC_FIELDS) <= set(fields)
    for field in fields.values():
        assert field["type"] in TYPES and field["description"] and field["column"]
        assert isinstance(field["filterable"], bool)
    assert fields["views_before_action"]["type"] == "bucket"
    assert [b["value"] for b in fields["views_before_action"]["buckets"]] == ["0", "1-100", "101-1000",
                                                                              "1001-10000", ">10000"]  # fmt: skip
    assert [b["value"] for b in fields["time_to_action"]["buckets"]] == ["<1h", "1-24h", "1-7d", ">7d"]
    assert fields["decision_id"]["type"] == "pseudonym" and not fields["decision_id"]["filterable"]
    assert fields["decided_on"]["operations"] == ["EQ", "IN", "NE", "GT", "GTE", "LT", "LTE"]


def test_enum_values_are_the_dsa_keys_with_their_labels():
    dsa = json.loads(ENUMS_PATH.read_text())
    fields = {f["name"]: f for f in codebook_for("moderation-decisions")}
    visibility = {v["value"]: v["label"] for v in fields["decision_visibility"]["values"]}
    # The DSA keys with their labels, then the groups a generalized release carries (docs/privacy.md).
    assert visibility == dsa["v2"]["DECISION_VISIBILITIES"] | generalization.VISIBILITY_GROUP_LABELS
    assert not set(generalization.VISIBILITY_GROUP_LABELS) & set(dsa["v2"]["DECISION_VISIBILITIES"])
    categories = {v["value"] for v in fields["category"]["values"]}
    assert categories == set(dsa["v2"]["STATEMENT_CATEGORIES"]) | set(
        dsa["v1_before_2025-07-01"]["STATEMENT_CATEGORIES"]
    )
    assert {v["value"] for v in fields["category_specification"]["values"]} == set(dsa["v2"]["KEYWORDS"])


def test_every_policy_maps_to_a_dsa_category():
    assert set(POLICY_TO_DSA) == set(Policy.values)
    for category, keyword in POLICY_TO_DSA.values():
        assert category in Category.values and (keyword is None or keyword in Keyword.values)
    assert POLICY_TO_DSA["violent_extremism"] == ("STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
                                                  "KEYWORD_TERRORIST_CONTENT")  # fmt: skip


@pytest.mark.django_db
def test_the_codebook_is_stored_with_each_release_and_matches_its_values(demo_release):
    fields = codebook_fields(demo_release)
    assert list(fields) == [f["name"] for f in codebook_for("moderation-decisions")]
    assert demo_release.codebook_version == "1"
    closed = {name: {v["value"] for v in f["values"]} for name, f in fields.items() if f.get("closed")}
    for row in iter_release_rows(demo_release):
        for name, allowed in closed.items():
            value = row[name]
            for item in value if isinstance(value, list) else [value]:
                assert item is None or item in allowed, (name, item)


@pytest.mark.django_db
def test_the_rows_table_declares_not_null_exactly_where_the_codebook_does(demo_release):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, is_nullable FROM information_schema.columns WHERE table_name = %s",
            [demo_release.rows_table],
        )
        nullable = {name: flag == "YES" for name, flag in cursor.fetchall()}
    for name, field in codebook_fields(demo_release).items():
        assert nullable[field["column"]] == field["nullable"], name
