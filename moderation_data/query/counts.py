"""Fast counts: a release's statistics answer ``count`` without scanning its rows.

A release is immutable, so the number of its rows per combination of a few fields never changes.
For a query whose conditions touch a small set of fields (any mix of ``and``, ``or`` and ``not``,
any operation), the count is the sum of ``n`` over the matching lines of the release's *count
cube* on exactly those fields: ``SELECT field_a, field_b, count(*) AS n ... GROUP BY field_a,
field_b``, kept as a table beside the release's rows (``<rows table>_cube_<hash>``). The query's
own WHERE clause runs on the cube unchanged (its columns are the release's), so a cube answers
exactly what a scan of the rows would.

A cube is made the first time its set of fields is counted (one scan, the cost of the count it
replaces) and then serves every later count on those fields in milliseconds, for every grant. It
is made only when it is small: when PostgreSQL's statistics estimate at most ``MAX_CUBE_SHARE`` of
the release's rows as groups (a cube nearly as large as the release would gain nothing); other
queries scan the rows as before. Cubes are dropped with their release's rows table (same prefix).
Cubes are made on the primary; the count itself (of the cube or the rows) is read where
:func:`platform_api.replicas.release_read` says, a read replica when there is one.
"""

from __future__ import annotations

import hashlib
import math

from django.db import connection, transaction

from moderation_data.query import language as ql
from moderation_data.releases.selectors import release_rows_table
from platform_api.replicas import release_read

MAX_CUBE_SHARE = 0.05
MAX_CUBE_FIELDS = 6
# (rows table, columns) whose cube would be too large (per process; statistics of a release never change).
_too_large: set[tuple[str, tuple[str, ...]]] = set()


def referenced_fields(node: ql.Node) -> set[str]:
    if isinstance(node, ql.Condition):
        return {node.field_name}
    names: set[str] = set()
    for child in (*node.and_, *node.or_, *node.not_):
        names |= referenced_fields(child)
    return names


def _estimated_groups(cursor, table: str, columns: tuple[str, ...], rows: int) -> float:
    cursor.execute(
        "SELECT attname, n_distinct, null_frac FROM pg_stats WHERE schemaname = current_schema() AND tablename = %s "
        "AND attname = ANY(%s)",
        [table, list(columns)],
    )
    stats = {name: (n_distinct, null_frac) for name, n_distinct, null_frac in cursor.fetchall()}
    if len(stats) < len(columns):
        return math.inf  # never analyzed: no estimate, no cube
    groups = 1.0
    for n_distinct, null_frac in stats.values():
        distinct = -n_distinct * rows if n_distinct < 0 else n_distinct
        groups *= max(1.0, distinct + (1 if null_frac else 0))
    return groups


def cube_for(query, columns: tuple[str, ...]) -> str | None:
    """The name of the release's count cube on ``columns`` (made now if worthwhile), or None."""
    table = release_rows_table(query.release)
    key = (table, columns)
    if key in _too_large:
        return None
    digest = hashlib.sha256(",".join(columns).encode()).hexdigest()[:12]
    cube = f"{table}_cube_{digest}"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [cube])
        if not cursor.fetchone()[0]:
            rows = query.release.row_count or 0
            if _estimated_groups(cursor, table, columns, rows) > MAX_CUBE_SHARE * max(rows, 1):
                _too_large.add(key)
                return None
            # One builder per cube; the others wait for it and then find it.
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [cube])
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [cube])
            if not cursor.fetchone()[0]:
                cols = ", ".join(columns)
                cursor.execute(
                    f"CREATE TABLE {cube} AS SELECT {cols}, count(*)::bigint AS n FROM {table} GROUP BY {cols}"  # noqa: S608
                )
    return cube


def count(query) -> int:
    """Rows of the release matching ``query`` (from a count cube when the query allows it)."""
    where, params = ql.compile_sql(query.node, query.fields)
    table = release_rows_table(query.release)
    names = referenced_fields(query.node)
    if not names:
        sql = f"SELECT count(*) FROM {table}"  # noqa: S608 - names from the codebook
    else:
        columns = tuple(sorted(query.fields[name].column for name in names))
        cube = cube_for(query, columns) if len(columns) <= MAX_CUBE_FIELDS else None
        if cube is not None:
            sql = f"SELECT coalesce(sum(n), 0) FROM {cube} WHERE {where}"  # noqa: S608
        else:
            sql = f"SELECT count(*) FROM {table} WHERE {where}"  # noqa: S608
    # The rows table and its cubes never change: a read replica answers (platform_api.replicas); one
    # that has not yet replayed a just-made cube is skipped and the primary answers.
    return int(release_read(sql, params, lambda cursor: cursor.fetchone()[0]))
