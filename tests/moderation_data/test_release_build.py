"""Releases built from small raw data made by the test itself (no shared release in this module)."""

from __future__ import annotations

import pytest
from django.db import connection

from moderation_data.ingest.demo import generate_demo_data
from moderation_data.ingest.models import Decision
from moderation_data.releases import pseudonyms
from moderation_data.releases.selectors import iter_release_rows

from .conftest import build

pytestmark = pytest.mark.django_db
SUMMARY = "/api/v1/public/enforcement-summary"


def test_k_anonymity_suppresses_what_no_generalization_can_hide(datasets):
    generate_demo_data(rows=300, seed=5)  # 75 accounts over four weeks: many tiny classes
    release = build(datasets[0])
    stats = release.anonymization
    assert stats["suppressed_rows"] + stats["released_rows"] == 300
    with connection.cursor() as cursor:
        quasi = ", ".join(stats["quasi_identifiers"])
        cursor.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {release.rows_table} GROUP BY {quasi}"
            " HAVING count(DISTINCT account_id) < 10) small"
        )
        assert cursor.fetchone()[0] == 0


def test_buckets_and_booleans_are_derived_from_the_raw_values(datasets, tmp_path):
    generate_demo_data(rows=2000, seed=8)
    release = build(datasets[0])
    # A quasi-identifier the release withholds (one precision per field, docs/privacy.md) is null in every row.
    withheld = {name for name, level in release.anonymization["precision"].items() if level == "withheld"}
    raw = {
        pseudonyms.base_pseudonym(d.platform_decision_id): d for d in Decision.objects.select_related("appeal").all()
    }
    for row in iter_release_rows(release):
        d = raw[row["decision_id"]]
        views = d.views_before_action
        expected = None if views is None else "0" if views == 0 else "1-100" if views <= 100 else (
            "101-1000" if views <= 1000 else "1001-10000" if views <= 10000 else ">10000")  # fmt: skip
        assert row["views_before_action"] == expected
        automated = d.automated_detection == "Yes"
        assert row["automated_detection"] == (None if "automated_detection" in withheld else automated)
        appeal = getattr(d, "appeal", None) if hasattr(d, "appeal") else None
        assert row["appealed"] == (appeal is not None)
        assert row["reinstated"] == (appeal is not None and appeal.reinstated_at is not None)
        seconds = (d.actioned_at - d.detected_at).total_seconds()
        assert row["time_to_action"] == ("<1h" if seconds < 3600 else "1-24h" if seconds < 86400 else
                                         "1-7d" if seconds < 7 * 86400 else ">7d")  # fmt: skip


def test_before_any_release_the_summary_is_not_found(client, datasets):
    response = client.get(SUMMARY)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
