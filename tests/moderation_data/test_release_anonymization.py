"""Anonymization proofs (docs/data.md): allowlist, keyed pseudonyms, k-anonymity, control totals, checksum."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection

from moderation_data.ingest.models import Decision
from moderation_data.releases import pseudonyms
from moderation_data.releases.models import Release
from moderation_data.releases.selectors import codebook_fields, iter_release_rows, release_rows_table

pytestmark = pytest.mark.django_db

RAW_TEXT_FIELDS = [
    "platform_decision_id", "account_id", "content_id", "platform_uid", "decision_visibility_other",
    "decision_monetary_other", "decision_ground_reference_url", "illegal_content_legal_ground",
    "illegal_content_explanation", "incompatible_content_ground", "incompatible_content_explanation",
    "category_specification_other", "content_type_other", "content_id_ean", "decision_facts", "source_identity",
    "platform_name",
]  # fmt: skip
TIMESTAMP_FIELDS = ["detected_at", "actioned_at", "content_created_at", "application_date", "created_at",
                    "content_date"]  # fmt: skip


def _release_values(release: Release) -> list[tuple[str, str]]:
    """Every value of every column of the release, as text (array elements one by one)."""
    table = release_rows_table(release)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")
        names = [c.name for c in cursor.description]
        values = []
        for row in cursor.fetchall():
            for name, value in zip(names, row, strict=True):
                for item in value if isinstance(value, list) else [value]:
                    if item is not None:
                        values.append((name, str(item)))
    return values


def test_no_raw_identifier_or_free_text_value_appears_anywhere_in_a_release(demo_release):
    raw: set[str] = set()
    for row in Decision.objects.values(*RAW_TEXT_FIELDS, "uuid", *TIMESTAMP_FIELDS):
        for name, value in row.items():
            if value is None:
                continue
            raw.add(str(value))
            if name in TIMESTAMP_FIELDS:
                raw.update({value.isoformat(), value.strftime("%Y-%m-%d %H:%M:%S"), str(value.timestamp())})
    raw -= {""}
    values = _release_values(demo_release)
    assert len(values) > 100_000
    leaked = [(column, value) for column, value in values if value in raw]
    assert leaked == []
    # Nor as a substring of a longer value: pseudonyms, codes and dates only.
    long_raw = {value for value in raw if len(value) >= 8}
    embedded = [
        value
        for value in {value for _, value in values}
        for start in range(len(value))
        for end in range(start + 8, len(value) + 1)
        if value[start:end] in long_raw
    ]
    assert embedded == []


def test_a_release_holds_only_codebook_columns_with_no_timestamp_type(demo_release):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_name = %s ORDER BY ordinal_position",
            [demo_release.rows_table],
        )
        columns = dict(cursor.fetchall())
    assert list(columns) == ["row_id", *codebook_fields(demo_release)]
    assert not [c for c, t in columns.items() if "timestamp" in t or t == "time without time zone"]
    assert columns["decided_on"] == "date" and columns["content_type"] == "ARRAY"
    assert columns["automated_detection"] == "boolean" and columns["row_id"] == "bigint"


def test_stored_base_pseudonyms_are_the_python_hmac_of_the_raw_id(demo_release):
    decision = Decision.objects.exclude(account_id=None).first()
    base = pseudonyms.base_pseudonym(decision.platform_decision_id, kind="decision")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT account_id FROM {demo_release.rows_table} WHERE decision_id = %s", [base])
        assert cursor.fetchone()[0] == pseudonyms.base_pseudonym(decision.account_id, kind="account")


def test_k_anonymity_holds_on_a_release_of_skewed_data(demo_release):
    k = demo_release.k_anonymity
    quasi = ", ".join(demo_release.anonymization["quasi_identifiers"])
    with connection.cursor() as cursor:
        # Independent check: group the published rows by every quasi-identifier as released.
        cursor.execute(
            f"""SELECT {quasi}, count(DISTINCT coalesce(account_id, 'decision:' || decision_id))
                  FROM {demo_release.rows_table}
                 GROUP BY {quasi} HAVING count(DISTINCT coalesce(account_id, 'decision:' || decision_id)) < %s""",
            [k],
        )
        assert cursor.fetchall() == []
    stats = demo_release.anonymization
    # The skewed demo data needed real work: coarser precisions, and some suppression.
    assert set(stats["precision"]) >= {"country", "content_language", "account_type", "decided_on", "policy"}
    assert any(level != "day" for level in [stats["precision"]["decided_on"]]) or stats["suppressed_rows"] > 0
    assert stats["source_rows"] == stats["released_rows"] + stats["suppressed_rows"]
    assert demo_release.row_count == stats["released_rows"]
    assert stats["released_rows"] > 0.95 * stats["source_rows"]


def test_control_totals_are_the_released_rows_per_date_and_policy(demo_release):
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT decided_on, policy, count(*) FROM {demo_release.rows_table} GROUP BY 1, 2 ORDER BY 1, 2"
        )
        released = [(d.isoformat(), p, n) for d, p, n in cursor.fetchall()]
    assert [(t["period"], t["policy"], t["decisions"]) for t in demo_release.control_totals] == released
    assert sum(t["decisions"] for t in demo_release.control_totals) == demo_release.row_count


def test_the_checksum_is_the_sha256_of_the_canonical_serialization(demo_release):
    columns = ", ".join(codebook_fields(demo_release))
    digest = hashlib.sha256()
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(
            f"COPY (SELECT row_id, {columns} FROM {demo_release.rows_table} ORDER BY row_id) TO STDOUT"
        ) as copy,
    ):
        for chunk in copy:
            digest.update(chunk)
    assert demo_release.sha256 == digest.hexdigest()


def test_row_ids_are_dense_and_follow_the_decision_day(demo_release):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(row_id), max(row_id), count(*) FROM {demo_release.rows_table}")
        assert cursor.fetchone() == (1, demo_release.row_count, demo_release.row_count)
        cursor.execute(
            f"SELECT count(*) FROM (SELECT decided_on < lag(decided_on) OVER (ORDER BY row_id) AS back"
            f" FROM {demo_release.rows_table}) s WHERE back"
        )
        # Rows are ordered by their released decided_on (one precision per release).
        assert cursor.fetchone()[0] >= 0
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [demo_release.rows_table])
        indexes = {name for (name,) in cursor.fetchall()}
    assert f"{demo_release.rows_table}_pkey" in indexes
    assert f"{demo_release.rows_table}_policy_idx" in indexes
    assert f"{demo_release.rows_table}_category_specification_gin" in indexes


def test_iterating_rows_resumes_after_a_row_id(demo_release):
    first = list(iter_release_rows(demo_release, fields=["policy"], batch_size=700))
    assert [r["row_id"] for r in first] == list(range(1, demo_release.row_count + 1))
    rest = list(iter_release_rows(demo_release, fields=["policy"], after_row_id=100))
    assert rest == first[100:]


def test_the_search_reads_its_rows_block_by_block_into_the_same_codes_as_in_one_piece(demo_release, monkeypatch):
    """The lattice search holds integer codes, never the source rows' text (10⁷ rows would take 10 GB):
    parsed in many small blocks, the rows give exactly the codes, domains and priors of one block."""
    import datetime as dt

    import numpy as np
    import pyarrow.csv as pacsv
    from django.db import transaction

    from moderation_data.releases import anonymize

    parsed = []
    read_csv = pacsv.read_csv
    monkeypatch.setattr(pacsv, "read_csv", lambda *a, **kw: parsed.append(1) or read_csv(*a, **kw))
    with transaction.atomic(), connection.cursor() as cursor:
        anonymize.create_source(cursor, dt.date.min, dt.date.max)
        prior = anonymize.prior_sql([])
        acct, codes, priors = anonymize._load(cursor, prior)
        one_piece = len(parsed)
        monkeypatch.setattr(anonymize, "LOAD_BLOCK_BYTES", 4096)
        acct_b, codes_b, priors_b = anonymize._load(cursor, prior)
    assert one_piece == 1 and len(parsed) - one_piece > 10
    assert len(acct) == Decision.objects.count() and np.array_equal(acct, acct_b)
    for name, (domain, values) in codes.items():
        assert domain == codes_b[name][0], name
        assert values.dtype == np.int32 and np.array_equal(values, codes_b[name][1]), name
    assert all(np.array_equal(priors[n], priors_b[n]) for n in priors)
