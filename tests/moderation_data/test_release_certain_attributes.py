"""A sensitive attribute certain within a class is suppressed, never marked (docs/privacy.md, step 5).

The attack these tests replay: the build used to NULL `appealed` in the classes where every account
appealed. `appealed` is otherwise never null, so a records grant filtering `appealed NE true AND
appealed NE false` got exactly those classes, and knowing a target's quasi-identifiers was enough
to learn, with certainty, that the target appealed.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection

from moderation_data.ingest.models import Appeal, Decision
from moderation_data.releases import anonymize
from moderation_data.releases.models import Release
from moderation_data.releases.services import build_release, start_release
from tests.moderation_data.conftest import ensure_datasets

QI = [h.name for h in anonymize.HIERARCHIES]
DAY = dt.datetime(2025, 3, 10, 12, tzinfo=dt.UTC)
PERIOD = {"period_start": dt.date(2025, 3, 1), "period_end": dt.date(2025, 3, 31)}
# Per policy (a class each: every other field is equal), accounts and what happened to their decision.
CERTAIN_APPEALED, MIXED, NOT_APPEALED, CERTAIN_RLE = (
    "hateful_behavior", "harassment_bullying", "minor_safety", "violent_extremism",
)  # fmt: skip
GROUPS = {CERTAIN_APPEALED: 12, MIXED: 30, NOT_APPEALED: 30, CERTAIN_RLE: 15}


def _fetch(sql: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def _seed() -> None:
    decisions = []
    for policy, accounts in GROUPS.items():
        for i in range(accounts):
            decisions.append(
                Decision(
                    platform_decision_id=f"{policy}-{i}", account_id=f"acct-{policy}-{i}", policy=policy,
                    actioned_at=DAY, application_date=DAY, uploader_country="DE", content_language="DE",
                    category="STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE",
                    reported_to_law_enforcement=policy == CERTAIN_RLE, off_platform_behavior_considered=False,
                )
            )  # fmt: skip
    Decision.objects.bulk_create(decisions)
    appeals = []
    for d in Decision.objects.filter(policy__in=[CERTAIN_APPEALED, MIXED]).order_by("id"):
        i = int(d.platform_decision_id.rsplit("-", 1)[1])
        if d.policy == CERTAIN_APPEALED:
            appeals.append(Appeal(decision=d, submitted_at=DAY, outcome="upheld"))
        elif i < 10:  # a third of the mixed class, half of them reversed and reinstated
            reversed_ = i % 2 == 0
            appeals.append(
                Appeal(decision=d, submitted_at=DAY, outcome="reversed" if reversed_ else "upheld",
                       reinstated_at=DAY if reversed_ else None)
            )  # fmt: skip
    Appeal.objects.bulk_create(appeals)


def _build() -> Release:
    return build_release(start_release(ensure_datasets()[0], **PERIOD).pk, publish=True)


def test_a_class_where_every_account_appealed_is_suppressed_not_marked(transactional_db):
    _seed()
    release = _build()
    table = release.rows_table
    assert release.status == Release.Status.PUBLISHED
    # The attack: the rows no value of `appealed` matches (NE true AND NE false) are the marked ones.
    assert _fetch(f"SELECT count(*) FROM {table} WHERE appealed IS NULL OR reinstated IS NULL")[0][0] == 0
    # No released class has a certain appealed / reinstated value (null counted as a value of its own),
    # nor a certain outcome or law-enforcement report.
    qi = ", ".join(QI)
    certain = _fetch(
        f"""SELECT {qi} FROM {table} GROUP BY {qi}
             HAVING (count(DISTINCT coalesce(appealed::text, 'null')) = 1 AND bool_or(appealed IS NOT FALSE))
                 OR (count(DISTINCT coalesce(reinstated::text, 'null')) = 1 AND bool_or(reinstated IS NOT FALSE))
                 OR (count(DISTINCT coalesce(appeal_outcome, 'null')) = 1 AND bool_or(appeal_outcome IS NOT NULL))
                 OR bool_and(reported_to_law_enforcement IS TRUE)"""
    )
    assert certain == []
    # The two certain classes are gone, whole; the others are released as recorded.
    released = dict(_fetch(f"SELECT policy, count(*) FROM {table} GROUP BY 1"))
    assert released == {MIXED: 30, NOT_APPEALED: 30}
    appealed = _fetch(f"SELECT count(*) FILTER (WHERE appealed), count(*) FILTER (WHERE reinstated) FROM {table}")
    assert appealed == [(10, 5)]
    # Counted as suppressed, per attribute (a class certain in two attributes counts under both).
    stats = release.anonymization
    assert stats["suppressed_rows"] == 27 == stats["suppressed_for_certain_attributes_rows"]
    assert stats["suppressed_for_certain_attributes"] == {
        "reported_to_law_enforcement": 15, "off_platform_behavior_considered": 0, "appealed": 12,
        "appeal_outcome": 12, "reinstated": 0,
    }  # fmt: skip
    assert stats["released_rows"] == release.row_count == 60
    report = release.privacy_report
    assert report["suppressed_rows"] == 27 and report["sensitive_suppressed_rows"]["appealed"] == 12
    assert set(report["sensitive_certain_classes"].values()) == {0}
    assert set(report["sensitive_nulls_not_in_source"].values()) == {0}
    assert report["checks"]["sensitive"] is True
    with connection.cursor() as cursor:
        assert set(anonymize.certain_sensitive_classes(cursor, table).values()) == {0}
    codebook = {f["name"]: f["description"] for f in release.codebook}
    assert "null" not in codebook["appealed"] and "null" not in codebook["reinstated"]


def test_the_report_counts_an_all_null_class_as_certain(transactional_db):
    _seed()
    release = _build()
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE crafted AS SELECT * FROM {release.rows_table}")
        assert set(anonymize.certain_sensitive_classes(cursor, "crafted").values()) == {0}
        # The old mark: `appealed` (and what it takes along) null in every row of one class.
        cursor.execute(
            "UPDATE crafted SET appealed = NULL, appeal_outcome = NULL, reinstated = NULL WHERE policy = %s", [MIXED]
        )
        assert anonymize.certain_sensitive_classes(cursor, "crafted") == {
            "reported_to_law_enforcement": 0, "off_platform_behavior_considered": 0, "appealed": 1,
            "appeal_outcome": 1, "reinstated": 1,
        }  # fmt: skip
        # Certain to be true, and certain to be the default (nobody appealed: not a disclosure).
        cursor.execute("UPDATE crafted SET appealed = true WHERE policy = %s", [MIXED])
        assert anonymize.certain_sensitive_classes(cursor, "crafted")["appealed"] == 1
        cursor.execute("UPDATE crafted SET appealed = false, appeal_outcome = NULL WHERE policy = %s", [MIXED])
        assert anonymize.certain_sensitive_classes(cursor, "crafted")["appealed"] == 0
        assert anonymize.certain_sensitive_classes(cursor, "crafted")["appeal_outcome"] == 0
        # Mixed with null is not one value: not certain.
        cursor.execute(
            "UPDATE crafted SET appealed = NULL WHERE policy = %s AND decision_id IN"
            " (SELECT decision_id FROM crafted WHERE policy = %s ORDER BY decision_id LIMIT 3)",
            [MIXED, MIXED],
        )
        assert anonymize.certain_sensitive_classes(cursor, "crafted")["appealed"] == 0
        cursor.execute("DROP TABLE crafted")
