"""The public enforcement summary, from the aggregates' own mechanism (docs/aggregates.md, "The public summary").

One table per dimension of a transparency report (policy, detection source, country or region,
appeal outcome, action), each crossed with the month: decisions counted from the release's rows,
each account contributing at most ``PUBLIC_SUMMARY_CONTRIBUTION_BOUND`` decisions in all (the same
proportional capping as every aggregate), every cell of every table's public domain answered.
Each table is a partition of the same capped decisions, so one account moves the concatenated
vector by at most ``tables × bound`` in L1 norm; one draw of OpenDP's discrete Laplace noise,
calibrated to that and to the release's public ε, covers it all. Computed once when the release is
built and stored: every caller reads the same noisy values.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from django.conf import settings
from django.db import connection

from moderation_data.aggregates import dimensions as dims
from moderation_data.aggregates import mechanism
from moderation_data.aggregates.models import PublicSummary, PublicSummaryCell
from moderation_data.aggregates.table import ensure_aggregation_table
from moderation_data.releases.models import Release


def exact_tables(source: Release, *, bound: int, table: str | None = None) -> dict[str, dict[tuple, int]]:
    """Per summary table, the exact capped count of every (month, value) cell, in units."""
    table = table or ensure_aggregation_table(source)
    dimensions = dims.summary_dimensions(source)
    month = dimensions["month"]
    others = [dimensions[name] for name in dims.SUMMARY_TABLES]
    columns = [month, *others]
    select = ", ".join(f"{d.sql} AS g{i}" for i, d in enumerate(columns))
    sets = ", ".join(f"(g0, g{i})" for i in range(1, len(columns)))
    grouping = ", ".join(f"g{i}" for i in range(1, len(columns)))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(
            f"""SELECT GROUPING({grouping}), g0, {grouping}, sum(w) FROM (
                    SELECT {select}, %s::bigint / greatest(unit_rows, %s) AS w FROM {table}
                ) r GROUP BY GROUPING SETS ({sets})""",  # noqa: S608 - identifiers and expressions from the code
            [bound * mechanism.RESOLUTION, bound],
        )
        rows = cursor.fetchall()
    result: dict[str, dict[tuple, int]] = {
        d.name: dict.fromkeys(((m, v) for m in month.keys for v in d.keys), 0) for d in others
    }
    for mask, month_value, *values in rows:
        units = int(values.pop())
        # GROUPING() has a 0 bit for the one dimension grouped in this row (the highest bit is the first).
        index = next(i for i in range(len(others)) if not mask & (1 << (len(others) - 1 - i)))
        dim = others[index]
        key = dims.locate((month, dim), (month_value, values[index]))
        result[dim.name][key] += units
    return result


def build_public_summary(
    *, release: Release, source: Release, epsilon: Decimal | None = None, bound: int | None = None
) -> PublicSummary:
    """The differentially private summary of ``source``'s rows, stored as ``release``'s; idempotent (once)."""
    existing = PublicSummary.objects.filter(release=release).first()
    if existing is not None:
        return existing
    epsilon = epsilon if epsilon is not None else settings.PUBLIC_SUMMARY_EPSILON
    bound = bound or settings.PUBLIC_SUMMARY_CONTRIBUTION_BOUND
    exact = exact_tables(source, bound=bound)
    cells = [(name, key) for name in dims.SUMMARY_TABLES for key in exact[name]]
    sensitivity = len(dims.SUMMARY_TABLES) * bound * mechanism.RESOLUTION
    noisy, scale = mechanism.add_noise(
        [exact[name][key] for name, key in cells], sensitivity=sensitivity, epsilon=epsilon
    )
    t = mechanism.half_width(scale)
    summary = PublicSummary.objects.create(
        release=release,
        source=source,
        epsilon=epsilon,
        contribution_bound=bound,
        dimensions=list(dims.SUMMARY_TABLES),
        noise_scale=scale / mechanism.RESOLUTION,
        ci95_half_width=t / mechanism.RESOLUTION,
        opendp_version=mechanism.opendp_version(),
    )
    objects = []
    for position, ((name, (month, value)), units) in enumerate(zip(cells, noisy, strict=True)):
        interval = mechanism.count_interval(units, t)
        objects.append(
            PublicSummaryCell(
                summary=summary,
                dimension=name,
                month=month,
                value=str(value),
                decisions=mechanism.to_count(units),
                ci95_low=interval.low,
                ci95_high=interval.high,
                position=position,
            )
        )
    PublicSummaryCell.objects.bulk_create(objects, batch_size=5000)
    return summary


def summary_digest(summary: PublicSummary) -> str:
    """sha256 of the summary's cells (dimension, month, value, decisions, interval), in order."""
    digest = hashlib.sha256()
    for cell in summary.cells.order_by("position").values_list(
        "dimension", "month", "value", "decisions", "ci95_low", "ci95_high"
    ):
        digest.update(("\t".join(str(part) for part in cell) + "\n").encode())
    return digest.hexdigest()
