"""The build of a release from the raw tier, all in set-based SQL (called by ``releases.services``).

A row-level release lives in its own table, ``moderation_data_release_rows_<release id>``:
``row_id bigint`` primary key (dense, 1..n, ordered by decision day: the order of keyset
pagination), typed columns named as in the codebook, and btree indexes ``(column, row_id)`` on
the common filters plus GIN indexes on list columns, all created after the bulk insert. Once
published, triggers make any INSERT, UPDATE, DELETE or TRUNCATE on it fail.

Anonymization (``anonymize``, docs/privacy.md): field allowlist (only codebook columns are ever
selected), base pseudonyms (HMAC in SQL, see ``pseudonyms``), bucketing, then k-anonymity over every
quasi-identifier counting distinct accounts: one precision per field chosen by a lattice search,
local recoding of country to region, suppression (also of classes with a certain sensitive attribute). The
build then measures the result (the privacy report) and refuses a release that fails a check. From
the rows, then, the control totals, the aggregates' table and the differentially private public
summary (``moderation_data.aggregates``, docs/aggregates.md): nothing published beside the rows is an
exact count the rows do not already give.
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
from moderation_data.catalog.models import ROW_LEVEL_SLUG
from moderation_data.releases.models import Release
from moderation_data.releases.pseudonyms import base_pseudonym_sql, load_base_pads

logger = logging.getLogger("moderation_data.releases")

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


class ReleaseError(Exception):
    """A release operation that the release's state or the privacy checks do not allow (shown to staff as is)."""


def _raw_span(cursor) -> tuple[dt.date | None, dt.date | None]:
    cursor.execute(
        "SELECT min(day), max(day) FROM (SELECT (coalesce(actioned_at, application_date) AT TIME ZONE 'UTC')::date"
        " AS day FROM moderation_data_decision) s"
    )
    return cursor.fetchone()


def earlier_releases(release: Release):
    """The released (published or withdrawn) row-level releases of the dataset other than this one."""
    return (
        Release.objects.filter(
            dataset_id=release.dataset_id, status__in=[Release.Status.PUBLISHED, Release.Status.WITHDRAWN]
        )
        .exclude(pk=release.pk)
        .exclude(period_end__isnull=True)
        .order_by("period_end")
    )


def check_period(dataset_id: int, start: dt.date | None, end: dt.date | None, *, exclude: int | None = None) -> None:
    """Refuse a period that overlaps one of a released release of the dataset (composition, docs/privacy.md)."""
    if start and end and start > end:
        raise ReleaseError(f"the period starts ({start}) after it ends ({end})")
    released = Release.objects.filter(
        dataset_id=dataset_id, status__in=[Release.Status.PUBLISHED, Release.Status.WITHDRAWN]
    ).exclude(pk=exclude)
    for other in released.exclude(period_start__isnull=True).exclude(period_end__isnull=True):
        if (start is None or start <= other.period_end) and (end is None or end >= other.period_start):
            raise ReleaseError(
                f"the period {start or '…'} to {end or '…'} overlaps release {other.version} "
                f"({other.period_start} to {other.period_end}): releases of a dataset cover disjoint periods, so "
                f"that joining them cannot undo their anonymization (docs/privacy.md); start on "
                f"{other.period_end + dt.timedelta(days=1)} or later"
            )


def _period(cursor, release: Release) -> tuple[dt.date | None, dt.date | None]:
    """The release's period: as given, else from the day after the latest released release up to yesterday."""
    lo, hi = _raw_span(cursor)
    yesterday = timezone.now().date() - dt.timedelta(days=1)
    previous = earlier_releases(release).last()
    start = release.period_start or (previous.period_end + dt.timedelta(days=1) if previous else lo)
    end = release.period_end or (min(hi, yesterday) if hi else None)
    if start and end and start > end:
        raise ReleaseError(
            f"nothing to release: the period would start on {start} (the day after the previous release "
            f"{previous.version if previous else ''} ends) but the data ends on {end}"
        )
    check_period(release.dataset_id, start, end, exclude=release.pk)
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
        companion = release.companion if release.dataset.slug == ROW_LEVEL_SLUG else None
        targets = [release] + ([companion] if companion and companion.status == Release.Status.BUILDING else [])
        control_totals: list[dict] = []
        for target in targets:
            if target.dataset.slug == ROW_LEVEL_SLUG:
                fields = _build_rows(cursor, target, stages, start, end)
                control_totals = fields.pop("control_totals")
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


def _control_totals(cursor, table: str, precision: str) -> list[dict]:
    """Decisions per released date bucket and policy, counted on the released rows (no side channel)."""
    cursor.execute(f"SELECT decided_on, policy, count(*) FROM {table} GROUP BY 1, 2 ORDER BY 1, 2")  # noqa: S608
    return [
        {"period": day.isoformat(), "precision": precision, "month": day.strftime("%Y-%m"), "policy": policy,
         "decisions": n}
        for day, policy, n in cursor.fetchall()
    ]  # fmt: skip


def _row_select(version: int) -> tuple[str, list]:
    """The SELECT list of a release row: the codebook's columns, nothing else (the allowlist)."""
    from moderation_data.releases import anonymize  # numpy and pyarrow: loaded by builds, not by every process

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

    def q(name: str) -> str:
        return f"nullif(x.{anonymize._col(name)}, '{anonymize.NULL}')"

    def q_list(name: str) -> str:
        return f"string_to_array({q(name)}, '{anonymize.SEP}')"

    columns = [
        ("decision_id", f"({decision_sql})::text"),
        ("account_id", f"({account_sql})::text"),
        ("content_id", f"({content_sql})::text"),
        ("decided_on", f"{q('decided_on')}::date"),
        ("content_created_month", q("content_created_month")),
        ("subject_type", q("subject_type")),
        ("content_type", q_list("content_type")),
        ("decision_visibility", q_list("decision_visibility")),
        ("decision_monetary", q("decision_monetary")),
        ("decision_provision", q("decision_provision")),
        ("decision_account", q("decision_account")),
        ("account_type", q("account_type")),
        ("decision_ground", q("decision_ground")),
        ("category", q("category")),
        ("category_specification", q_list("category_specification")),
        ("policy", q("policy")),
        ("source_type", q("source_type")),
        ("detection_source", q("detection_source")),
        ("automated_detection", f"({q('automated_detection')} = 'Yes')"),
        ("automated_decision", q("automated_decision")),
        ("territorial_scope", q_list("territorial_scope")),
        ("country", q("country")),
        ("content_language", q("content_language")),
        ("views_before_action", views),
        ("time_to_action", time_to_action),
        # Sensitive attributes as recorded: a class where one is certain is suppressed, never marked.
        ("off_platform_behavior_considered", "d.off_platform_behavior_considered"),
        ("reported_to_law_enforcement", "d.reported_to_law_enforcement"),
        ("appealed", "(a.id IS NOT NULL)"),
        ("appeal_outcome", "a.outcome::text"),
        ("reinstated", "(a.reinstated_at IS NOT NULL)"),
    ]  # fmt: skip
    sql = ",\n".join(f"{expr} AS {name}" for name, expr in columns)
    return sql, decision_params + account_params + content_params


def _build_rows(cursor, release: Release, stages: _Stages, start: dt.date | None, end: dt.date | None) -> dict:
    from moderation_data.releases import anonymize  # numpy and pyarrow: loaded by builds, not by every process

    k = max(release.k_anonymity, anonymize.MIN_K)
    ctx = anonymize.Context(period_start=start or dt.date.min, period_end=end or dt.date.max)
    anonymize.create_source(cursor, start or dt.date.min, end or dt.date.max)
    stages.done("source snapshot")
    earlier = list(earlier_releases(release).values_list("pk", flat=True))
    prior = anonymize.prior_sql(earlier)
    found = anonymize.search(cursor, ctx, k, prior)
    stages.done("lattice search (one precision per field)")
    stats = anonymize.apply(cursor, ctx, k, found.levels, prior)
    stages.done("k-anonymity applied (local recoding, suppression, certain sensitive attributes)")
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
    precision = {name: anonymize.BY_NAME[name].levels[level] for name, level in found.levels.items()}
    report = anonymize.privacy_report(cursor, table, k=k, ctx=ctx, levels=found.levels, stats=stats)
    stages.done("privacy report")
    anonymize.record_account_precision(cursor, release.pk)
    failures = report["failures"]
    if failures:
        raise ReleaseError("the release is not anonymous enough to publish: " + "; ".join(failures))
    anonymization = {
        "k": k,
        "quasi_identifiers": anonymize.QUASI_IDENTIFIERS,
        "tdb_visible_fields": anonymize.TDB_FIELDS,
        "account_unit": "distinct accounts (a decision without an account counts as its own account)",
        "precision": precision,
        "hierarchies": {h.name: list(h.levels) for h in anonymize.HIERARCHIES},
        "search": {"evaluations": found.evaluations, "estimated_suppressed_share": round(found.suppressed_share, 5),
                   "max_suppression": anonymize.MAX_SUPPRESSION},
        "recoded_accounts_rows": stats["recoded_rows"],
        "suppressed_rows": stats["suppressed_rows"],
        "suppressed_for_union": stats["suppressed_for_union"],
        "suppressed_for_certain_attributes": stats["suppressed_for_certain_attributes"],
        "suppressed_for_certain_attributes_rows": stats["suppressed_for_certain_attributes_rows"],
        "source_rows": stats["source_rows"],
        "released_rows": row_count,
        "pseudonyms": "HMAC-SHA256, keyed per project; base key version "
        f"{release.pseudonym_key_version}",
        "removed_fields": [
            "platform ids and puid", "uuid", "free text (decision_facts, explanations, grounds, *_other, "
            "source_identity)", "URLs", "exact timestamps", "platform_name", "content_id_ean",
        ],
        "checksum": "sha256 of the PostgreSQL COPY text serialization of the codebook columns, ordered by row_id",
    }  # fmt: skip
    codebook = anonymize.codebook_with_precision(release.codebook, found.levels)
    return {
        "rows_table": table, "row_count": row_count, "sha256": digest, "anonymization": anonymization,
        "privacy_report": report, "codebook": codebook,
        "control_totals": _control_totals(cursor, table, precision["decided_on"]),
    }  # fmt: skip


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
