"""k-anonymity over every quasi-identifier of a release: one precision per field, chosen for utility.

The privacy unit is the account (docs/privacy.md). Every field an adversary can know about a
decision is a quasi-identifier (QI): whatever the EU DSA Transparency Database (TDB) publishes per
statement of reasons, plus ``country``, ``territorial_scope``, ``content_language``,
``account_type``, ``policy``, ``detection_source`` and ``subject_type``. An equivalence class (rows
with equal released QI values) must hold at least k distinct accounts.

How, in three steps:

1. **Hierarchies.** Each QI has a ladder of precisions (``HIERARCHIES``): dates day → week → month
   → quarter → year (a bucket is named by its first day, clamped to the release's period start),
   country → region → OTHER (``territorial_scope`` follows the country's precision, so it never
   says more than the country), list fields → groups → withheld, enums → withheld.
2. **Global lattice search** (in memory, numpy): one precision per field for the whole release,
   top-down: start with every field at its coarsest precision and refine, one step at a time, the
   field whose next precision is worth most (a weight per field: ``policy`` first, then dates,
   country, detection source, …), as long as no more than ``MAX_SUPPRESSION`` of the rows fall in
   classes under k.
3. **Exact application in SQL**: the chosen precisions are applied to every row, rows still in a
   small class get their country (and scope) generalized to the region (local recoding), classes
   are counted again, and what remains under k is suppressed, as are the classes in which a
   sensitive attribute is certain (suppressed, never marked: a mark would itself say "certain").

Composition across releases of a dataset: account-level values (country, content_language,
account_type) of an account are never finer than in an earlier release (the precision each
release gave each account is kept in :class:`AccountPrecision`, keyed by a hash of the raw id),
and classes are also counted with an account's finest value known from earlier releases, so
joining releases does not shrink a class under k.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import logging
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from moderation_data.catalog import enums, generalization

logger = logging.getLogger("moderation_data.releases")

MIN_K = 10  # whatever a dataset says, a class holds at least this many accounts
MAX_SUPPRESSION = 0.02  # the share of rows the search may leave in classes under k
NULL = "\x1f"  # NULL inside work tables (joins and maps can hash it)
SEP = "|"  # list elements inside work tables (sorted)
EEA_SCOPE, PARTIAL_EEA_SCOPE = generalization.EEA_SCOPE, generalization.PARTIAL_EEA_SCOPE
CONTENT_TYPE_GROUPS, VISIBILITY_GROUPS = generalization.CONTENT_TYPE_GROUPS, generalization.VISIBILITY_GROUPS
WITHHELD = None
# Sensitive attributes: never certain (every account of a class sharing a non-default value).
SENSITIVE = ["reported_to_law_enforcement", "off_platform_behavior_considered", "appealed", "appeal_outcome",
             "reinstated"]  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Hierarchy:
    """One quasi-identifier: its precisions (finest first) and how a raw value reads at each."""

    name: str
    source_sql: str  # the raw value as text in rb_src (lists: sorted elements joined by SEP)
    levels: tuple[str, ...]
    weight: float  # information loss of its coarsest precision (utility of the field)
    generalize: Callable[[str | None, int, Context], str | None]
    tdb: bool = True  # published per decision by the DSA Transparency Database
    account_level: bool = False  # a property of the account rather than of the decision


@dataclasses.dataclass(frozen=True)
class Context:
    period_start: dt.date
    period_end: dt.date
    # each field's raw values in rb_src, filled by ``search`` for ``apply`` (saves a scan per field)
    domains: dict[str, list[str]] = dataclasses.field(default_factory=dict, compare=False, hash=False)


def _date_bucket(value: str | None, level: int, ctx: Context) -> str | None:
    if value is None:
        return None
    day = dt.date.fromisoformat(value)
    unit = DATE_LEVELS[level]
    if unit == "week":
        day = day - dt.timedelta(days=day.weekday())
    elif unit == "month":
        day = day.replace(day=1)
    elif unit == "quarter":
        day = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    elif unit == "year":
        day = day.replace(month=1, day=1)
    return max(day, ctx.period_start).isoformat()  # never outside the release's period


DATE_LEVELS = ("day", "week", "month", "quarter", "year")
MONTH_LEVELS = ("month", "quarter", "year", "withheld")


def _month_bucket(value: str | None, level: int, ctx: Context) -> str | None:
    if value is None or MONTH_LEVELS[level] == "withheld":
        return None
    year, month = int(value[:4]), int(value[5:7])
    if MONTH_LEVELS[level] == "quarter":
        month = (month - 1) // 3 * 3 + 1
    elif MONTH_LEVELS[level] == "year":
        month = 1
    return f"{year:04d}-{month:02d}"


def _country(value: str | None, level: int, ctx: Context) -> str | None:
    if value is None or level == 0:
        return value
    if level == 1:
        return enums.COUNTRY_TO_REGION.get(value, enums.NON_EEA_REGION)
    return enums.OTHER_COUNTRY


def scope_at(value: str | None, level: int) -> str | None:
    """territorial_scope at a country precision: 0 the countries, 1 their regions (or EEA), 2 EEA or part."""
    if value is None or level == 0:
        return value
    codes = set(value.split(SEP)) if value else set()
    if codes >= set(enums.EUROPEAN_COUNTRY_CODES):
        return EEA_SCOPE
    if level == 1:
        return SEP.join(sorted({enums.COUNTRY_TO_REGION.get(c, PARTIAL_EEA_SCOPE) for c in codes}))
    return PARTIAL_EEA_SCOPE


def _scope(value: str | None, level: int, ctx: Context) -> str | None:
    return scope_at(value, level)


def _language(value: str | None, level: int, ctx: Context) -> str | None:
    return value if value is None or level == 0 else enums.OTHER_LANGUAGE


def _raw_or_withheld(value: str | None, level: int, ctx: Context) -> str | None:
    return value if level == 0 else WITHHELD


def _grouped(groups: dict[str, str], fallback: str) -> Callable:
    def generalize(value: str | None, level: int, ctx: Context) -> str | None:
        if value is None or level == 0:
            return value
        if level == 2:
            return WITHHELD
        return SEP.join(sorted({groups.get(v, fallback) for v in value.split(SEP) if v})) or None

    return generalize


def _list_sql(column: str) -> str:
    # Elements in their recorded order (a reordered list is a class of its own: finer, never coarser).
    return f"nullif(array_to_string(d.{column}::text[], '{SEP}'), '')"


DAY_SQL = "(coalesce(d.actioned_at, d.application_date) AT TIME ZONE 'UTC')::date"
HIERARCHIES: list[Hierarchy] = [
    Hierarchy("decided_on", f"{DAY_SQL}::text", DATE_LEVELS, 10, _date_bucket),
    Hierarchy("content_created_month",
              "to_char(coalesce(d.content_created_at, d.content_date) AT TIME ZONE 'UTC', 'YYYY-MM')",
              MONTH_LEVELS, 1, _month_bucket),
    Hierarchy("country", "d.uploader_country", ("country", "region", "any"), 7, _country, tdb=False,
              account_level=True),
    Hierarchy("territorial_scope", _list_sql("territorial_scope"), ("countries", "regions", "EEA or part"), 0,
              _scope),  # tied to country: never searched on its own
    Hierarchy("content_language", "d.content_language", ("language", "other"), 3, _language, account_level=True),
    Hierarchy("account_type", "d.account_type", ("type", "withheld"), 2, _raw_or_withheld, account_level=True),
    Hierarchy("policy", "coalesce(d.policy, 'other')", ("policy", "withheld"), 30, _raw_or_withheld, tdb=False),
    Hierarchy("detection_source", "d.detection_source", ("source", "withheld"), 6, _raw_or_withheld, tdb=False),
    Hierarchy("subject_type", "d.subject_type", ("type", "withheld"), 4, _raw_or_withheld, tdb=False),
    Hierarchy("category", "d.category", ("category", "withheld"), 5, _raw_or_withheld),
    Hierarchy("category_specification", _list_sql("category_specification"), ("keywords", "withheld"), 2,
              _raw_or_withheld),
    Hierarchy("content_type", _list_sql("content_type"), ("types", "groups", "withheld"), 3,
              _grouped(CONTENT_TYPE_GROUPS, "CONTENT_TYPE_GROUP_OTHER")),
    Hierarchy("decision_visibility", _list_sql("decision_visibility"), ("restrictions", "groups", "withheld"), 3,
              _grouped(VISIBILITY_GROUPS, "DECISION_VISIBILITY_GROUP_RESTRICTED")),
    Hierarchy("decision_monetary", "d.decision_monetary", ("value", "withheld"), 1, _raw_or_withheld),
    Hierarchy("decision_provision", "d.decision_provision", ("value", "withheld"), 1, _raw_or_withheld),
    Hierarchy("decision_account", "d.decision_account", ("value", "withheld"), 2, _raw_or_withheld),
    Hierarchy("decision_ground", "d.decision_ground", ("ground", "withheld"), 4, _raw_or_withheld),
    Hierarchy("source_type", "d.source_type", ("type", "withheld"), 2, _raw_or_withheld),
    Hierarchy("automated_detection", "d.automated_detection", ("value", "withheld"), 2, _raw_or_withheld),
    Hierarchy("automated_decision", "d.automated_decision", ("value", "withheld"), 4, _raw_or_withheld),
]  # fmt: skip
BY_NAME = {h.name: h for h in HIERARCHIES}
QUASI_IDENTIFIERS = [h.name for h in HIERARCHIES]
TDB_FIELDS = [h.name for h in HIERARCHIES if h.tdb]
SEARCHED = [h for h in HIERARCHIES if h.name != "territorial_scope"]
LOADED = HIERARCHIES  # territorial_scope is counted, at the country's precision
ACCOUNT_LEVEL = [h.name for h in HIERARCHIES if h.account_level]


def _col(name: str) -> str:
    return f"q_{name}"


# --------------------------------------------------------------------------------------------
# Step 1: the source rows of the period


def create_source(cursor, start: dt.date, end: dt.date) -> None:
    """rb_src: every raw decision of the period, its account hash, raw QI values (text) and sensitive values."""
    qi = ",\n".join(f"coalesce(({h.source_sql})::text, '{NULL}') AS {_col(h.name)}" for h in HIERARCHIES)
    cursor.execute("DROP TABLE IF EXISTS rb_src")
    cursor.execute(
        f"""CREATE TEMP TABLE rb_src ON COMMIT DROP AS
            SELECT d.id AS raw_pk,
                   -- 64-bit hashes count distinct accounts faster than text; a collision could only
                   -- make a class look smaller, never larger, so k-anonymity is never overstated.
                   hashtextextended(coalesce(d.account_id, 'decision:' || d.platform_decision_id), 0) AS acct,
                   {DAY_SQL} AS day,
                   {qi},
                   d.reported_to_law_enforcement AS s_rle,
                   d.off_platform_behavior_considered AS s_off,
                   (a.id IS NOT NULL) AS s_appealed,
                   a.outcome::text AS s_outcome,
                   (a.reinstated_at IS NOT NULL) AS s_reinstated
              FROM moderation_data_decision d
              LEFT JOIN moderation_data_appeal a ON a.decision_id = d.id
             WHERE {DAY_SQL} BETWEEN %s AND %s""",  # noqa: S608 - column expressions are constants
        [start, end],
    )
    cursor.execute("ANALYZE rb_src")


# --------------------------------------------------------------------------------------------
# Step 2: the lattice search


@dataclasses.dataclass
class Search:
    levels: dict[str, int]
    suppressed_share: float
    evaluations: int
    rows: int


def _raw(value: str) -> str | None:
    return None if value == NULL else value


def _np(array) -> np.ndarray:
    """A non-null int32 arrow array as numpy, without pyarrow's pandas shim (slow to import)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks else pa.array([], type=array.type)
    if len(array) == 0:
        return np.zeros(0, np.int32)
    return np.frombuffer(array.buffers()[1], dtype=np.int32, count=len(array), offset=array.offset * 4)


LOAD_BLOCK_BYTES = 64 << 20  # CSV parsed per block: the load holds integer codes, never the whole text


class _Codes:
    """One field's raw values as dense int32 codes, numbered in order of first appearance."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.parts: list[np.ndarray] = []

    def add(self, column) -> None:
        for chunk in column.chunks:
            if not len(chunk):
                continue
            local = np.array([self.index.setdefault(v, len(self.index)) for v in chunk.dictionary.to_pylist()],
                             dtype=np.int32)  # fmt: skip
            self.parts.append(local[_np(chunk.indices)])

    def result(self) -> tuple[list, np.ndarray]:
        codes = np.concatenate(self.parts) if self.parts else np.zeros(0, np.int32)
        return [_raw(v) for v in self.index], codes


def _load(cursor, prior_sql: str) -> tuple[np.ndarray, dict[str, tuple[list, np.ndarray]], dict[str, np.ndarray]]:
    """Every source row's account index and raw codes per field.

    The rows arrive as CSV from COPY and are parsed a block at a time (pyarrow, dictionary-encoded),
    so memory holds 4 bytes per field and row, never the text: 10⁷ rows need about 1 GB.
    """
    columns = ", ".join(_col(h.name) for h in LOADED)
    prior = ", ".join(f"coalesce(p.{name}, 0)" for name in ACCOUNT_LEVEL)
    names = ["acct", *[f"prior_{n}" for n in ACCOUNT_LEVEL], *[h.name for h in LOADED]]
    types = {"acct": pa.int64()} | {n: pa.int32() for n in names[1 : 1 + len(ACCOUNT_LEVEL)]}
    types |= {h.name: pa.dictionary(pa.int32(), pa.string()) for h in LOADED}
    read = pacsv.ReadOptions(column_names=names, block_size=LOAD_BLOCK_BYTES)
    convert = pacsv.ConvertOptions(column_types=types, strings_can_be_null=False, quoted_strings_can_be_null=False)
    hashes: list[np.ndarray] = []
    priors: dict[str, list[np.ndarray]] = {n: [] for n in ACCOUNT_LEVEL}
    fields = {h.name: _Codes() for h in LOADED}

    def parse(block: list) -> None:
        table = pacsv.read_csv(io.BytesIO(b"".join(block)), read_options=read, convert_options=convert)
        for chunk in table.column("acct").chunks:
            hashes.append(np.frombuffer(chunk.buffers()[1], dtype=np.int64, count=len(chunk), offset=chunk.offset * 8))
        for n in ACCOUNT_LEVEL:
            priors[n].append(_np(table.column(f"prior_{n}")))
        for h in LOADED:
            fields[h.name].add(table.column(h.name))

    raw = cursor.cursor if hasattr(cursor, "cursor") else cursor
    sql = (
        f"COPY (SELECT s.acct, {prior}, {columns} FROM rb_src s "  # noqa: S608
        f"LEFT JOIN ({prior_sql}) p ON p.acct = s.acct) TO STDOUT WITH (FORMAT csv)"
    )
    block, size = [], 0
    with raw.copy(sql) as copy:
        for chunk in copy:  # one row per chunk
            block.append(chunk)
            size += len(chunk)
            if size >= LOAD_BLOCK_BYTES:
                parse(block)
                block, size = [], 0
    if block:
        parse(block)
    if not hashes:  # no decision in the period
        empty = {h.name: ([], np.zeros(0, np.int32)) for h in LOADED}
        return np.zeros(0, np.int64), empty, {n: np.zeros(0, np.int32) for n in ACCOUNT_LEVEL}
    acct = np.unique(np.concatenate(hashes), return_inverse=True)[1].astype(np.int64).ravel()  # dense account index
    codes = {name: field.result() for name, field in fields.items()}
    return acct, codes, {n: np.concatenate(parts) for n, parts in priors.items()}


def _mix(values: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64 of (value, field): per-field hashes that are summed into a class key."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) + np.uint64(salt) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


class _Evaluator:
    """Rows in classes under k for a choice of precisions, on hashed class keys (in memory).

    A class key is the sum of one hash per field, so trying another precision of one field costs one
    field's hash, not all of them. Hash-keyed counts are a search estimate; the exact ones are SQL's.
    """

    def __init__(self, acct, codes, prior, ctx: Context, k: int):
        self.acct, self.k, self.n = acct, k, len(acct)
        self.accounts = int(acct.max()) + 1 if self.n else 1
        self.prior = prior
        self.raw = {h.name: codes[h.name][1] for h in LOADED}
        # generalized code of each raw code at each level (small tables, applied on demand)
        self.maps: dict[str, list[np.ndarray]] = {}
        for h in LOADED:
            domain = codes[h.name][0]
            tables = []
            for level in range(len(h.levels)):
                outs: dict[str | None, int] = {}
                tables.append(np.array([outs.setdefault(h.generalize(v, level, ctx), len(outs)) for v in domain]
                                       or [0], dtype=np.int64))  # fmt: skip
            self.maps[h.name] = tables
        self.evaluations = 0
        self.salts = {h.name: i + 1 for i, h in enumerate(LOADED)}
        self.parts: dict[str, tuple[int, np.ndarray]] = {}
        self.key = np.zeros(self.n, dtype=np.uint64)

    def field_hash(self, name: str, level: int) -> np.ndarray:
        tables, raw = self.maps[name], self.raw[name]
        prior = self.prior.get("country" if name == "territorial_scope" else name)
        if prior is not None and self.n and int(prior.max(initial=0)) > level:
            per_row = np.minimum(np.maximum(prior, level), len(tables) - 1)
            codes = np.zeros(self.n, dtype=np.int64)
            for lv in np.unique(per_row):
                rows = per_row == lv
                codes[rows] = tables[int(lv)][raw[rows]] + 1_000_000 * int(lv)
        else:
            codes = tables[level][raw] + 1_000_000 * level
        return _mix(codes, self.salts[name])

    def set_levels(self, levels: dict[str, int]) -> None:
        with np.errstate(over="ignore"):
            for h in LOADED:
                level = levels["country"] if h.name == "territorial_scope" else levels[h.name]
                if self.parts.get(h.name, (None,))[0] == level:
                    continue
                if h.name in self.parts:
                    self.key -= self.parts[h.name][1]
                part = self.field_hash(h.name, level)
                self.key += part
                self.parts[h.name] = (level, part)

    def suppressed(self, levels: dict[str, int]) -> int:
        """Rows in classes of fewer than k distinct accounts at ``levels`` (which become current)."""
        self.evaluations += 1
        if not self.n:
            return 0
        self.set_levels(levels)
        _, cls = np.unique(self.key, return_inverse=True)
        cls = cls.astype(np.int64).ravel()
        pairs = np.unique(cls * self.accounts + self.acct)
        per_class = np.bincount(pairs // self.accounts, minlength=int(cls.max()) + 1)
        return int((per_class[cls] < self.k).sum())


def search(cursor, ctx: Context, k: int, prior_sql: str, max_suppression: float = MAX_SUPPRESSION) -> Search:
    """Top-down greedy over the lattice: refine, while the suppression budget allows, the most useful field.

    Candidates are tried in order of value (weight per precision step); the first that fits is taken.
    One that does not fit never will (refining other fields only splits classes further), so it is
    dropped for good: the search costs about one evaluation per step and per field.
    """
    acct, codes, prior = _load(cursor, prior_sql)
    ev = _Evaluator(acct, codes, prior, ctx, k)
    budget = int(max_suppression * ev.n)
    levels = {h.name: len(h.levels) - 1 for h in SEARCHED}
    current = ev.suppressed(levels)
    dead: set[str] = set()
    while True:
        candidates = sorted(
            (h for h in SEARCHED if levels[h.name] > 0 and h.weight > 0 and h.name not in dead),
            key=lambda h: -h.weight / (len(h.levels) - 1),
        )
        taken = False
        for h in candidates:
            trial = {**levels, h.name: levels[h.name] - 1}
            rows = ev.suppressed(trial)
            if rows <= max(budget, current):
                levels, current, taken = trial, rows, True
                break
            dead.add(h.name)
        if not taken:
            break
    levels["territorial_scope"] = levels["country"]
    ctx.domains.update({h.name: [NULL if v is None else v for v in codes[h.name][0]] for h in LOADED})
    return Search(levels=levels, suppressed_share=current / ev.n if ev.n else 0.0, evaluations=ev.evaluations,
                  rows=ev.n)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Step 3: exact application in SQL


def _maps(
    cursor, ctx: Context, levels: dict[str, int], local_levels: dict[str, list[int]], domains: dict[str, list[str]]
) -> set[tuple[str, int]]:
    """rb_map(field, level, raw, out): each raw value of the period at the levels in use.

    Returns the (field, level) pairs where every value reads as itself (no join needed)."""
    cursor.execute("DROP TABLE IF EXISTS rb_map")
    cursor.execute("CREATE TEMP TABLE rb_map (field text, level int, raw text, out text) ON COMMIT DROP")
    rows = []
    identity = set()
    for h in HIERARCHIES:
        domain = domains.get(h.name)
        if domain is None:
            cursor.execute(f"SELECT DISTINCT {_col(h.name)} FROM rb_src")  # noqa: S608
            domain = [r[0] for r in cursor.fetchall()]
        for level in sorted({levels[h.name], *local_levels.get(h.name, [])}):
            same = True
            for value in domain:
                out = h.generalize(_raw(value), level, ctx)
                out = NULL if out is None else out
                same = same and out == value
                rows.append((h.name, level, value, out))
            if same:
                identity.add((h.name, level))
    raw = cursor.cursor if hasattr(cursor, "cursor") else cursor
    with raw.copy("COPY rb_map (field, level, raw, out) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    cursor.execute("CREATE INDEX ON rb_map (field, level, raw)")
    cursor.execute("ANALYZE rb_map")
    # One small table per field: the row joins hash them (a nested loop per field would cost millions of probes).
    for i, h in enumerate(HIERARCHIES):
        cursor.execute(f"DROP TABLE IF EXISTS rb_m{i}")
        cursor.execute(
            f"CREATE TEMP TABLE rb_m{i} ON COMMIT DROP AS SELECT level, raw, out FROM rb_map WHERE field = %s",  # noqa: S608
            [h.name],
        )
        cursor.execute(f"ANALYZE rb_m{i}")
    return identity


class _HashJoins:
    """Within the block, no nested-loop joins: the work tables' joins and row-value ``IN`` match on up to
    20 columns, which the planner estimates at one row (independent selectivities multiplied), so it
    would otherwise loop over millions of rows per row. Every statement here is bulk: hash joins win."""

    def __init__(self, cursor) -> None:
        self.cursor = cursor

    def __enter__(self) -> None:
        self.cursor.execute("SELECT current_setting('enable_nestloop'), current_setting('jit')")
        self.previous = self.cursor.fetchone()
        self.cursor.execute("SET LOCAL enable_nestloop = off")
        # Before PostgreSQL 17 a disabled node adds 10^10 to a plan's cost, so any plan that still needs a
        # nested loop (a cross join with generate_series) crosses jit_above_cost, and JIT compiled tiny
        # statements: 0.28 s of compiling for 1,600 rows, 80% of a small build. Costs mean nothing here.
        self.cursor.execute("SET LOCAL jit = off")

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.cursor.execute(
                "SELECT set_config('enable_nestloop', %s, true), set_config('jit', %s, true)", list(self.previous)
            )


def apply(cursor, ctx: Context, k: int, levels: dict[str, int], prior_sql: str) -> dict:
    """rb_assign(raw_pk, acct, q_<field>…, lv_country, lv_content_language, lv_account_type, s_<sensitive>…)."""
    with _HashJoins(cursor):
        return _apply(cursor, ctx, k, levels, prior_sql, ctx.domains)


def _apply(cursor, ctx: Context, k: int, levels: dict[str, int], prior_sql: str, domains: dict) -> dict:
    account_level_levels = {name: list(range(levels[name], len(BY_NAME[name].levels))) for name in ACCOUNT_LEVEL}
    account_level_levels["country"] = list(range(len(BY_NAME["country"].levels)))
    account_level_levels["content_language"] = list(range(len(BY_NAME["content_language"].levels)))
    account_level_levels["account_type"] = list(range(len(BY_NAME["account_type"].levels)))
    account_level_levels["territorial_scope"] = account_level_levels["country"]
    identity = _maps(cursor, ctx, levels, account_level_levels, domains)
    cursor.execute("DROP TABLE IF EXISTS rb_prior")
    cursor.execute(f"CREATE TEMP TABLE rb_prior ON COMMIT DROP AS {prior_sql}")
    cursor.execute("CREATE UNIQUE INDEX ON rb_prior (acct)")
    cursor.execute("ANALYZE rb_prior")

    # Row levels of account-level fields: the release's precision, never finer than an earlier release.
    level_of = {name: f"greatest({int(levels[name])}, coalesce(p.{name}, 0))" for name in ACCOUNT_LEVEL}
    cursor.execute("DROP TABLE IF EXISTS rb_lv")
    cursor.execute(
        f"""CREATE TEMP TABLE rb_lv ON COMMIT DROP AS
            SELECT s.*, {", ".join(f"{expr} AS lv_{name}" for name, expr in level_of.items())},
                   p.min_country, p.min_content_language, p.min_account_type, (p.acct IS NOT NULL) AS seen
              FROM rb_src s LEFT JOIN rb_prior p ON p.acct = s.acct"""  # noqa: S608
    )
    cursor.execute("ANALYZE rb_lv")
    _generalized(cursor, levels, identity)
    # Local recoding: an account with a row in a class under k and an exact country gets its region
    # (and its scopes), on all its rows: one precision per account, so its rows cannot refine each other.
    small = _small_classes_sql(k)
    cursor.execute(
        f"""UPDATE rb_lv SET lv_country = 1 WHERE lv_country = 0 AND acct IN (
                SELECT acct FROM rb_gen WHERE lv_country = 0
                   AND ({", ".join(_col(h.name) for h in HIERARCHIES)}) IN ({small}))"""  # noqa: S608
    )
    recoded = cursor.rowcount
    if recoded:
        _generalized(cursor, levels, identity)
    # Suppress what is still under k, on this release alone and joined with earlier releases
    # (an account's finest account-level values known from them), and every class in which a
    # sensitive attribute is certain, until nothing changes: suppressing rows of a class can make
    # a union class small or another attribute certain, and suppressing a union class can shrink
    # a class of this release. Each round only removes rows, so this ends.
    cursor.execute("DROP TABLE IF EXISTS rb_assign")
    cursor.execute("CREATE TEMP TABLE rb_assign ON COMMIT DROP AS SELECT * FROM rb_gen")
    cursor.execute("ANALYZE rb_assign")
    union_suppressed = 0
    certain_suppressed = dict.fromkeys(SENSITIVE, 0)
    certain_rows = 0
    while True:
        cursor.execute(
            f"""DELETE FROM rb_assign WHERE ({", ".join(_col(h.name) for h in HIERARCHIES)})
                  IN ({_small_classes_sql(k, "rb_assign")})"""  # noqa: S608
        )
        removed = _suppress_union_small(cursor, k)
        union_suppressed += removed
        by_attribute, certain_removed = _suppress_certain_sensitive(cursor)
        for name, n in by_attribute.items():
            certain_suppressed[name] += n
        certain_rows += certain_removed
        if not removed and not certain_removed:
            break
    cursor.execute("SELECT count(*) FROM rb_src")
    source_rows = cursor.fetchone()[0]
    cursor.execute("SELECT count(*) FROM rb_assign")
    kept = cursor.fetchone()[0]
    cursor.execute("ANALYZE rb_assign")
    return {
        "source_rows": source_rows,
        "recoded_rows": recoded,
        "suppressed_rows": source_rows - kept,
        "suppressed_for_union": union_suppressed,
        "suppressed_for_certain_attributes": certain_suppressed,
        "suppressed_for_certain_attributes_rows": certain_rows,
    }


def _out(name: str, level_sql: str, alias: str) -> tuple[str, str]:
    index = QUASI_IDENTIFIERS.index(name)
    join = f"JOIN rb_m{index} {alias} ON {alias}.level = {level_sql} AND {alias}.raw = l.{_col(name)}"
    return f"{alias}.out AS {_col(name)}", join


def _generalized(cursor, levels: dict[str, int], identity: set[tuple[str, int]]) -> None:
    """rb_gen: rb_lv with every QI at its precision; a field whose values all read as themselves is not joined."""
    selects, joins = [], []
    for i, h in enumerate(HIERARCHIES):
        if h.name in ACCOUNT_LEVEL:
            level_sql = f"l.lv_{h.name}"
        elif h.name == "territorial_scope":
            level_sql = "l.lv_country"
        else:
            level_sql = str(int(levels[h.name]))
            if (h.name, int(levels[h.name])) in identity:
                selects.append(f"l.{_col(h.name)}")
                continue
        select, join = _out(h.name, level_sql, f"m{i}")
        selects.append(select)
        joins.append(join)
    cursor.execute("DROP TABLE IF EXISTS rb_gen")
    cursor.execute(
        f"""CREATE TEMP TABLE rb_gen ON COMMIT DROP AS
            SELECT l.raw_pk, l.acct, l.day, l.seen, l.lv_country, l.lv_content_language, l.lv_account_type,
                   l.min_country, l.min_content_language, l.min_account_type,
                   l.s_rle, l.s_off, l.s_appealed, l.s_outcome, l.s_reinstated,
                   {", ".join(selects)}
              FROM rb_lv l {" ".join(joins)}"""  # noqa: S608
    )
    generalized = cursor.rowcount
    cursor.execute("SELECT count(*) FROM rb_lv")
    if generalized != cursor.fetchone()[0]:  # a raw value missing from the maps would drop its rows silently
        raise RuntimeError("generalization lost rows: a raw value has no map entry")
    cursor.execute("ANALYZE rb_gen")


def _small_classes_sql(k: int, table: str = "rb_gen") -> str:
    columns = ", ".join(_col(h.name) for h in HIERARCHIES)
    return (
        f"SELECT {columns} FROM (SELECT DISTINCT {columns}, acct FROM {table}) a"  # noqa: S608
        f" GROUP BY {columns} HAVING count(*) < {int(k)}"
    )


def _build_union(cursor) -> bool:
    """rb_union: kept rows with each seen account's finest earlier account-level values; False if none is seen."""
    cursor.execute("SELECT count(*) FROM rb_assign WHERE seen")
    if not cursor.fetchone()[0]:
        return False
    effective = []
    joins = []
    for i, name in enumerate(["country", "content_language", "account_type"]):
        effective.append(f"CASE WHEN a.seen AND a.min_{name} < a.lv_{name} THEN e{i}.out ELSE a.{_col(name)} END")
        joins.append(
            f"LEFT JOIN rb_map e{i} ON e{i}.field = '{name}' AND e{i}.level = a.min_{name}"
            f" AND e{i}.raw = s.{_col(name)}"
        )
    cursor.execute("DROP TABLE IF EXISTS rb_union")
    cursor.execute(
        f"""CREATE TEMP TABLE rb_union ON COMMIT DROP AS
            SELECT a.raw_pk, a.acct, {", ".join(f"{e} AS u{i}" for i, e in enumerate(effective))},
                   {", ".join(f"a.{c}" for c in _UNION_OTHERS)}
              FROM rb_assign a JOIN rb_src s USING (raw_pk) {" ".join(joins)}"""  # noqa: S608
    )
    return True


_UNION_OTHERS = [_col(h.name) for h in HIERARCHIES if h.name not in ("country", "content_language", "account_type")]
_UNION_COLUMNS = ", ".join(["u0", "u1", "u2", *_UNION_OTHERS])


def _suppress_union_small(cursor, k: int) -> int:
    """Drop rows of classes under k once each seen account's finest earlier account-level value replaces its own."""
    if not _build_union(cursor):
        return 0
    columns = _UNION_COLUMNS
    cursor.execute(
        f"""DELETE FROM rb_assign WHERE raw_pk IN (
              SELECT raw_pk FROM rb_union WHERE ({columns}) IN (
                  SELECT {columns} FROM (SELECT DISTINCT {columns}, acct FROM rb_union) x
                   GROUP BY {columns} HAVING count(*) < {int(k)}))"""  # noqa: S608
    )
    return cursor.rowcount


def _suppress_certain_sensitive(cursor) -> tuple[dict, int]:
    """Suppress every class of rb_assign in which a sensitive attribute is certain (l-diversity by suppression).

    Certain: every row of the class has the same non-default value (reported to law enforcement,
    off-platform behaviour considered, appealed, reinstated, or one single appeal outcome). Such a
    class is removed, never marked: a NULL (or any value of its own) in the place of the attribute
    would itself tell a records grant which classes are certain, and so the value of the attribute
    for anyone whose quasi-identifiers are known. Returns the rows suppressed per attribute (a
    class certain in two attributes counts under both) and in all.

    One hash aggregate per class (no count(DISTINCT), which would sort a million rows on 20 columns);
    only the classes with a certain attribute (few) are joined back."""
    columns = ", ".join(_col(h.name) for h in HIERARCHIES)
    checks = {
        "reported_to_law_enforcement": "bool_and(s_rle IS TRUE)",
        "off_platform_behavior_considered": "bool_and(s_off IS TRUE)",
        "appealed": "bool_and(s_appealed IS TRUE)",
        # one distinct outcome, and every row has one: min = max over the non-null values
        "appeal_outcome": "min(s_outcome) = max(s_outcome) AND bool_and(s_outcome IS NOT NULL)",
        "reinstated": "bool_and(s_reinstated IS TRUE)",
    }
    flags = dict(zip(SENSITIVE, ["c_rle", "c_off", "c_appealed", "c_outcome", "c_reinstated"], strict=True))
    aggregates = ", ".join(f"coalesce({expr}, false) AS {flags[name]}" for name, expr in checks.items())
    cursor.execute("DROP TABLE IF EXISTS rb_certain")
    cursor.execute(
        f"""CREATE TEMP TABLE rb_certain ON COMMIT DROP AS
            SELECT * FROM (SELECT {columns}, count(*) AS rows, {aggregates}
                             FROM rb_assign GROUP BY {columns}) c
             WHERE {" OR ".join(flags.values())}"""  # noqa: S608
    )
    if not cursor.rowcount:
        return dict.fromkeys(SENSITIVE, 0), 0
    cursor.execute(
        f"SELECT {', '.join(f'coalesce(sum(rows) FILTER (WHERE {flag}), 0)::bigint' for flag in flags.values())}"  # noqa: S608
        " FROM rb_certain"
    )
    by_attribute = dict(zip(flags, cursor.fetchone(), strict=True))
    cursor.execute("ANALYZE rb_certain")
    cursor.execute(f"DELETE FROM rb_assign WHERE ({columns}) IN (SELECT {columns} FROM rb_certain)")  # noqa: S608
    return by_attribute, cursor.rowcount


def prior_sql(release_ids: list[int]) -> str:
    """Per account: the coarsest (max) and finest (min) precision earlier releases gave it."""
    ids = ", ".join(str(int(i)) for i in release_ids) or "NULL"
    return (
        "SELECT account_hash AS acct, max(country_level) AS country, max(language_level) AS content_language,"  # noqa: S608
        " max(account_type_level) AS account_type, min(country_level) AS min_country,"
        " min(language_level) AS min_content_language, min(account_type_level) AS min_account_type"
        f" FROM moderation_data_accountprecision WHERE release_id IN ({ids}) GROUP BY account_hash"
    )


# --------------------------------------------------------------------------------------------
# The privacy report (stored on the release; docs/privacy.md explains each figure)

TRAJECTORY_SAMPLE = 300  # accounts whose trajectory the report tries to single out


def _share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def privacy_report(cursor, table: str, *, k: int, ctx: Context, levels: dict[str, int], stats: dict) -> dict:
    """Measure the built release: k, TDB linkage, certain sensitive attributes, trajectory unicity, precision."""
    cursor.execute("SELECT current_setting('work_mem')")
    work_mem = cursor.fetchone()[0]
    # The per-(class, account) hash aggregate over every row and 20 columns fits in memory at 1M rows
    # with 1 GB (3.5x faster than spilling at 256 MB); for this statement group only.
    cursor.execute("SET LOCAL work_mem = '1GB'")
    with _HashJoins(cursor):
        report = _privacy_report(cursor, table, k=k, ctx=ctx, levels=levels, stats=stats)
    cursor.execute("SELECT set_config('work_mem', %s, true)", [work_mem])
    return report


# Certain sensitive attributes, read on the released rows (per (class, account), then per class).
# NULL counts as a value of its own: a class whose `appealed` (or `reinstated`) is null in every
# row is as certain as one where it is true in every row (the source is never null there, so a
# null can only be a mark), and an all-null outcome is certain unless nobody in the class appealed.
# A class certain to have the default value (false; no outcome) is not a disclosure.
_CERTAIN_PER_ACCOUNT = """bool_and(reported_to_law_enforcement IS TRUE) AS rle,
    bool_and(off_platform_behavior_considered IS TRUE) AS off,
    bool_and(appealed IS TRUE) AS ap_true, bool_and(appealed IS NULL) AS ap_null,
    bool_and(appealed IS FALSE) AS ap_false,
    min(appeal_outcome) AS o_min, max(appeal_outcome) AS o_max,
    bool_and(appeal_outcome IS NOT NULL) AS o_all, bool_and(appeal_outcome IS NULL) AS o_none,
    bool_and(reinstated IS TRUE) AS re_true, bool_and(reinstated IS NULL) AS re_null"""
_CERTAIN_PER_CLASS = """bool_and(rle) AS rle, bool_and(off) AS off,
    bool_and(ap_true) OR bool_and(ap_null) AS appealed,
    (min(o_min) = max(o_max) AND bool_and(o_all)) OR (bool_and(o_none) AND NOT bool_and(ap_false)) AS outcome,
    bool_and(re_true) OR bool_and(re_null) AS reinstated"""
_CERTAIN_COUNTS = """count(*) FILTER (WHERE rle), count(*) FILTER (WHERE off), count(*) FILTER (WHERE appealed),
    count(*) FILTER (WHERE outcome), count(*) FILTER (WHERE reinstated)"""


def certain_sensitive_classes(cursor, table: str) -> dict[str, int]:
    """Per sensitive attribute, the classes of a rows table in which it is certain (the report's check)."""
    qi = ", ".join(h.name for h in HIERARCHIES)
    cursor.execute(
        f"""SELECT {_CERTAIN_COUNTS}
              FROM (SELECT {_CERTAIN_PER_CLASS}
                      FROM (SELECT row({qi})::text AS cls, coalesce(account_id, 'decision:' || decision_id) AS unit,
                                   {_CERTAIN_PER_ACCOUNT}
                              FROM {table} GROUP BY cls, unit) per_account
                     GROUP BY cls) c"""  # noqa: S608
    )
    return dict(zip(SENSITIVE, cursor.fetchone(), strict=True))


def _nulls_not_in_source(cursor, table: str) -> dict[str, int]:
    """Per sensitive attribute, released nulls beyond the kept source rows' nulls (a mark if > 0)."""
    cursor.execute(
        f"""SELECT count(*) FILTER (WHERE reported_to_law_enforcement IS NULL),
                   count(*) FILTER (WHERE off_platform_behavior_considered IS NULL),
                   count(*) FILTER (WHERE appealed IS NULL), count(*) FILTER (WHERE appeal_outcome IS NULL),
                   count(*) FILTER (WHERE reinstated IS NULL) FROM {table}"""  # noqa: S608
    )
    released = cursor.fetchone()
    cursor.execute(
        """SELECT count(*) FILTER (WHERE s_rle IS NULL), count(*) FILTER (WHERE s_off IS NULL),
                  count(*) FILTER (WHERE s_appealed IS NULL), count(*) FILTER (WHERE s_outcome IS NULL),
                  count(*) FILTER (WHERE s_reinstated IS NULL) FROM rb_assign"""
    )
    source = cursor.fetchone()
    return {name: max(r - s, 0) for name, r, s in zip(SENSITIVE, released, source, strict=True)}


def _privacy_report(cursor, table: str, *, k: int, ctx: Context, levels: dict[str, int], stats: dict) -> dict:
    qi = ", ".join(h.name for h in HIERARCHIES)
    # A class is named by the md5 of its 20 values as one row (row text is injective: values quoted,
    # NULL empty), an account by a 64-bit hash: the hash aggregate keeps 24 bytes of key per (class,
    # account) instead of 20 text columns, and so fits in memory at 10⁷ rows (it spilled for minutes).
    # An md5 collision (p ≈ 2⁻¹²⁸ per pair) could merge two classes; an account-hash collision can only
    # make a class look smaller, so k is never overstated by it.
    cls = f"md5(row({qi})::text)::uuid"
    unit = "hashtextextended(coalesce(account_id, 'decision:' || decision_id), 0)"
    # Two hash aggregates (per class and account, then per class) instead of count(DISTINCT), which
    # would sort every row: the same exact figures.
    cursor.execute(
        f"""SELECT min(n), count(*), count(*) FILTER (WHERE n < %s),
                   coalesce(sum(rows) FILTER (WHERE n < %s), 0)::bigint, {_CERTAIN_COUNTS}
              FROM (SELECT count(*) AS n, sum(rows) AS rows, {_CERTAIN_PER_CLASS}
                      FROM (SELECT {cls} AS cls, {unit} AS unit, count(*) AS rows, {_CERTAIN_PER_ACCOUNT}
                              FROM {table} GROUP BY cls, unit) per_account
                     GROUP BY cls) c""",  # noqa: S608
        [k, k],
    )
    k_min, classes, small_classes, small_rows, *certain = cursor.fetchone()
    certain_by = dict(zip(SENSITIVE, certain, strict=True))
    # What the per-class check cannot see for the nullable booleans (null is also "not recorded"):
    # a released null where the source has a value would mark something; there must be none.
    nulls_not_in_source = _nulls_not_in_source(cursor, table)
    k_union = k_min
    if _build_union(cursor):
        cursor.execute(
            f"SELECT min(n) FROM (SELECT count(DISTINCT acct) n FROM rb_union GROUP BY {_UNION_COLUMNS}) x"  # noqa: S608
        )
        k_union = min(x for x in (k_min, cursor.fetchone()[0]) if x is not None) if k_min is not None else None
    tdb = ", ".join(_col(n) for n in TDB_FIELDS)
    # Per class (the matching unit): released rows of a TDB-visible class against its raw decisions.
    cursor.execute(
        f"""SELECT coalesce(sum(a.rows) FILTER (WHERE g.n < %s), 0)::bigint, coalesce(min(g.n), 0)
              FROM (SELECT {tdb}, count(*) AS rows FROM rb_assign GROUP BY {tdb}) a
              JOIN (SELECT {tdb}, count(*) AS n FROM rb_gen GROUP BY {tdb}) g USING ({tdb})""",  # noqa: S608
        [k],
    )
    linkage_below_k, linkage_min = cursor.fetchone()
    cursor.execute("SELECT count(*) FROM rb_assign")
    rows = cursor.fetchone()[0]
    unicity = _trajectory_unicity(cursor, ctx, levels)
    fields = {}
    for h in HIERARCHIES:
        level = levels[h.name]
        per_level = {h.levels[level]: rows} if rows else {}
        lv = {"country": "lv_country", "territorial_scope": "lv_country", "content_language": "lv_content_language",
              "account_type": "lv_account_type"}.get(h.name)  # fmt: skip
        if lv:
            cursor.execute(f"SELECT {lv}, count(*) FROM rb_assign GROUP BY 1 ORDER BY 1")  # noqa: S608
            per_level = {h.levels[lv_]: n for lv_, n in cursor.fetchall()}
        fields[h.name] = {
            "precision": h.levels[level],
            "share_of_rows_by_precision": {name: _share(n, rows) for name, n in per_level.items()},
            "share_generalized": _share(sum(n for name, n in per_level.items() if name != h.levels[0]), rows),
        }
    source = stats["source_rows"]
    failures = []
    if k_min is not None and k_min < k:
        failures.append(f"{small_classes} classes hold fewer than k={k} accounts (smallest: {k_min})")
    if k_union is not None and k_union < k:
        failures.append(f"joined with earlier releases, a class holds {k_union} < k={k} accounts")
    if linkage_below_k:
        failures.append(f"{linkage_below_k} rows match fewer than k={k} raw decisions on TDB-visible fields")
    if any(certain):
        failures.append(f"a sensitive attribute is certain within some classes: {certain_by}")
    if any(nulls_not_in_source.values()):
        failures.append(f"a sensitive attribute is null where its source value is not: {nulls_not_in_source}")
    return {
        "k": k,
        "privacy_unit": "account",
        "quasi_identifiers": QUASI_IDENTIFIERS,
        "rows": rows,
        "classes": classes,
        "k_min_accounts": k_min,
        "k_min_accounts_with_earlier_releases": k_union,
        "classes_under_k": small_classes,
        "rows_in_classes_under_k": small_rows,
        "tdb_linkage": {
            "fields": TDB_FIELDS,
            "rows_matching_fewer_than_k_raw_decisions": linkage_below_k,
            "share": _share(linkage_below_k, rows),
            "min_compatible_raw_decisions": linkage_min,
        },
        "sensitive_certain_classes": certain_by,
        "sensitive_nulls_not_in_source": nulls_not_in_source,
        "sensitive_suppressed_rows": stats["suppressed_for_certain_attributes"],
        "trajectory_unicity": unicity,
        "suppressed_rows": stats["suppressed_rows"],
        "suppressed_share": _share(stats["suppressed_rows"], source),
        "source_rows": source,
        "recoded_rows": stats["recoded_rows"],
        "fields": fields,
        "checks": {
            "k": not (k_min is not None and k_min < k),
            "k_with_earlier_releases": not (k_union is not None and k_union < k),
            "tdb_linkage": not linkage_below_k,
            "sensitive": not any(certain) and not any(nulls_not_in_source.values()),
        },
        "failures": failures,
    }


def _bucket_sql(day_sql: str, level: int, ctx: Context) -> str:
    unit = DATE_LEVELS[level]
    start = f"DATE '{ctx.period_start.isoformat()}'"
    if unit == "day":
        return f"({day_sql})::text"
    return f"greatest(date_trunc('{unit}', {day_sql})::date, {start})::text"


def _trajectory_unicity(cursor, ctx: Context, levels: dict[str, int]) -> dict:
    """Share of sampled accounts singled out by their country and two known (week, policy) decisions.

    A target is singled out when no other account's released rows match both known decisions. The
    known decisions become probes (each bucket the week can fall in, at the release's precisions);
    per target, rows matching the first are read through an index, each checked for the second by
    an index probe, and the scan stops at 8 rows (an account matches at most 7 probes of one decision,
    so 8 rows hold a second account if there is one). A target that is not singled out, the common
    case, costs a few probes, instead of every probe being joined with every released row.
    """
    bucket = _bucket_sql("(k.wk + g.d)", levels["decided_on"], ctx)
    cursor.execute(
        """CREATE TEMP TABLE rb_released ON COMMIT DROP AS
               SELECT DISTINCT acct, q_decided_on AS d, q_policy AS p, q_country AS c FROM rb_assign"""
    )
    cursor.execute("CREATE INDEX ON rb_released (d, p, c, acct)")
    cursor.execute("CREATE INDEX ON rb_released (acct, d, p, c)")
    cursor.execute("ANALYZE rb_released")
    cursor.execute(
        f"""CREATE TEMP TABLE rb_probe ON COMMIT DROP AS
            WITH t AS (SELECT acct FROM rb_assign GROUP BY acct HAVING count(*) >= 2
                        ORDER BY hashint8(acct) LIMIT {TRAJECTORY_SAMPLE}),
                 known AS (SELECT t.acct AS target, row_number() OVER (PARTITION BY t.acct ORDER BY a.raw_pk) AS i,
                                  date_trunc('week', s.day)::date AS wk, s.q_policy AS policy, s.q_country AS country
                             FROM t JOIN rb_assign a ON a.acct = t.acct JOIN rb_src s ON s.raw_pk = a.raw_pk)
            SELECT DISTINCT k.target, k.i, {bucket} AS bucket, mp.out AS policy, mc.out AS country
              FROM known k CROSS JOIN generate_series(0, 6) g(d)
              JOIN rb_map mp ON mp.field = 'policy' AND mp.level = {int(levels["policy"])} AND mp.raw = k.policy
              JOIN rb_map mc ON mc.field = 'country' AND mc.raw = k.country
             WHERE k.i <= 2"""  # noqa: S608
    )
    # Each target's probes are read per released row tested: by index, not by scanning every target's.
    cursor.execute("CREATE INDEX ON rb_probe (target, i)")
    cursor.execute("ANALYZE rb_probe")
    # Index probes per target: nested loops are what this statement wants (the report turns them off).
    cursor.execute("SELECT current_setting('enable_nestloop')")
    nestloop = cursor.fetchone()[0]
    cursor.execute("SET LOCAL enable_nestloop = on")
    cursor.execute(
        """WITH per_target AS MATERIALIZED (  -- one evaluation per target (both counts read it)
               SELECT (SELECT count(DISTINCT acct) FROM (
                           SELECT r1.acct FROM rb_probe p1
                             JOIN rb_released r1 ON r1.d = p1.bucket AND r1.p = p1.policy AND r1.c = p1.country
                            WHERE p1.target = t.target AND p1.i = 1
                              AND EXISTS (SELECT 1 FROM rb_probe p2
                                            JOIN rb_released r2 ON r2.acct = r1.acct AND r2.d = p2.bucket
                                                               AND r2.p = p2.policy AND r2.c = p2.country
                                           WHERE p2.target = t.target AND p2.i = 2)
                            LIMIT 8) x) AS n
                 FROM (SELECT DISTINCT target FROM rb_probe) t)
           SELECT count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n >= 1) FROM per_target"""
    )
    unique, sampled = cursor.fetchone()
    cursor.execute("SELECT set_config('enable_nestloop', %s, true)", [nestloop])
    cursor.execute("DROP TABLE rb_released, rb_probe")
    return {
        "sampled_accounts": sampled,
        "singled_out": unique,
        "share": _share(unique, sampled),
        "knowledge": "the account's country and the week and policy of two of its decisions",
    }


def record_account_precision(cursor, release_id: int) -> None:
    """Keep, privately, the precision this release gave each account (for the next releases)."""
    cursor.execute(
        """INSERT INTO moderation_data_accountprecision
               (release_id, account_hash, country_level, language_level, account_type_level)
           SELECT %s, acct, max(lv_country), max(lv_content_language), max(lv_account_type)
             FROM rb_assign GROUP BY acct""",
        [release_id],
    )


def codebook_with_precision(codebook: list[dict], levels: dict[str, int]) -> list[dict]:
    """The release's codebook entries with the precision of each quasi-identifier (docs/privacy.md)."""
    out = []
    for entry in codebook:
        entry = dict(entry)
        h = BY_NAME.get(entry["name"])
        if h is not None:
            entry["quasi_identifier"] = True
            entry["precision"] = h.levels[levels[h.name]]
            entry["precisions"] = list(h.levels)
            entry["withheld"] = h.levels[levels[h.name]] == "withheld"
            if h.name in ("country", "territorial_scope"):
                # Accounts in small classes get their region: per-row precision, never finer than this.
                entry["per_row_generalization"] = levels[h.name] == 0
        if entry["name"] in SENSITIVE:
            entry["sensitive"] = True
        out.append(entry)
    return out
