"""Reading release rows for researchers: the query language, keyset pages, pseudonyms on the way out."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

from django.db import connection

from moderation_data.catalog import enums
from moderation_data.catalog.codebook import named_sets_of, query_values
from moderation_data.query import language as ql
from moderation_data.releases.models import Release
from moderation_data.releases.pseudonyms import ProjectPseudonyms, kind_of
from moderation_data.releases.selectors import codebook_fields, release_rows_table
from platform_api.dataapi import statement_timeout
from platform_api.errors import NotFoundError
from platform_api.replicas import release_read

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100


# A release's codebook never changes: its field descriptions are made once per process and release.
_FIELDS: dict[tuple[int, str], dict[str, ql.Field]] = {}


def query_fields(release: Release) -> dict[str, ql.Field]:
    """The codebook of a release as the query language's field descriptions."""
    key = (release.pk, release.rows_table)
    cached = _FIELDS.get(key) if release.pk is not None else None
    if cached is None:
        cached = _query_fields(release)
        if release.pk is not None and release.status == Release.Status.PUBLISHED:
            if len(_FIELDS) > 256:
                _FIELDS.clear()
            _FIELDS[key] = cached
    return dict(cached)


def _query_fields(release: Release) -> dict[str, ql.Field]:
    fields: dict[str, ql.Field] = {}
    for name, entry in codebook_fields(release).items():
        type_ = entry["type"]
        values = query_values(entry)  # the field's domain (docs/query.md)
        if type_ == "enum" and not values:
            type_ = "string"
        fields[name] = ql.Field(
            name=name, type=type_, column=entry["column"], values=values, filterable=entry["filterable"]
        )
    return fields


@dataclasses.dataclass(frozen=True)
class RecordsQuery:
    release: Release
    node: ql.Node
    fields: dict[str, ql.Field]
    selected: list[str]
    fingerprint: str
    grant_id: int | None = None  # cursors open only for the grant they were given to (docs/pseudonyms.md)
    # A grant's data period (docs/dsa-article-40.md), already ANDed into ``node``; kept apart because it is
    # a hard limit: a row outside it is never "possibly" matching (see :func:`generalized_overlap`).
    limits: ql.Node | None = None
    asked: ql.Node | None = None  # ``node`` as the client asked it, without the limits


def build_query(
    release: Release,
    *,
    body_query: dict | None = None,
    get_params: Mapping | None = None,
    requested_fields=None,
    grant=None,
) -> RecordsQuery:
    """Validate a query and a field selection against the release's codebook (400 invalid_query).

    A ``grant`` with data limits (``data_from``, ``data_until``, ``data_fields``: a DSC grant's
    request, docs/dsa-article-40.md) narrows the query: the fields it does not cover cannot be
    selected or filtered (they are unknown to it), and only rows within its period match.
    """
    if not release.rows_table:
        raise NotFoundError(f"Dataset {release.dataset.slug} has no row-level records.")
    fields = query_fields(release)
    slug = release.dataset.slug
    where = f"the codebook: GET /api/v1/datasets/{slug}, or the page /portal/docs/codebook/{slug}"
    visible = fields_within(fields, grant)
    node = (
        ql.parse_get_query(get_params, visible, codebook_ref=where)
        if get_params is not None
        else ql.parse_body_query(body_query, visible, codebook_ref=where)
    )
    selected = ql.parse_fields(requested_fields, visible, default=list(visible))
    precision = precisions(release).get("decided_on", "day")
    asked = node
    node = within_period(node, fields, grant, precision, period_end=release.period_end)
    fingerprint = ql.query_fingerprint(node, {"fields": selected})
    return RecordsQuery(
        release=release,
        node=node,
        fields=fields,
        selected=selected,
        fingerprint=fingerprint,
        grant_id=getattr(grant, "pk", None),
        limits=None if node is asked else node.and_[1],
        asked=asked,
    )


def fields_within(fields: dict[str, ql.Field], grant) -> dict[str, ql.Field]:
    """The fields a grant may read and filter: all, or those of its data limits (docs/dsa-article-40.md)."""
    allowed = set(getattr(grant, "data_fields", None) or ())
    return {name: field for name, field in fields.items() if name in allowed} if allowed else fields


def within_period(
    node: ql.Node, fields: dict[str, ql.Field], grant, precision: str = "day", *, period_end: dt.date | None = None
) -> ql.Node:
    """``node`` narrowed to the rows within the grant's data period, if it has one.

    ``period_end`` is the release's last day: a bucket holds no decision after it.
    """
    period = _period_node(
        fields, getattr(grant, "data_from", None), getattr(grant, "data_until", None), precision, period_end
    )
    return node if period is None else ql.Group(and_=(node, period))


def _bucket_start(day: dt.date, precision: str) -> dt.date:
    if precision == "week":
        return day - dt.timedelta(days=day.weekday())
    if precision == "month":
        return day.replace(day=1)
    if precision == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    if precision == "year":
        return day.replace(month=1, day=1)
    return day


def _bucket_end(day: dt.date, precision: str) -> dt.date:
    """The last day of the date bucket holding ``day``."""
    start = _bucket_start(day, precision)
    if precision == "day":
        return start
    if precision == "week":
        return start + dt.timedelta(days=6)
    month = start.month - 1 + {"month": 1, "quarter": 3, "year": 12}[precision]
    return start.replace(year=start.year + month // 12, month=month % 12 + 1) - dt.timedelta(days=1)


def _period_node(fields: dict[str, ql.Field], start: dt.date | None, end: dt.date | None,
                 precision: str = "day", period_end: dt.date | None = None) -> ql.Node | None:  # fmt: skip
    """Rows whose decision day lies within [start, end], wholly: a row whose decided_on is a week,
    month, quarter or year matches only if that whole bucket does (a limit is never exceeded by rounding)."""
    if "decided_on" not in fields or (start is None and end is None):
        return None
    clauses: list[ql.Node] = []
    if start is not None:  # a bucket is named by its first day (clamped to the release's period start)
        clauses.append(ql.Condition("GTE", "decided_on", (start,)))
    if end is not None:
        # rows of the bucket holding ``end`` match only if that bucket ends by ``end`` (a bucket ends
        # at the latest on the release's last day: it holds no decision after it)
        bucket_end = _bucket_end(end, precision)
        if period_end is not None:
            bucket_end = min(bucket_end, period_end)
        last = end if bucket_end <= end else _bucket_start(end, precision) - dt.timedelta(days=1)
        clauses.append(ql.Condition("LTE", "decided_on", (last,)))
    return ql.Group(and_=tuple(clauses))


# --- honest filters on generalized values (docs/query.md, "Generalized values") ----------------


_PRECISIONS: dict[tuple[int, str], dict[str, str]] = {}


def precisions(release: Release) -> dict[str, str]:
    """The precision of each quasi-identifier of a release (codebook ``precision``; day for old releases).

    Kept per process for published releases, like :func:`query_fields`: their codebook never changes
    (triggers freeze it), and reading it per request cost a query and its JSON (row endpoints defer it).
    """
    key = (release.pk, release.rows_table)
    cached = _PRECISIONS.get(key) if release.pk is not None else None
    if cached is None:
        cached = {name: entry["precision"] for name, entry in codebook_fields(release).items() if "precision" in entry}
        if release.pk is not None and release.status == Release.Status.PUBLISHED:
            if len(_PRECISIONS) > 256:
                _PRECISIONS.clear()
            _PRECISIONS[key] = cached
    return dict(cached)


def _generalized_condition(
    node: ql.Condition, fld: ql.Field, precision: str | None
) -> tuple[str, list, str, list] | None:
    """(possible, certain) SQL of a condition on a generalized field, or None when it is exact."""
    column = f'"{fld.column}"'
    op, values = node.operation, list(node.values)
    if op == "NE":
        return None  # handled by the caller as NOT EQ
    if precision == "withheld":
        return "TRUE", [], "FALSE", []
    if fld.name == "decided_on" and precision and precision != "day":
        end = {"week": "interval '6 days'", "month": "interval '1 month' - interval '1 day'",
               "quarter": "interval '3 months' - interval '1 day'",
               "year": "interval '1 year' - interval '1 day'"}[precision]  # fmt: skip
        bucket_end = f"(date_trunc('{precision}', {column}) + {end})::date"
        if op in ("GTE", "GT"):
            cmp = ">=" if op == "GTE" else ">"
            return f"{bucket_end} {cmp} %s", [values[0]], f"{column} {cmp} %s", [values[0]]
        if op in ("LTE", "LT"):
            cmp = "<=" if op == "LTE" else "<"
            return f"{column} {cmp} %s", [values[0]], f"{bucket_end} {cmp} %s", [values[0]]
        possible = " OR ".join([f"({column} <= %s AND {bucket_end} >= %s)"] * len(values))
        params = [v for value in values for v in (value, value)]
        certain = " OR ".join([f"({column} = %s AND {bucket_end} = %s)"] * len(values))
        return possible, params, certain, list(params)
    if fld.name == "country" and op in ("EQ", "IN"):
        wider = set(values)
        for value in values:
            if value in enums.COUNTRY_TO_REGION or (len(value) == 2 and value.isalpha()):
                wider |= {enums.COUNTRY_TO_REGION.get(value, enums.NON_EEA_REGION), enums.OTHER_COUNTRY}
        return f"{column} = ANY(%s)", [sorted(wider)], f"{column} = ANY(%s)", [values]
    if fld.name == "content_language" and op in ("EQ", "IN"):
        wider = sorted({*values, enums.OTHER_LANGUAGE})
        return f"{column} = ANY(%s)", [wider], f"{column} = ANY(%s)", [values]
    return None


def _ambiguity(node: ql.Node, fields, precision: dict[str, str], negate: bool) -> tuple[str, list, str, list]:
    """(possible, certain): rows that may match given what their generalized values hide, rows that surely do."""
    if isinstance(node, ql.Condition):
        fld = fields[node.field_name]
        flip = node.operation == "NE"
        base = ql.Condition("EQ", node.field_name, node.values) if flip else node
        special = _generalized_condition(base, fld, precision.get(fld.name))
        if special is None:
            params: list = []
            sql = ql._compile_condition(node, fld, negate=negate, params=params)
            return sql, params, sql, list(params)
        possible, possible_params, certain, certain_params = special
        if negate != flip:  # possibly not X = not certainly X; certainly not X = not possibly X
            return (f"({certain}) IS NOT TRUE", certain_params, f"({possible}) IS NOT TRUE", possible_params)
        return possible, possible_params, certain, certain_params
    pos_parts, pos_params, cert_parts, cert_params = [], [], [], []

    def add(child: ql.Node, child_negate: bool, into: tuple[list, list]) -> None:
        p, pp, c, cp = _ambiguity(child, fields, precision, child_negate)
        into[0].append((p, pp))
        into[1].append((c, cp))

    groups: list[tuple[list, list]] = []
    main: tuple[list, list] = ([], [])
    for child in node.and_:
        add(child, negate, main)
    if node.or_:
        alt: tuple[list, list] = ([], [])
        for child in node.or_:
            add(child, negate, alt)
        groups.append(alt)
    for child in node.not_:
        add(child, not negate, main)
    outer, inner = ("OR", "AND") if negate else ("AND", "OR")
    for which, (parts_out, params_out) in ((0, (pos_parts, pos_params)), (1, (cert_parts, cert_params))):
        for sql, params in main[which]:
            parts_out.append(sql)
            params_out.extend(params)
        for alt in groups:
            sqls = [sql for sql, _ in alt[which]]
            parts_out.append(ql._join(inner, sqls, "TRUE" if inner == "AND" else "FALSE"))
            for _, params in alt[which]:
                params_out.extend(params)
    empty = "FALSE" if negate else "TRUE"
    return ql._join(outer, pos_parts, empty), pos_params, ql._join(outer, cert_parts, empty), cert_params


def generalized_overlap(query: RecordsQuery) -> int:
    """Rows whose generalized values may or may not satisfy the query (0 when the query is exact).

    A row counts when the query possibly matches it (some raw value its generalized values stand for
    would match) but not certainly: e.g. ``country EQ DE`` and a row of country EU_WEST, or
    ``decided_on GTE 2025-01-15`` and a row of month precision dated 2025-01-01.
    """
    precision = precisions(query.release)
    # A grant's data period is a hard limit, not a filter whose generalized rows may match: only rows
    # wholly inside it are ever counted (the rows of a date bucket it cuts are outside, as for records).
    asked = query.asked if query.limits is not None else query.node
    possible, possible_params, certain, certain_params = _ambiguity(asked, query.fields, precision, False)
    if possible == certain and possible_params == certain_params:
        return 0
    where, params = f"({possible}) AND ({certain}) IS NOT TRUE", [*possible_params, *certain_params]
    if query.limits is not None:
        limits, limits_params = ql.compile_sql(query.limits, query.fields)
        where, params = f"{where} AND ({limits})", [*params, *limits_params]
    table = release_rows_table(query.release)
    with statement_timeout(), connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table} WHERE {where}", params)  # noqa: S608
        return cursor.fetchone()[0]


def _cursor_binding(query: RecordsQuery) -> dict:
    return {
        "key": ql.cursor_key(),
        "dataset": query.release.dataset.slug,
        "release": query.release.version,
        "grant": query.grant_id if query.grant_id is not None else "",
        "fingerprint": query.fingerprint,
    }


def decode_after(query: RecordsQuery, cursor: str | None) -> int:
    return ql.decode_cursor(cursor, **_cursor_binding(query)) if cursor else 0


@dataclasses.dataclass(frozen=True)
class Page:
    data_json: str  # a JSON array of row objects, produced by PostgreSQL
    rows: int
    next_cursor: str | None


def _select_list(
    query: RecordsQuery, project: ProjectPseudonyms, *, named_sets: bool = False
) -> tuple[list[str], list]:
    """The SELECT expressions of the selected fields (pseudonyms keyed to the project), and their parameters.

    ``named_sets``: a list field equal to one of its named sets (``codebook.named_sets``, e.g. every
    EEA country) is answered with the set's short code instead (the compact layout, docs/query.md).
    """
    select, select_params = [], []
    for name in query.selected:
        field = query.fields[name]
        if field.type == "pseudonym":
            expression, expression_params = project.sql(field.column, kind_of(name))
            select.append(f'{expression} AS "{name}"')
            select_params += expression_params
        elif named_sets and field.type == "list" and (sets := named_sets_of(name)):
            cases = []
            for code, members in sets.items():
                column = field.column
                cases.append(f"WHEN t.{column} @> %s::text[] AND t.{column} <@ %s::text[] THEN ARRAY[%s]::text[]")
                select_params += [list(members), list(members), code]
            select.append(f'CASE {" ".join(cases)} ELSE t.{field.column} END AS "{name}"')
        else:
            select.append(f't.{field.column} AS "{name}"')
    return select, select_params


def _has_pseudonyms(query: RecordsQuery) -> bool:
    return any(query.fields[name].type == "pseudonym" for name in query.selected)


def _matching_sql(query: RecordsQuery) -> tuple[str, list]:
    where, params = ql.compile_sql(query.node, query.fields)
    table = release_rows_table(query.release)
    # Identifiers come from the codebook (validated names), values are all parameters.
    return (
        f"""WITH matching AS (
            SELECT row_id FROM {table} WHERE ({where}) AND row_id > %s ORDER BY row_id LIMIT %s
        ), page AS (
            SELECT row_id FROM matching ORDER BY row_id LIMIT %s
        )""",  # noqa: S608
        params,
    )


def _page_of(query: RecordsQuery, matched: int, last_row_id: int | None, limit: int) -> tuple[int, str | None]:
    rows = min(matched, limit)
    has_more = matched > limit
    next_cursor = ql.encode_cursor(**_cursor_binding(query), last_row_id=last_row_id) if has_more else None
    return rows, next_cursor


def fetch_page(
    query: RecordsQuery, *, after: int, limit: int, project: ProjectPseudonyms, layout: str = "objects"
) -> Page:
    """Up to ``limit`` rows after row ``after`` in row order, and the cursor of the next page (or None).

    PostgreSQL renders the page as JSON and computes the per-project pseudonyms itself (the
    same HMAC as ``ProjectPseudonyms.pseudonym``, its pads loaded with COPY: no key in the SQL
    text): the rows never become Python objects, which makes a
    1,000-row page several times cheaper than fetching and re-encoding them. ``layout``:
    ``objects`` (a JSON array of row objects) or ``columns`` (one JSON array per field, list
    fields equal to a named set as its short code).
    """
    matching, params = _matching_sql(query)
    columns = layout == "columns"
    select, select_params = _select_list(query, project, named_sets=columns)
    table = release_rows_table(query.release)
    rows_sql = f"SELECT t.row_id, {', '.join(select)} FROM {table} t JOIN page USING (row_id)"  # noqa: S608
    if columns:
        pairs = ", ".join(
            f"'{name}', coalesce(json_agg(r.\"{name}\" ORDER BY r.row_id), '[]')" for name in query.selected
        )
        rendered = f"(SELECT json_build_object({pairs})::text FROM ({rows_sql}) r)"  # noqa: S608
        empty = "'{}'"
    else:
        names = ", ".join(f'r."{name}"' for name in query.selected)
        rendered = f"(SELECT json_agg(r)::text FROM (SELECT {names} FROM ({rows_sql}) r ORDER BY r.row_id) r)"  # noqa: S608
        empty = "'[]'"
    sql = f"""{matching}
        SELECT (SELECT count(*) FROM matching), (SELECT max(row_id) FROM page), coalesce({rendered}, {empty})
    """  # noqa: S608
    # Release rows: a read replica serves them when there is one (platform_api.replicas).
    matched, last_row_id, data_json = release_read(
        sql,
        [*params, after, limit + 1, limit, *select_params],
        lambda cursor: cursor.fetchone(),
        prepare=project.load if _has_pseudonyms(query) else None,
    )
    rows, next_cursor = _page_of(query, matched, last_row_id, limit)
    return Page(data_json=data_json, rows=rows, next_cursor=next_cursor)


@dataclasses.dataclass(frozen=True)
class RowsPage:
    rows: list[tuple]  # in query.selected order
    count: int
    next_cursor: str | None


def fetch_page_rows(query: RecordsQuery, *, after: int, limit: int, project: ProjectPseudonyms) -> RowsPage:
    """The rows of :func:`fetch_page` as Python tuples (for the Arrow stream, moderation_data.query.arrow)."""
    matching, params = _matching_sql(query)
    select, select_params = _select_list(query, project)
    table = release_rows_table(query.release)
    # Each row carries the count of matching rows (one more than the page when there is a next page).
    sql = f"""{matching}
        SELECT t.row_id, {", ".join(select)}, (SELECT count(*) FROM matching)
        FROM {table} t JOIN page USING (row_id) ORDER BY t.row_id
    """  # noqa: S608
    fetched = release_read(
        sql,
        [*params, after, limit + 1, limit, *select_params],
        lambda cursor: cursor.fetchall(),
        prepare=project.load if _has_pseudonyms(query) else None,
    )
    matched = fetched[0][-1] if fetched else 0
    last_row_id = fetched[-1][0] if fetched else None
    count, next_cursor = _page_of(query, matched, last_row_id, limit)
    return RowsPage(rows=[row[1:-1] for row in fetched], count=count, next_cursor=next_cursor)


def count(query: RecordsQuery) -> int:
    """Rows matching the query: from the release's count cubes where they answer it (moderation_data.query.counts)."""
    from moderation_data.query.counts import count as fast_count

    return fast_count(query)
