"""The audit's attacks (issue 10), replayed against built releases: each must fail (docs/privacy.md)."""

from __future__ import annotations

from collections import Counter

import pytest
from django.db import connection

from moderation_data.catalog import enums
from moderation_data.ingest.models import Decision
from moderation_data.releases import anonymize
from moderation_data.releases.models import Release
from moderation_data.releases.selectors import codebook_fields

pytestmark = pytest.mark.django_db

QI = [h.name for h in anonymize.HIERARCHIES]
UNIT = "coalesce(account_id, 'decision:' || decision_id)"
REGION_CODES = set(enums.REGIONS) | {enums.NON_EEA_REGION, enums.OTHER_COUNTRY}


def _fetch(sql: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def _classes_under_k(table: str, k: int) -> list[tuple]:
    return _fetch(
        f"SELECT {', '.join(QI)}, count(DISTINCT {UNIT}) FROM {table} GROUP BY {', '.join(QI)}"
        f" HAVING count(DISTINCT {UNIT}) < %s",
        [k],
    )


def test_every_class_over_all_quasi_identifiers_holds_k_distinct_accounts(demo_release):
    # The audit added `policy` to the four declared QIs and found k = 1; here every field an adversary
    # can know (TDB fields, country, scope, language, account type, policy, detection source, subject type).
    assert demo_release.k_anonymity >= 10
    assert set(QI) >= {
        "policy", "detection_source", "subject_type", "category", "decided_on", "territorial_scope",
        "automated_decision", "content_type", "decision_visibility", "content_created_month",
    }  # fmt: skip
    assert _classes_under_k(demo_release.rows_table, demo_release.k_anonymity) == []
    report = demo_release.privacy_report
    assert report["k_min_accounts"] >= demo_release.k_anonymity
    # The report's census (hashed class and account keys) agrees with an exact count(DISTINCT).
    ((classes, k_min),) = _fetch(
        f"SELECT count(*), min(n) FROM (SELECT count(DISTINCT {UNIT}) AS n FROM {demo_release.rows_table}"
        f" GROUP BY {', '.join(QI)}) c"
    )
    assert (report["classes"], report["k_min_accounts"]) == (classes, k_min)
    assert report["checks"] == {"k": True, "k_with_earlier_releases": True, "tdb_linkage": True, "sensitive": True}
    assert report["suppressed_share"] <= 0.05 and demo_release.row_count > 0.9 * report["source_rows"]


def _tdb_key(values: dict, precision: dict[str, int], scope_level: int, ctx) -> tuple:
    key = []
    for name in anonymize.TDB_FIELDS:
        h = anonymize.BY_NAME[name]
        level = scope_level if name == "territorial_scope" else precision[name]
        key.append(h.generalize(values[name], level, ctx))
    return tuple(key)


def test_no_released_row_matches_fewer_than_k_public_tdb_records(demo_release):
    """Simulated TDB linkage: each released row against every raw decision it is compatible with."""
    levels = {
        name: anonymize.BY_NAME[name].levels.index(p) for name, p in demo_release.anonymization["precision"].items()
    }
    ctx = anonymize.Context(demo_release.period_start, demo_release.period_end)
    sources = {h.name: h.source_sql for h in anonymize.HIERARCHIES if h.name in anonymize.TDB_FIELDS}
    raw_rows = _fetch(
        f"SELECT {', '.join(f'({sql})::text' for sql in sources.values())} FROM moderation_data_decision d"
        f" WHERE {anonymize.DAY_SQL} BETWEEN %s AND %s",
        [demo_release.period_start, demo_release.period_end],
    )
    public = [dict(zip(sources, row, strict=True)) for row in raw_rows]  # what the TDB shows, exactly
    compatible = {level: Counter(_tdb_key(r, levels, level, ctx) for r in public) for level in (0, 1, 2)}

    def released_text(column: str, value):
        if value is None:
            return None
        if isinstance(value, list):
            return anonymize.SEP.join(value) or None
        if column == "automated_detection":
            return "Yes" if value else "No"
        return str(value)

    rows = _fetch(f"SELECT country, {', '.join(anonymize.TDB_FIELDS)} FROM {demo_release.rows_table}")
    below_k = 0
    for country, *values in rows:
        scope_level = 2 if country == enums.OTHER_COUNTRY else 1 if country in REGION_CODES else 0
        key = tuple(released_text(c, v) for c, v in zip(anonymize.TDB_FIELDS, values, strict=True))
        below_k += compatible[scope_level][key] < demo_release.k_anonymity
    # The audit: 74.5% of rows matched exactly one public TDB record.
    assert len(rows) > 1000 and below_k == 0
    assert demo_release.privacy_report["tdb_linkage"]["rows_matching_fewer_than_k_raw_decisions"] == 0


def test_territorial_scope_never_reveals_the_country_of_a_generalized_row(demo_release):
    table = demo_release.rows_table
    # The audit's query: count(country = EU_NORTH ∧ scope ∋ LT ∧ scope ∌ LV) was 21.
    leak = _fetch(
        f"SELECT count(*) FROM {table} WHERE country = 'EU_NORTH' AND 'LT' = ANY(territorial_scope)"
        f" AND NOT 'LV' = ANY(territorial_scope)"
    )[0][0]
    assert leak == 0
    countries = set(enums.EUROPEAN_COUNTRY_CODES)
    generalized = _fetch(
        f"SELECT country, territorial_scope FROM {table} WHERE country = ANY(%s)", [sorted(REGION_CODES)]
    )
    revealing = [(c, scope) for c, scope in generalized if scope and countries & set(scope)]
    assert revealing == []


def test_sensitive_attributes_are_never_certain_within_a_class(demo_release):
    # NULL is a value of its own here: a class null in every row would be as certain as one true in
    # every row (the build once marked certain classes with null; they are suppressed instead).
    certain = _fetch(
        f"""SELECT count(*) FILTER (WHERE rle), count(*) FILTER (WHERE off), count(*) FILTER (WHERE appealed),
                   count(*) FILTER (WHERE outcome), count(*) FILTER (WHERE reinstated)
              FROM (SELECT bool_and(reported_to_law_enforcement IS TRUE) rle,
                           bool_and(off_platform_behavior_considered IS TRUE) off,
                           count(DISTINCT coalesce(appealed::text, 'null')) = 1 AND bool_or(appealed IS NOT FALSE)
                               AS appealed,
                           count(DISTINCT coalesce(appeal_outcome, 'null')) = 1 AND bool_or(appeal_outcome IS NOT NULL)
                               AS outcome,
                           count(DISTINCT coalesce(reinstated::text, 'null')) = 1 AND bool_or(reinstated IS NOT FALSE)
                               AS reinstated
                      FROM {demo_release.rows_table} GROUP BY {", ".join(QI)}) c"""
    )[0]
    assert certain == (0, 0, 0, 0, 0)
    # `appealed` and `reinstated` are never null in the source: a null would be a mark.
    table = demo_release.rows_table
    assert _fetch(f"SELECT count(*) FROM {table} WHERE appealed IS NULL OR reinstated IS NULL")[0][0] == 0
    with connection.cursor() as cursor:
        assert set(anonymize.certain_sensitive_classes(cursor, table).values()) == {0}
    report = demo_release.privacy_report
    assert set(report["sensitive_certain_classes"].values()) == {0}
    assert set(report["sensitive_nulls_not_in_source"].values()) == {0}
    suppressed = demo_release.anonymization["suppressed_for_certain_attributes"]
    assert set(suppressed) == set(anonymize.SENSITIVE) and report["sensitive_suppressed_rows"] == suppressed
    # Some law-enforcement reports are still published (in classes where they are not certain).
    assert _fetch(f"SELECT count(*) FROM {demo_release.rows_table} WHERE reported_to_law_enforcement")[0][0] > 0


def test_each_field_has_one_precision_recorded_and_dates_stay_within_the_period(demo_release):
    codebook = codebook_fields(demo_release)
    assert "decided_on_granularity" not in codebook
    precision = demo_release.anonymization["precision"]
    for name in QI:
        assert (
            codebook[name]["precision"] == precision[name] == demo_release.privacy_report["fields"][name]["precision"]
        )
    table = demo_release.rows_table
    low, high = _fetch(f"SELECT min(decided_on), max(decided_on) FROM {table}")[0]
    assert demo_release.period_start <= low <= high <= demo_release.period_end
    unit = precision["decided_on"]
    if unit != "day":
        days = {d for (d,) in _fetch(f"SELECT DISTINCT decided_on FROM {table}")}
        starts = {anonymize._date_bucket(d.isoformat(), anonymize.DATE_LEVELS.index(unit),
                                         anonymize.Context(demo_release.period_start, demo_release.period_end))
                  for d in days}  # fmt: skip
        assert {d.isoformat() for d in days} == starts
    for name, level in precision.items():
        if level == "withheld":
            assert _fetch(f"SELECT count(*) FROM {table} WHERE {name} IS NOT NULL")[0][0] == 0


def test_control_totals_are_counted_on_the_released_rows(demo_release):
    rows = {
        (day.isoformat(), policy): n
        for day, policy, n in _fetch(
            f"SELECT decided_on, policy, count(*) FROM {demo_release.rows_table} GROUP BY 1, 2"
        )
    }
    totals = {(t["period"], t["policy"]): t["decisions"] for t in demo_release.control_totals}
    # Totals minus rows: no cell hides a suppressed decision (the audit found single ones).
    assert totals == rows
    assert sum(totals.values()) == demo_release.row_count < Decision.objects.count()


def test_public_summary_minus_rows_does_not_reveal_the_suppressed_counts(demo_release):
    from moderation_data.aggregates.models import PublicSummaryCell

    summary = Release.objects.get(pk=demo_release.companion_id).public_summary
    cells = {(c.month, c.value): c for c in PublicSummaryCell.objects.filter(summary=summary, dimension="policy")}
    released = dict(
        ((m, p), n)
        for m, p, n in _fetch(f"SELECT to_char(decided_on, 'YYYY-MM'), policy, count(*) FROM {demo_release.rows_table}"
                              " GROUP BY 1, 2")
    )  # fmt: skip
    raw = dict(
        ((m, p), n)
        for m, p, n in _fetch(
            "SELECT to_char(day, 'YYYY-MM'), policy, count(*) FROM (SELECT coalesce(policy, 'other') policy,"
            f" {anonymize.DAY_SQL} AS day FROM moderation_data_decision d) s WHERE day BETWEEN %s AND %s GROUP BY 1, 2",
            [demo_release.period_start, demo_release.period_end],
        )
    )
    assert cells
    differences = {key: cell.decisions - released.get(key, 0) for key, cell in cells.items()}
    inside = sum(cells[key].ci95_low <= released.get(key, 0) <= cells[key].ci95_high for key in cells)
    # The summary is noise around the *released* counts: within its intervals (≥ 95% nominal) …
    assert inside >= 0.8 * len(cells)
    # … and the differences are not the hidden (suppressed) counts of 1–9 decisions.
    hidden = {key: raw.get(key, 0) - released.get(key, 0) for key in cells}
    small_hidden = [key for key, n in hidden.items() if 1 <= n <= 9]
    revealed = [key for key in small_hidden if differences[key] == hidden[key]]
    assert len(revealed) <= max(1, len(small_hidden) // 3)
    assert len(set(differences.values())) > 1  # noisy, not a constant offset


def test_the_privacy_report_is_summarized_on_the_release_endpoint(demo_release):
    from moderation_data.releases.serializers import ReleaseDetailSerializer

    privacy = ReleaseDetailSerializer(demo_release).data["privacy"]
    assert privacy["k"] == demo_release.k_anonymity <= privacy["k_min_accounts"]
    assert privacy["tdb_linkage_rows_under_k"] == 0 and privacy["sensitive_certain_classes"] == 0
    assert set(privacy["precision"]) == set(QI)
    assert 0 <= privacy["trajectory_unicity"] <= 1
    unicity = demo_release.privacy_report["trajectory_unicity"]
    assert unicity["sampled_accounts"] > 0
