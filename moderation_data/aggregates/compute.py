"""Exact, contribution-bounded group counts of a release, in SQL, before any noise (docs/aggregates.md).

Contribution bounding happens here, per privacy unit (account), before counting: with a bound ``L``
an account with ``m`` matching decisions has each of them count ``floor(L·R / max(m, L))`` units
(``R`` = :data:`~moderation_data.aggregates.mechanism.RESOLUTION` units make one decision), so it
adds at most ``L`` decisions to the whole answer, spread over its groups in proportion, whatever
``m`` is. The weight of a unit depends on that unit's own rows only, so adding or removing one
account changes the vector by at most ``L`` in L1 norm: the sensitivity the noise is calibrated to.

Accounts with at most ``L`` rows in the release (most of them) can never be capped: their rows are
simply counted; only the rows of prolific accounts, one contiguous range of the table, are first
grouped per account to learn how many of them match (see ``table``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from django.db import connection, transaction

from moderation_data.aggregates import dimensions as dims
from moderation_data.aggregates.mechanism import RESOLUTION
from moderation_data.aggregates.spec import AggregateSpec
from moderation_data.query import language as ql
from platform_api.dataapi import statement_timeout


def cell_keys(dimensions: tuple[dims.Dimension, ...]) -> list[tuple]:
    """Every cell of the answer, in domain order (an empty group-by has one cell, the total)."""
    return list(itertools.product(*(d.keys for d in dimensions)))


def _select(dimensions: tuple[dims.Dimension, ...]) -> tuple[str, str]:
    if not dimensions:
        return "0 AS g0", "g0"
    return (
        ", ".join(f"{d.sql} AS g{i}" for i, d in enumerate(dimensions)),
        ", ".join(f"g{i}" for i in range(len(dimensions))),
    )


def _decisions_sql(spec: AggregateSpec, table: str, where: str, params: list) -> tuple[str, list]:
    select, groups = _select(spec.dimensions)
    bound, units = spec.contribution_bound, spec.contribution_bound * RESOLUTION
    column = spec.fields[spec.value.name].column if spec.value else None
    value = spec.value.sql(column) if spec.value else "0"
    where = f"({where}) AND {value} IS NOT NULL" if spec.value else f"({where})"
    if not params and where == "(TRUE)":
        # No filter: an account's matching decisions are all its rows, already counted in unit_rows.
        sql = f"""
            SELECT {groups}, sum(w), sum(v * w) FROM (
                SELECT {select}, %s::bigint / greatest(unit_rows, %s) AS w, {value}::bigint AS v FROM {table}
            ) r GROUP BY {groups}"""  # noqa: S608 - identifiers and expressions from the codebook
        return sql, [units, bound]
    # One parallel scan of the matching rows; only the rows of accounts with more than L rows in the release
    # look up their unit's number of matching rows (a small hash of integers, from their contiguous range).
    sql = f"""
        WITH per_unit AS (
            SELECT unit AS p_unit, count(*) AS p_m FROM {table} WHERE {where} AND unit_rows > %s GROUP BY unit
        )
        SELECT {groups}, sum(w), sum(v * w) FROM (
            SELECT {select},
                   CASE WHEN p_m IS NULL THEN %s::bigint ELSE %s::bigint / greatest(p_m, %s) END AS w,
                   {value}::bigint AS v
              FROM {table} LEFT JOIN per_unit ON p_unit = unit AND unit_rows > %s
             WHERE {where}
        ) r GROUP BY {groups}"""  # noqa: S608 - identifiers and expressions from the codebook
    return sql, [*params, bound, RESOLUTION, units, bound, bound, *params]


def _accounts_sql(spec: AggregateSpec, table: str, where: str, params: list) -> tuple[str, list]:
    select, groups = _select(spec.dimensions)
    bound = min(spec.contribution_bound, spec.cells)
    sql = f"""
        WITH single AS (
            SELECT {select}, count(*) AS n FROM {table} WHERE ({where}) AND unit_rows = 1 GROUP BY {groups}
        ), cells AS (
            SELECT DISTINCT {select}, unit FROM {table} WHERE ({where}) AND unit_rows > 1
        ), weighted AS (
            SELECT {groups}, %s::bigint / greatest(count(*) OVER (PARTITION BY unit), %s)::bigint AS w FROM cells
        )
        SELECT {groups}, sum(units), 0 FROM (
            SELECT {groups}, n * %s AS units FROM single
            UNION ALL
            SELECT {groups}, w FROM weighted
        ) x GROUP BY {groups}"""  # noqa: S608 - identifiers and expressions from the codebook
    return sql, [*params, *params, bound * RESOLUTION, bound, RESOLUTION]


def bounded_vectors(spec: AggregateSpec, *, table: str) -> dict[str, list[int]]:
    """The exact, bounded ``count`` (and ``sum``) of every cell, in units, in :func:`cell_keys` order."""
    where, params = ql.compile_sql(spec.node, spec.fields)
    build = _accounts_sql if spec.measure == "accounts" else _decisions_sql
    sql, sql_params = build(spec, table, where, params)
    # A transaction of its own: web processes run the statement timeout per session, without one, and
    # SET LOCAL outside a transaction does nothing (JIT compiled every aggregate: +150-300 ms at 1M rows).
    with statement_timeout(), transaction.atomic(), connection.cursor() as cursor:
        # Sub-second statements gain nothing from JIT compilation, and the per-account groups want memory.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(sql, sql_params)
        rows = cursor.fetchall()
    return _vectors(spec.dimensions, rows, with_sum=spec.value is not None)


def _vectors(dimensions: tuple[dims.Dimension, ...], rows: Iterable[tuple], *, with_sum: bool) -> dict[str, list[int]]:
    keys = cell_keys(dimensions)
    position = {key: i for i, key in enumerate(keys)}
    count, total = [0] * len(keys), [0] * len(keys)
    width = len(dimensions)
    for row in rows:
        key = dims.locate(dimensions, tuple(row[:width])) if width else ()
        i = position[key]
        count[i] += int(row[max(width, 1)] or 0)
        total[i] += int(row[max(width, 1) + 1] or 0)
    return {"count": count, "sum": total} if with_sum else {"count": count}
