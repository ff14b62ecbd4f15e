"""The build of a release from the raw tier, all in set-based SQL (called by ``releases.services``).

A row-level release lives in its own table, ``moderation_data_release_rows_<release id>``:
``row_id bigint`` primary key (dense, 1..n, ordered by decision day: the order of keyset
pagination), typed columns named as in the codebook, and btree indexes ``(column, row_id)`` on
the common filters plus GIN indexes on list columns, all created after the bulk insert. Once
published, triggers make any INSERT, UPDATE, DELETE or TRUNCATE on it fail.

Anonymization, in order: field allowlist (only codebook columns are ever selected), base
pseudonyms (HMAC in SQL, see ``pseudonyms``), bucketing, day granularity, then k-anonymity over
(country, content_language, account_type, decided_on) counting distinct accounts, generalizing
small classes up a ladder and suppressing what is still too small. From the rows, then, the
aggregates' table and the differentially private public summary (``moderation_data.aggregates``,
docs/aggregates.md): nothing published beside the rows is an exact count.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time

from django.db import connection
from django.utils import timezone

from moderation_data.aggregates.summary import build_public_summary, summary_digest
from moderation_data.aggregates.table import build_aggregation_table
from moderation_data.catalog import enums
from moderation_data.catalog.models import ROW_LEVEL_SLUG
from moderation_data.releases.models import Release
from moderation_data.releases.pseudonyms import base_pseudonym_sql, load_base_pads

logger = logging.getLogger("moderation_data.releases")

QUASI_IDENTIFIERS = ["country", "content_language", "account_type", "decided_on"]
NULL = "\x1f"  # stands for NULL inside the k-anonymity work tables so joins can hash

# The generalization ladder: each rung applies to the rows whose class was still under k.
LADDER = [
    {"level": 0, "generalization": "none", "country": "raw", "language": "raw", "date": "day"},
    {"level": 1, "generalization": "decided_on: day → week", "country": "raw", "language": "raw", "date": "week"},
    {"level": 2, "generalization": "decided_on: week → month", "country": "raw", "language": "raw", "date": "month"},
    {"level": 3, "generalization": "content_language → other", "country": "raw", "language": "other", "date": "month"},
    {"level": 4, "generalization": "country → region", "country": "region", "language": "other", "date": "month"},
    {"level": 5, "generalization": "country → OTHER", "country": "other", "language": "other", "date": "month"},
]
INDEXED_COLUMNS = ["decided_on", "policy", "country", "category", "detection_source", "content_language"]
GIN_COLUMNS = ["category_specification", "content_type"]


class _Stages:
    """Wall-clock time of each build stage, logged so a slow build can be explained."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.monotonic()

    def done(self, stage: str) -> None:
        now = time.monotonic()
        self.seconds[stage] = round(now - self._last, 2)
        self._last = now


def rows_table_name(release_id: int) -> str:
    return f"moderation_data_release_rows_{int(release_id)}"


def source_fingerprint() -> str:
    """A digest of the raw tier's current content (cheap): equal digests mean the same data."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), max(id), max(updated_at) FROM moderation_data_decision")
        decisions = cursor.fetchone()
        cursor.execute("SELECT count(*), coalesce(sum(hashtext(a::text)::bigint), 0) FROM moderation_data_appeal a")
        appeals = cursor.fetchone()
    return hashlib.sha256(repr((decisions, appeals)).encode()).hexdigest()


def _period(cursor, release: Release) -> tuple[dt.date | None, dt.date | None]:
    cursor.execute(
        "SELECT min(day), max(day) FROM (SELECT (coalesce(actioned_at, application_date) AT TIME ZONE 'UTC')::date"
        " AS day FROM moderation_data_decision) s"
    )
    lo, hi = cursor.fetchone()
    yesterday = timezone.now().date() - dt.timedelta(days=1)
    start = release.period_start or lo
    end = release.period_end or (min(hi, yesterday) if hi else None)
    return start, end


def build(release: Release) -> None:
    """Fill a ``building`` release (and its companion) and mark them ``built``; runs in the caller's transaction."""
    stages = _Stages()
    with connection.cursor() as cursor:
        # Session-local resources for the big sorts and index builds (reset with the transaction).
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        start, end = _period(cursor, release)
        fingerprint = source_fingerprint()
        _source(cursor, start, end)
        control_totals = _control_totals(cursor)
        stages.done("source snapshot and control totals")
        companion = release.companion if release.dataset.slug == ROW_LEVEL_SLUG else None
        targets = [release] + ([companion] if companion and companion.status == Release.Status.BUILDING else [])
        for target in targets:
            if target.dataset.slug == ROW_LEVEL_SLUG:
                fields = _build_rows(cursor, target, stages)
            else:
                fields = _build_summary(target, stages, source=Release.objects.get(pk=release.pk))
            fields.update(
                period_start=start,
                period_end=end,
                control_totals=control_totals,
                source_fingerprint=fingerprint,
                status=Release.Status.BUILT,
            )
            Release.objects.filter(pk=target.pk).update(**fields)
            if target.dataset.slug == ROW_LEVEL_SLUG:
                build_aggregation_table(Release.objects.get(pk=target.pk))
                stages.done("aggregation table (docs/aggregates.md)")
    logger.info("release build stages", extra={"release": release.pk, "stages": stages.seconds})


def _source(cursor, start: dt.date | None, end: dt.date | None) -> None:
    """rb_src: the raw decisions of the period with what k-anonymity and the totals need."""
    cursor.execute("DROP TABLE IF EXISTS rb_src")
    cursor.execute(
        f"""CREATE TEMP TABLE rb_src ON COMMIT DROP AS
            SELECT d.id AS raw_pk,
                   -- 64-bit hashes count distinct accounts faster than text; a collision could only
                   -- make a class look smaller, never larger, so k-anonymity is never overstated.
                   hashtextextended(coalesce(d.account_id, 'decision:' || d.platform_decision_id), 0) AS acct,
                   (coalesce(d.actioned_at, d.application_date) AT TIME ZONE 'UTC')::date AS day,
                   coalesce(d.uploader_country, '{NULL}') AS country,
                   coalesce(d.content_language, '{NULL}') AS lang,
                   coalesce(d.account_type, '{NULL}') AS atype,
                   coalesce(d.policy, 'other') AS policy
              FROM moderation_data_decision d
             WHERE (coalesce(d.actioned_at, d.application_date) AT TIME ZONE 'UTC')::date BETWEEN %s AND %s""",  # noqa: S608
        [start or dt.date.min, end or dt.date.max],
    )
    cursor.execute("ANALYZE rb_src")


def _control_totals(cursor) -> list[dict]:
    cursor.execute("SELECT to_char(day, 'YYYY-MM'), policy, count(*) FROM rb_src GROUP BY 1, 2 ORDER BY 1, 2")
    return [{"month": month, "policy": policy, "decisions": n} for month, policy, n in cursor.fetchall()]


def _region_sql(column: str) -> str:
    whens = " ".join(f"WHEN '{c}' THEN '{region}'" for c, region in enums.COUNTRY_TO_REGION.items())
    regions = f"CASE {column} {whens} ELSE '{enums.NON_EEA_REGION}' END"
    return f"CASE WHEN {column} = '{NULL}' THEN '{NULL}' ELSE ({regions}) END"


def _generalize(rung: dict) -> tuple[str, str, str]:
    country = {"raw": "country", "region": _region_sql("country"), "other": f"'{enums.OTHER_COUNTRY}'"}[rung["country"]]
    language = {"raw": "lang", "other": f"CASE WHEN lang = '{NULL}' THEN lang ELSE '{enums.OTHER_LANGUAGE}' END"}[
        rung["language"]
    ]
    date = {"day": "day", "week": "date_trunc('week', day)::date", "month": "date_trunc('month', day)::date"}[
        rung["date"]
    ]
    return country, language, date


def _k_anonymize(cursor, k: int) -> dict:
    """rb_assign(raw_pk, country, lang, day, granularity): the released QI values of each kept row."""
    cursor.execute("DROP TABLE IF EXISTS rb_assign, rb_rest")
    cursor.execute(
        "CREATE TEMP TABLE rb_assign (raw_pk bigint, country text, lang text, day date, granularity text)"
        " ON COMMIT DROP"
    )
    cursor.execute(
        "CREATE TEMP TABLE rb_rest ON COMMIT DROP AS SELECT raw_pk, acct, country, lang, atype, day FROM rb_src"
    )
    levels = []
    for rung in LADDER:
        country, language, date = _generalize(rung)
        cursor.execute("DROP TABLE IF EXISTS rb_gen, rb_ok")
        cursor.execute(
            f"""CREATE TEMP TABLE rb_gen ON COMMIT DROP AS
                SELECT raw_pk, acct, country AS raw_country, lang AS raw_lang, atype, day AS raw_day,
                       {country} AS g_country, {language} AS g_lang, {date} AS g_day
                  FROM rb_rest"""  # noqa: S608
        )
        cursor.execute(
            """CREATE TEMP TABLE rb_ok ON COMMIT DROP AS
               SELECT g_country, g_lang, atype, g_day FROM (
                   SELECT DISTINCT g_country, g_lang, atype, g_day, acct FROM rb_gen) accounts
                GROUP BY 1, 2, 3, 4 HAVING count(*) >= %s""",
            [k],
        )
        cursor.execute(
            """INSERT INTO rb_assign
               SELECT g.raw_pk, g.g_country, g.g_lang, g.g_day, %s
                 FROM rb_gen g JOIN rb_ok o USING (g_country, g_lang, atype, g_day)""",
            [rung["date"]],
        )
        kept = cursor.rowcount
        levels.append({"level": rung["level"], "generalization": rung["generalization"], "rows": kept})
        cursor.execute("DROP TABLE rb_rest")
        cursor.execute(
            """CREATE TEMP TABLE rb_rest ON COMMIT DROP AS
               SELECT g.raw_pk, g.acct, g.raw_country AS country, g.raw_lang AS lang, g.atype, g.raw_day AS day
                 FROM rb_gen g LEFT JOIN rb_ok o USING (g_country, g_lang, atype, g_day)
                WHERE o.g_country IS NULL"""
        )
        if cursor.rowcount == 0:
            break
    cursor.execute("SELECT count(*) FROM rb_rest")
    suppressed = cursor.fetchone()[0]
    cursor.execute("ANALYZE rb_assign")
    return {"levels": levels, "suppressed_rows": suppressed}


def _row_select(version: int) -> tuple[str, list]:
    """The SELECT list of a release row: the codebook's columns, nothing else (the allowlist)."""
    decision_sql, decision_params = base_pseudonym_sql("d.platform_decision_id", kind="decision", version=version)
    account_sql, account_params = base_pseudonym_sql("d.account_id", kind="account", version=version)
    content_sql, content_params = base_pseudonym_sql("d.content_id", kind="content", version=version)
    views = (
        "CASE WHEN d.views_before_action IS NULL THEN NULL WHEN d.views_before_action = 0 THEN '0'"
        " WHEN d.views_before_action <= 100 THEN '1-100' WHEN d.views_before_action <= 1000 THEN '101-1000'"
        " WHEN d.views_before_action <= 10000 THEN '1001-10000' ELSE '>10000' END"
    )
    tta = "(coalesce(d.actioned_at, d.application_date) - d.detected_at)"
    time_to_action = (
        f"CASE WHEN {tta} IS NULL OR {tta} < interval '0' THEN NULL WHEN {tta} < interval '1 hour' THEN '<1h'"
        f" WHEN {tta} < interval '1 day' THEN '1-24h' WHEN {tta} < interval '7 days' THEN '1-7d' ELSE '>7d' END"
    )
    columns = [
        ("decision_id", f"({decision_sql})::text"),
        ("account_id", f"({account_sql})::text"),
        ("content_id", f"({content_sql})::text"),
        ("decided_on", "x.day"),
        ("decided_on_granularity", "x.granularity"),
        ("content_created_month",
         "to_char(coalesce(d.content_created_at, d.content_date) AT TIME ZONE 'UTC', 'YYYY-MM')"),
        ("subject_type", "d.subject_type::text"),
        ("content_type", "d.content_type::text[]"),
        ("decision_visibility", "d.decision_visibility::text[]"),
        ("decision_monetary", "d.decision_monetary::text"),
        ("decision_provision", "d.decision_provision::text"),
        ("decision_account", "d.decision_account::text"),
        ("account_type", "d.account_type::text"),
        ("decision_ground", "d.decision_ground::text"),
        ("category", "d.category::text"),
        ("category_specification", "d.category_specification::text[]"),
        ("policy", "coalesce(d.policy, 'other')::text"),
        ("source_type", "d.source_type::text"),
        ("detection_source", "d.detection_source::text"),
        ("automated_detection", "(d.automated_detection = 'Yes')"),
        ("automated_decision", "d.automated_decision::text"),
        ("territorial_scope", "d.territorial_scope::text[]"),
        ("country", f"nullif(x.country, '{NULL}')"),
        ("content_language", f"nullif(x.lang, '{NULL}')"),
        ("views_before_action", views),
        ("time_to_action", time_to_action),
        ("off_platform_behavior_considered", "d.off_platform_behavior_considered"),
        ("reported_to_law_enforcement", "d.reported_to_law_enforcement"),
        ("appealed", "(a.id IS NOT NULL)"),
        ("appeal_outcome", "a.outcome::text"),
        ("reinstated", "(a.reinstated_at IS NOT NULL)"),
    ]  # fmt: skip
    sql = ",\n".join(f"{expr} AS {name}" for name, expr in columns)
    return sql, decision_params + account_params + content_params


def _build_rows(cursor, release: Release, stages: _Stages) -> dict:
    k = release.k_anonymity
    stats = _k_anonymize(cursor, k)
    stages.done("k-anonymity")
    table = rows_table_name(release.pk)
    # A table of this name can only be a leftover of a discarded database state (ids are never reused).
    cursor.execute(f"DROP TABLE IF EXISTS {table}")
    load_base_pads(cursor, version=release.pseudonym_key_version)  # no key in SQL text (docs/pseudonyms.md)
    select_sql, params = _row_select(release.pseudonym_key_version)
    codebook_columns = [f["column"] for f in release.codebook]
    cursor.execute(
        f"""CREATE TABLE {table} AS
            SELECT (row_number() OVER (ORDER BY s.decided_on, s.decision_id))::bigint AS row_id, s.*
              FROM (SELECT {select_sql}
                      FROM rb_assign x
                      JOIN moderation_data_decision d ON d.id = x.raw_pk
                      LEFT JOIN moderation_data_appeal a ON a.decision_id = d.id) s
             ORDER BY 1""",  # noqa: S608
        params,
    )
    row_count = cursor.rowcount
    stages.done("rows table (pseudonyms, buckets, row_id order)")
    required = [f"ALTER COLUMN {f['column']} SET NOT NULL" for f in release.codebook if not f["nullable"]]
    cursor.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (row_id), {', '.join(required)}")
    for column in INDEXED_COLUMNS:
        cursor.execute(f"CREATE INDEX {table}_{column}_idx ON {table} ({column}, row_id)")
    for column in GIN_COLUMNS:
        cursor.execute(f"CREATE INDEX {table}_{column}_gin ON {table} USING gin ({column})")
    cursor.execute(f"ANALYZE {table}")
    stages.done("indexes and statistics")
    digest = _checksum(cursor, table, codebook_columns)
    stages.done("checksum")
    anonymization = {
        "k": k,
        "quasi_identifiers": QUASI_IDENTIFIERS,
        "account_unit": "distinct accounts (a decision without an account counts as its own account)",
        "ladder": [r["generalization"] for r in LADDER],
        "generalizations": stats["levels"],
        "suppressed_rows": stats["suppressed_rows"],
        "source_rows": sum(level["rows"] for level in stats["levels"]) + stats["suppressed_rows"],
        "released_rows": row_count,
        "pseudonyms": "HMAC-SHA256, keyed per project; base key version "
        f"{release.pseudonym_key_version}",
        "removed_fields": [
            "platform ids and puid", "uuid", "free text (decision_facts, explanations, grounds, *_other, "
            "source_identity)", "URLs", "exact timestamps", "platform_name", "content_id_ean",
        ],
        "checksum": "sha256 of the PostgreSQL COPY text serialization of the codebook columns, ordered by row_id",
    }  # fmt: skip
    return {"rows_table": table, "row_count": row_count, "sha256": digest, "anonymization": anonymization}


def _checksum(cursor, table: str, columns: list[str]) -> str:
    digest = hashlib.sha256()
    raw = cursor.cursor if hasattr(cursor, "cursor") else cursor
    with raw.copy(f"COPY (SELECT row_id, {', '.join(columns)} FROM {table} ORDER BY row_id) TO STDOUT") as copy:  # noqa: S608
        for chunk in copy:
            digest.update(chunk)
    return digest.hexdigest()


def _build_summary(release: Release, stages: _Stages, *, source: Release) -> dict:
    """The public enforcement summary: differentially private counts of the row-level release's rows."""
    if source.dataset.slug != ROW_LEVEL_SLUG:
        raise ValueError(f"the {release.dataset.slug} release is built with its {ROW_LEVEL_SLUG} release")
    summary = build_public_summary(release=release, source=source)
    stages.done("public summary (differential privacy)")
    return {
        "row_count": summary.cells.count(),
        "sha256": summary_digest(summary),
        "anonymization": {
            "rule": "differential privacy: every cell is a noisy count (docs/aggregates.md)",
            "epsilon": float(summary.epsilon),
            "privacy_unit": "account",
            "contribution_bound": summary.contribution_bound,
            "noise_scale": summary.noise_scale,
            "ci95_half_width": summary.ci95_half_width,
            "mechanism": f"discrete Laplace, OpenDP {summary.opendp_version}",
            "source_release": source.version,
        },
    }
