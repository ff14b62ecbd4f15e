"""The aggregation table of a release: what every aggregate reads (docs/aggregates.md, "How it is computed").

``moderation_data_aggregate_rows_<release id>`` holds the release's rows without pseudonyms, with
two columns more: ``unit``, a dense integer per privacy unit (an account; a decision without an
account is its own unit), and ``unit_rows``, how many rows that unit has in the release. It is
clustered by ``unit_rows`` with a BRIN index on it, so the few rows of prolific accounts, the only
ones whose contribution may need capping, are read as one contiguous range and grouped by a small
integer instead of a 64-character pseudonym. It is derived from the published rows, built once
(at release build, or on first use), and frozen by the same triggers as the rows.
"""

from __future__ import annotations

import time

from django.db import connection, transaction

from moderation_data.aggregates.models import AggregationTable
from moderation_data.releases.models import Release
from moderation_data.releases.selectors import codebook_fields, release_rows_table

_LOCK_NAMESPACE = 0x4147  # pg_advisory_xact_lock(namespace, release id): one build per release at a time


def aggregation_table_name(release_id: int) -> str:
    return f"moderation_data_aggregate_rows_{int(release_id)}"


def copied_columns(release: Release) -> list[str]:
    """Every codebook column but the pseudonyms (never filterable, never grouped, never needed)."""
    return [entry["column"] for entry in codebook_fields(release).values() if entry["type"] != "pseudonym"]


def create_aggregation_table(*, release: Release, source_table: str, name: str) -> tuple[int, int]:
    """Create (frozen) aggregation table ``name`` from rows laid out as ``release``'s codebook says; (rows, units)."""
    fields = codebook_fields(release)
    account, decision = fields["account_id"]["column"], fields["decision_id"]["column"]
    columns = ", ".join(f'"{column}"' for column in copied_columns(release))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '256MB'")
        # A table of this name can only be a leftover of a discarded database state (ids are never reused).
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
        cursor.execute(
            f"""CREATE TABLE {name} AS
                SELECT (dense_rank() OVER (ORDER BY s.unit_key))::int AS unit,
                       (count(*) OVER (PARTITION BY s.unit_key))::int AS unit_rows,
                       {columns}
                  FROM (SELECT coalesce("{account}", 'decision:' || "{decision}") AS unit_key, {columns}
                          FROM {source_table}) s
                 ORDER BY unit_rows, unit"""  # noqa: S608 - identifiers from the codebook
        )
        rows = cursor.rowcount
        cursor.execute(f"CREATE INDEX {name}_unit_rows_brin ON {name} USING brin (unit_rows)")
        cursor.execute(f"ANALYZE {name}")
        cursor.execute(f"SELECT coalesce(max(unit), 0) FROM {name}")  # noqa: S608 - our own table name
        units = cursor.fetchone()[0]
        for event in ("INSERT OR UPDATE OR DELETE", "TRUNCATE"):
            suffix = "_truncate" if event == "TRUNCATE" else ""
            cursor.execute(
                f"CREATE TRIGGER moderation_data_frozen{suffix} BEFORE {event} ON {name} "
                "FOR EACH STATEMENT EXECUTE FUNCTION moderation_data_frozen()"
            )
    return rows, units


def build_aggregation_table(release: Release) -> AggregationTable:
    """Create the release's aggregation table from its rows and record it; runs in the caller's transaction."""
    started = time.monotonic()
    name = aggregation_table_name(release.pk)
    rows, units = create_aggregation_table(release=release, source_table=release_rows_table(release), name=name)
    return AggregationTable.objects.create(
        release=release, table_name=name, rows=rows, units=units, build_seconds=time.monotonic() - started
    )


def ensure_aggregation_table(release: Release) -> str:
    """The name of the release's aggregation table, built now if it does not exist yet (once, whoever asks)."""
    found = AggregationTable.objects.filter(release=release).values_list("table_name", flat=True).first()
    if found:
        return found
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, release.pk])
        found = AggregationTable.objects.filter(release=release).values_list("table_name", flat=True).first()
        return found or build_aggregation_table(release).table_name
