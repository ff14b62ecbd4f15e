"""Streaming import of raw decisions (docs/data.md): DSA Transparency Database CSV (v1, v2) and JSONL.

Memory stays constant whatever the file size: rows are parsed one at a time, validated, and
written in batches (COPY into a temporary table, then one ``INSERT ... ON CONFLICT DO UPDATE ...
WHERE changed`` merge), so re-importing a file changes nothing and a later line for the same
decision updates it. Each bad row is reported with its line, field and reason, including every
value PostgreSQL would refuse (NUL, lone surrogates, text longer than its column, integers beyond
it), so a bad row never reaches the database and stops the import.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.db import connection, models

from moderation_data.catalog import enums

# --------------------------------------------------------------------------- field specification

TEXT, ENUM, ENUM_LIST, CODE_LIST, DATETIME, BOOL, INT, UUID, COUNTRY, LANGUAGE = (
    "text", "enum", "enum_list", "code_list", "datetime", "bool", "int", "uuid", "country", "language",
)  # fmt: skip


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str
    choices: type[models.TextChoices] | None = None
    required: bool = False


_DSA_FIELDS: list[FieldSpec] = [
    FieldSpec("uuid", UUID),
    FieldSpec("decision_visibility", ENUM_LIST, enums.DecisionVisibility),
    FieldSpec("decision_visibility_other", TEXT),
    FieldSpec("end_date_visibility_restriction", DATETIME),
    FieldSpec("decision_monetary", ENUM, enums.DecisionMonetary),
    FieldSpec("decision_monetary_other", TEXT),
    FieldSpec("end_date_monetary_restriction", DATETIME),
    FieldSpec("decision_provision", ENUM, enums.DecisionProvision),
    FieldSpec("end_date_service_restriction", DATETIME),
    FieldSpec("decision_account", ENUM, enums.DecisionAccount),
    FieldSpec("end_date_account_restriction", DATETIME),
    FieldSpec("account_type", ENUM, enums.AccountType),
    FieldSpec("decision_ground", ENUM, enums.DecisionGround, required=True),
    FieldSpec("decision_ground_reference_url", TEXT),
    FieldSpec("illegal_content_legal_ground", TEXT),
    FieldSpec("illegal_content_explanation", TEXT),
    FieldSpec("incompatible_content_ground", TEXT),
    FieldSpec("incompatible_content_explanation", TEXT),
    FieldSpec("incompatible_content_illegal", ENUM, enums.YesNo),
    FieldSpec("category", ENUM, enums.Category, required=True),
    FieldSpec("category_addition", ENUM_LIST, enums.Category),
    FieldSpec("category_specification", ENUM_LIST, enums.Keyword),
    FieldSpec("category_specification_other", TEXT),
    FieldSpec("content_type", ENUM_LIST, enums.ContentType, required=True),
    FieldSpec("content_type_other", TEXT),
    FieldSpec("content_language", LANGUAGE),
    FieldSpec("content_date", DATETIME),
    FieldSpec("content_id_ean", TEXT),
    FieldSpec("territorial_scope", CODE_LIST),
    FieldSpec("application_date", DATETIME, required=True),
    FieldSpec("decision_facts", TEXT),
    FieldSpec("source_type", ENUM, enums.SourceType, required=True),
    FieldSpec("source_identity", TEXT),
    FieldSpec("automated_detection", ENUM, enums.YesNo, required=True),
    FieldSpec("automated_decision", ENUM, enums.AutomatedDecision, required=True),
    FieldSpec("platform_name", TEXT),
    FieldSpec("platform_uid", TEXT),
    FieldSpec("created_at", DATETIME),
]

_PLATFORM_FIELDS: list[FieldSpec] = [
    FieldSpec("platform_decision_id", TEXT, required=True),
    FieldSpec("account_id", TEXT),
    FieldSpec("content_id", TEXT),
    FieldSpec("subject_type", ENUM, enums.SubjectType),
    FieldSpec("policy", ENUM, enums.Policy),
    FieldSpec("detection_source", ENUM, enums.DetectionSource),
    FieldSpec("detected_at", DATETIME),
    FieldSpec("actioned_at", DATETIME),
    FieldSpec("content_created_at", DATETIME),
    FieldSpec("views_before_action", INT),
    FieldSpec("uploader_country", COUNTRY),
    FieldSpec("off_platform_behavior_considered", BOOL),
    FieldSpec("reported_to_law_enforcement", BOOL),
]

_APPEAL_FIELDS: list[FieldSpec] = [
    FieldSpec("submitted_at", DATETIME, required=True),
    FieldSpec("resolved_at", DATETIME),
    FieldSpec("outcome", ENUM, enums.AppealOutcome),
    FieldSpec("reinstated_at", DATETIME),
]

DECISION_COLUMNS: list[str] = [f.name for f in _PLATFORM_FIELDS + _DSA_FIELDS]
APPEAL_COLUMNS: list[str] = [f"appeal_{f.name}" for f in _APPEAL_FIELDS]
CSV_V2_COLUMNS: list[str] = [f.name for f in _DSA_FIELDS]
CSV_V1_COLUMNS: list[str] = [name for name in CSV_V2_COLUMNS if name != "content_id_ean"]
_DSA_BY_NAME = {f.name: f for f in _DSA_FIELDS}
_DECISION_ACTIONS = ("decision_visibility", "decision_monetary", "decision_provision", "decision_account")
_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
_SURROGATE_RE = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8, read with surrogateescape
_ANY_SURROGATE_RE = re.compile("[\ud800-\udfff]")  # a lone surrogate (JSON "\ud800"): not a character
# DSA free-text cells can be long; a cell beyond this is a broken file, reported as such.
MAX_FIELD_CHARS = 16 * 1024 * 1024
csv.field_size_limit(MAX_FIELD_CHARS)
# A JSONL line longer than this (its line end excluded) is one row error; reading skips to the next
# line, so a file without line breaks never sits in memory whole.
MAX_LINE_BYTES = 16 * 1024 * 1024
_SKIP_CHUNK = 1024 * 1024


class RowError(Exception):
    def __init__(self, field: str, reason: str):
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")


# --------------------------------------------------------------------------- value parsing


def _parse_datetime(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError("expected a date-time string")
    text = value.strip().replace("Z", "+00:00")
    parsed = dt.datetime.fromisoformat(text)  # accepts "YYYY-MM-DD HH:MM:SS" and ISO 8601
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    parsed.astimezone(dt.UTC)  # OverflowError when its UTC instant is outside years 1-9999 (unreadable back)
    return parsed


def _parse_list(value: Any, *, from_csv: bool) -> list:
    if isinstance(value, list):
        return value
    if isinstance(value, str) and from_csv:
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a JSON array ({exc.msg} at position {exc.pos}): {value[:60]!r}") from None
        if not isinstance(parsed, list):
            raise ValueError(f"not a JSON array: {value[:60]!r}")
        return parsed
    raise ValueError("expected a list")


def _label(choices: type[models.TextChoices]) -> str:
    return choices.__name__


@functools.cache
def _column(spec: FieldSpec) -> models.Field:
    """The model field a spec is stored in: its max_length and integer range are the database's limits."""
    from moderation_data.ingest.models import Appeal, Decision

    return (Appeal if spec in _APPEAL_FIELDS else Decision)._meta.get_field(spec.name)


def _check_storable(spec: FieldSpec, value: Any) -> None:
    """ValueError for a value PostgreSQL would refuse in the spec's column (checked here, row by row)."""
    column = _column(spec)
    if isinstance(value, str) and isinstance(column, models.CharField) and len(value) > column.max_length:
        raise ValueError(f"longer than {column.max_length} characters ({len(value)})")
    if isinstance(value, int) and isinstance(column, models.IntegerField):
        low, high = connection.ops.integer_field_range(column.get_internal_type())
        if not low <= value <= high:
            raise ValueError(f"out of range (the largest value is {high})")


def parse_value(spec: FieldSpec, value: Any, *, from_csv: bool) -> Any:
    """The typed value of one field, or RowError naming why it is not acceptable."""
    if value is None or value == "" or value == []:
        if spec.required:
            raise RowError(spec.name, "required field is missing")
        return None
    if isinstance(value, str):
        if bad := _SURROGATE_RE.search(value):
            raise RowError(spec.name, f"not valid UTF-8 (byte 0x{ord(bad.group()) - 0xDC00:02X})")
        if bad := _ANY_SURROGATE_RE.search(value):
            raise RowError(spec.name, f"contains a lone surrogate (\\u{ord(bad.group()):04x}), not a Unicode character")
        if (nul := value.find("\x00")) >= 0:
            raise RowError(spec.name, f"contains a NUL character (at position {nul + 1})")
    parsed = _typed_value(spec, value, from_csv=from_csv)
    try:
        _check_storable(spec, parsed)
    except ValueError as exc:
        raise RowError(spec.name, str(exc)) from None
    return parsed


def _typed_value(spec: FieldSpec, value: Any, *, from_csv: bool) -> Any:
    try:
        if spec.kind == TEXT:
            if not isinstance(value, str | int):
                raise ValueError("expected a string")
            return str(value)
        if spec.kind == UUID:
            return str(uuid.UUID(str(value)))
        if spec.kind == ENUM:
            if spec.choices is enums.YesNo and isinstance(value, bool):
                value = "Yes" if value else "No"
            if value not in spec.choices.values:
                raise ValueError(f"{value!r} is not a valid {_label(spec.choices)} value")
            return value
        if spec.kind in (ENUM_LIST, CODE_LIST):
            items = _parse_list(value, from_csv=from_csv)
            for item in items:
                if not isinstance(item, str):
                    raise ValueError(f"list items must be strings, got {item!r}")
                if spec.kind == ENUM_LIST and item not in spec.choices.values:
                    raise ValueError(f"{item!r} is not a valid {_label(spec.choices)} value")
                if spec.kind == CODE_LIST and not _COUNTRY_RE.match(item):
                    raise ValueError(f"{item!r} is not a two-letter country code")
            if spec.required and not items:
                raise RowError(spec.name, "required field is missing")
            return items or None
        if spec.kind == DATETIME:
            try:
                return _parse_datetime(value)
            except (ValueError, OverflowError):
                raise ValueError(f"{value!r} is not a date-time (YYYY-MM-DD HH:MM:SS or ISO 8601)") from None
        if spec.kind == BOOL:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in {"true", "yes", "1", "false", "no", "0"}:
                return value.lower() in {"true", "yes", "1"}
            raise ValueError(f"{value!r} is not a boolean")
        if spec.kind == INT:
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise ValueError(f"{value!r} is not an integer")
            number = int(value)
            if number < 0:
                raise ValueError("must not be negative")
            return number
        if spec.kind == COUNTRY:
            if not isinstance(value, str) or not _COUNTRY_RE.match(value):
                raise ValueError(f"{value!r} is not a two-letter country code (ISO 3166-1 alpha-2)")
            return value
        if spec.kind == LANGUAGE:
            if not isinstance(value, str) or value.upper() not in enums.LANGUAGES:
                raise ValueError(f"{value!r} is not an ISO 639-1 language code")
            return value.upper()
    except RowError:
        raise
    except (ValueError, TypeError) as exc:
        raise RowError(spec.name, str(exc)) from None
    raise AssertionError(spec.kind)


def _parse_fields(specs: list[FieldSpec], source: dict, *, from_csv: bool, errors: list[RowError]) -> dict:
    parsed: dict = {}
    for spec in specs:
        try:
            parsed[spec.name] = parse_value(spec, source.get(spec.name), from_csv=from_csv)
        except RowError as exc:
            errors.append(exc)
    return parsed


def _check_decision(values: dict, errors: list[RowError]) -> None:
    if not any(values.get(name) for name in _DECISION_ACTIONS) and not any(
        e.field in _DECISION_ACTIONS for e in errors
    ):
        errors.append(
            RowError("decision_visibility", "at least one of " + ", ".join(_DECISION_ACTIONS) + " is required")
        )


def _derive(values: dict) -> None:
    """Fill the platform fields a DSA-only row implies; the rest stays null."""
    if values.get("policy") is None and values.get("category"):
        values["policy"] = enums.policy_for_category(values["category"], values.get("category_specification"))
    if values.get("detection_source") is None:
        values["detection_source"] = enums.detection_source_for(
            values.get("source_type"), values.get("automated_detection")
        )
    if values.get("content_created_at") is None:
        values["content_created_at"] = values.get("content_date")


# --------------------------------------------------------------------------- readers


@dataclass
class ParsedRow:
    line: int
    key: str | None = None
    decision: dict | None = None
    appeal: dict | None = None
    errors: list[RowError] = field(default_factory=list)


def read_dsa_csv(stream: IO[bytes]) -> Iterator[ParsedRow]:
    """Rows of a DSA dump (v1 or v2 header); bytes that are not UTF-8 are reported per field."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [name.strip() for name in header]
    if header not in (CSV_V1_COLUMNS, CSV_V2_COLUMNS):
        unknown = sorted(set(header) - set(CSV_V2_COLUMNS))
        missing = sorted(set(CSV_V1_COLUMNS) - set(header))
        raise ValueError(
            "the header is neither the DSA v1 (37 columns) nor v2 (38 columns) schema"
            + (f"; unknown columns: {', '.join(unknown)}" if unknown else "")
            + (f"; missing columns: {', '.join(missing)}" if missing else "")
        )
    previous_line = reader.line_num
    for cells in reader:
        line, previous_line = previous_line + 1, reader.line_num
        if not cells:
            continue
        row = ParsedRow(line=line)
        if len(cells) != len(header):
            row.errors.append(RowError("(row)", f"expected {len(header)} columns, found {len(cells)}"))
            yield row
            continue
        source = dict(zip(header, cells, strict=True))
        values = _parse_fields(_DSA_FIELDS, source, from_csv=True, errors=row.errors)
        if not source.get("platform_uid"):
            row.errors.append(RowError("platform_uid", "required field is missing"))
        elif values.get("platform_uid") and len(values["platform_uid"]) > (limit := _key_length()):
            # the puid becomes the decision's key, a shorter column than platform_uid's own
            reason = f"longer than {limit} characters, the limit of platform_decision_id it becomes"
            row.errors.append(RowError("platform_uid", f"{reason} ({len(values['platform_uid'])})"))
        if not source.get("uuid") and not any(e.field == "uuid" for e in row.errors):
            row.errors.append(RowError("uuid", "required field is missing"))
        _check_decision(values, row.errors)
        if not row.errors:
            values.update({f.name: None for f in _PLATFORM_FIELDS})
            values["platform_decision_id"] = values["platform_uid"]
            _derive(values)
            row.key, row.decision = values["platform_decision_id"], values
        yield row


def _key_length() -> int:
    return _column(next(f for f in _PLATFORM_FIELDS if f.name == "platform_decision_id")).max_length


def _capped_lines(stream: IO[bytes]) -> Iterator[bytes | None]:
    """Each line of the stream, or None for one longer than MAX_LINE_BYTES (read on to its end, not kept)."""
    cap = MAX_LINE_BYTES
    while raw := stream.readline(cap + 1):
        if len(raw) <= cap or raw.endswith(b"\n"):
            yield raw
            continue
        while (rest := stream.readline(_SKIP_CHUNK)) and not rest.endswith(b"\n"):
            pass
        yield None


def read_jsonl(stream: IO[bytes]) -> Iterator[ParsedRow]:
    """One decision per line: DSA fields, platform fields and an optional ``appeal`` object."""
    known = set(DECISION_COLUMNS) | {"appeal"}
    for line_number, raw in enumerate(_capped_lines(stream), start=1):
        if raw is None:
            row = ParsedRow(line=line_number)
            row.errors.append(RowError("(line)", f"longer than {MAX_LINE_BYTES} bytes; skipped"))
            yield row
            continue
        if not raw.strip():
            continue
        row = ParsedRow(line=line_number)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            row.errors.append(
                RowError("(line)", f"not valid UTF-8 (byte 0x{raw[exc.start]:02X} at position {exc.start + 1})")
            )
            yield row
            continue
        try:
            source = json.loads(text)
        except json.JSONDecodeError as exc:
            row.errors.append(RowError("(line)", f"not valid JSON ({exc.msg} at column {exc.colno})"))
            yield row
            continue
        except RecursionError:  # a hostile line nested thousands deep: a row error, not a crashed import
            row.errors.append(RowError("(line)", "not valid JSON (nested too deeply)"))
            yield row
            continue
        except ValueError as exc:  # an integer of thousands of digits (Python's int conversion limit)
            row.errors.append(RowError("(line)", f"not valid JSON ({exc})"))
            yield row
            continue
        if not isinstance(source, dict):
            row.errors.append(RowError("(line)", "expected a JSON object"))
            yield row
            continue
        for name in sorted(set(source) - known):
            row.errors.append(RowError(name, "unknown field"))
        values = _parse_fields(_PLATFORM_FIELDS + _DSA_FIELDS, source, from_csv=False, errors=row.errors)
        _check_decision(values, row.errors)
        appeal = source.get("appeal")
        appeal_values = None
        if appeal is not None:
            if not isinstance(appeal, dict):
                row.errors.append(RowError("appeal", "expected an object"))
            else:
                appeal_errors: list[RowError] = []
                appeal_values = _parse_fields(_APPEAL_FIELDS, appeal, from_csv=False, errors=appeal_errors)
                row.errors += [RowError(f"appeal.{e.field}", e.reason) for e in appeal_errors]
                for name in sorted(set(appeal) - {f.name for f in _APPEAL_FIELDS}):
                    row.errors.append(RowError(f"appeal.{name}", "unknown field"))
                if appeal_values.get("outcome") is None:
                    appeal_values["outcome"] = enums.AppealOutcome.PENDING
        if not row.errors:
            _derive(values)
            row.key, row.decision, row.appeal = values["platform_decision_id"], values, appeal_values
        yield row


READERS: dict[str, Callable[[IO[bytes]], Iterator[ParsedRow]]] = {"dsa-csv": read_dsa_csv, "jsonl": read_jsonl}


def guess_format(name: str) -> str:
    """JSONL for .jsonl/.ndjson (also gzipped: .jsonl.gz), else the DSA CSV; gzip is detected by content."""
    return "jsonl" if name.lower().removesuffix(".gz").endswith((".jsonl", ".ndjson")) else "dsa-csv"


# --------------------------------------------------------------------------- batched writer

_TEMP = "moderation_data_import_batch"


@dataclass
class WriteCounts:
    imported: int = 0
    updated: int = 0
    unchanged: int = 0


class BatchWriter:
    """COPY a batch into a temporary table, then merge it into the raw tier in two statements."""

    def __init__(self) -> None:
        self.counts = WriteCounts()
        self._created = False

    def _ensure_temp(self, cursor) -> None:
        if self._created:
            return
        columns = ", ".join(DECISION_COLUMNS)
        cursor.execute(f"DROP TABLE IF EXISTS {_TEMP}")
        cursor.execute(f"CREATE TEMP TABLE {_TEMP} AS SELECT {columns} FROM moderation_data_decision WITH NO DATA")  # noqa: S608
        cursor.execute(
            f"ALTER TABLE {_TEMP} ADD COLUMN appeal_submitted_at timestamptz,"
            " ADD COLUMN appeal_resolved_at timestamptz, ADD COLUMN appeal_outcome varchar(16),"
            " ADD COLUMN appeal_reinstated_at timestamptz"
        )
        self._created = True

    def write(self, rows: list[ParsedRow]) -> None:
        if not rows:
            return
        with connection.cursor() as cursor:
            self._ensure_temp(cursor)
            cursor.execute(f"TRUNCATE {_TEMP}")
            columns = DECISION_COLUMNS + APPEAL_COLUMNS
            raw = cursor.cursor if hasattr(cursor, "cursor") else cursor
            with raw.copy(f"COPY {_TEMP} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    appeal = row.appeal or {}
                    copy.write_row(
                        [row.decision.get(name) for name in DECISION_COLUMNS]
                        + [appeal.get(name.removeprefix("appeal_")) for name in APPEAL_COLUMNS]
                    )
            cols = ", ".join(DECISION_COLUMNS)
            excluded = ", ".join(f"EXCLUDED.{c}" for c in DECISION_COLUMNS)
            current = ", ".join(f"d.{c}" for c in DECISION_COLUMNS)
            assignments = ", ".join(f"{c} = EXCLUDED.{c}" for c in DECISION_COLUMNS if c != "platform_decision_id")
            cursor.execute(
                f"""INSERT INTO moderation_data_decision AS d ({cols}, imported_at, updated_at)
                    SELECT {cols}, now(), now() FROM {_TEMP}
                    ON CONFLICT (platform_decision_id) DO UPDATE SET {assignments}, updated_at = now()
                    WHERE ({current}) IS DISTINCT FROM ({excluded})
                    RETURNING d.platform_decision_id, (d.xmax = 0)"""  # noqa: S608
            )
            changed = cursor.fetchall()
            inserted = {key for key, is_new in changed if is_new}
            updated = {key for key, is_new in changed if not is_new}
            cursor.execute(
                f"""WITH merged AS (
                        INSERT INTO moderation_data_appeal AS a
                               (decision_id, submitted_at, resolved_at, outcome, reinstated_at)
                        SELECT d.id, t.appeal_submitted_at, t.appeal_resolved_at, t.appeal_outcome,
                               t.appeal_reinstated_at
                          FROM {_TEMP} t JOIN moderation_data_decision d USING (platform_decision_id)
                         WHERE t.appeal_submitted_at IS NOT NULL
                        ON CONFLICT (decision_id) DO UPDATE SET submitted_at = EXCLUDED.submitted_at,
                            resolved_at = EXCLUDED.resolved_at, outcome = EXCLUDED.outcome,
                            reinstated_at = EXCLUDED.reinstated_at
                        WHERE (a.submitted_at, a.resolved_at, a.outcome, a.reinstated_at)
                              IS DISTINCT FROM (EXCLUDED.submitted_at, EXCLUDED.resolved_at, EXCLUDED.outcome,
                                                EXCLUDED.reinstated_at)
                        RETURNING a.decision_id)
                    SELECT d.platform_decision_id
                      FROM merged JOIN moderation_data_decision d ON d.id = merged.decision_id"""  # noqa: S608
            )
            updated |= {key for (key,) in cursor.fetchall()} - inserted
        self.counts.imported += len(inserted)
        self.counts.updated += len(updated)
        self.counts.unchanged += len(rows) - len(inserted) - len(updated)

    def close(self) -> None:
        if self._created:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {_TEMP}")
            self._created = False
