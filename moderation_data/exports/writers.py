"""Export writers: one row_id range of a query, streamed out of PostgreSQL with ``COPY``, in constant memory.

PostgreSQL does the work: it filters, computes the per-project pseudonyms (the same HMAC as
``ProjectPseudonyms.pseudonym``; its pads are loaded with COPY, never written in the SQL text)
and renders CSV or JSON itself, and the bytes are copied to the part file as they arrive.
Parquet reads the same ``COPY`` CSV stream with pyarrow's streaming CSV reader (typed columns,
C++ parsing) and writes row groups. Output is a pure function of the release,
query, fields, project and row range, so a re-run writes byte-identical files.

Formats:
- CSV (RFC 4180: quoting, CRLF line ends; UTF-8, header row): booleans ``true``/``false``, dates
  ``YYYY-MM-DD``, list fields as a JSON array in one cell, null as an empty unquoted cell.
- JSONL: one JSON object per line, the records API's representation of a row.
- Parquet: date32 dates, booleans, ``list<string>`` lists, strings otherwise; snappy.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import BinaryIO

from moderation_data.query import language as ql
from moderation_data.query.records import RecordsQuery
from moderation_data.releases.pseudonyms import ProjectPseudonyms, kind_of
from moderation_data.releases.selectors import release_rows_table

LIST_SEPARATOR = "\x1f"  # unit separator: never part of a codebook value
# Row groups of 32k rows keep a worker process near 200 MB (65k: about 300 MB) at no cost in speed.
PARQUET_ROW_GROUP_ROWS = 32_768
CSV_BLOCK_BYTES = 1 << 20  # pyarrow parses the COPY stream in blocks of this size
PROGRESS_EVERY_SECONDS = 1.0
EXTENSIONS = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet"}
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/jsonl; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}

# (progress callback) rows written so far -> False to stop (the export was cancelled or taken over).
Progress = Callable[[int], bool]


class ExportAborted(Exception):
    """The export stopped being ours while we were writing it (cancelled, or claimed by another worker)."""


def _select_list(query: RecordsQuery, project: ProjectPseudonyms, fmt: str) -> tuple[list[str], list]:
    """The SELECT list (and its parameters) of the export's fields, rendered for ``fmt``."""
    select, params = [], []
    for name in query.selected:
        field = query.fields[name]
        column = field.column
        if field.type == "pseudonym":
            expression, expression_params = project.sql(column, kind_of(name))
            params += expression_params
        elif fmt == "csv" and field.type == "list":
            expression = f"to_json({column})::text"
        elif fmt == "csv" and field.type == "boolean":
            expression = f"{column}::text"
        elif fmt == "parquet" and field.type == "list":
            expression = f"array_to_string({column}, '{LIST_SEPARATOR}')"
        else:
            expression = column
        select.append(f'{expression} AS "{name}"')
    return select, params


def chunk_sql(
    query: RecordsQuery, *, project: ProjectPseudonyms, fmt: str, after_row_id: int, last_row_id: int
) -> tuple:
    """The ``COPY (SELECT ...) TO STDOUT`` statement of one row range, and its parameters."""
    where, where_params = ql.compile_sql(query.node, query.fields)
    select, select_params = _select_list(query, project, fmt)
    table = release_rows_table(query.release)
    # Identifiers come from the codebook (validated names), values are all parameters.
    inner = (
        f"SELECT {', '.join(select)} FROM {table} "  # noqa: S608
        f"WHERE ({where}) AND row_id > %s AND row_id <= %s ORDER BY row_id"
    )
    params = [*select_params, *where_params, after_row_id, last_row_id]
    if fmt == "jsonl":
        # CSV mode with a quote and delimiter that JSON never contains: the text comes out verbatim
        # (text mode would double every backslash).
        return (
            f"COPY (SELECT row_to_json(r)::text FROM ({inner}) r) TO STDOUT "  # noqa: S608
            f"WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')",
            params,
        )
    return f"COPY ({inner}) TO STDOUT WITH (FORMAT csv)", params


def csv_header(query: RecordsQuery) -> bytes:
    return (",".join(query.selected) + "\r\n").encode()


class _Throttle:
    """Called every 256 rows; calls ``progress`` at most once a second, raising ExportAborted when it says stop."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.last = time.monotonic()

    def __call__(self, rows: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last >= PROGRESS_EVERY_SECONDS:
            self.last = now
            if not self.progress(rows):
                raise ExportAborted


def _copy_rows(cursor, sql: str, params: list, sink: Callable[[bytes], None], throttle: _Throttle) -> int:
    """Stream COPY output into ``sink``; every row is one line (no field of ours contains a newline)."""
    rows = 0
    with cursor.copy(sql, params) as copy:
        for data in copy:
            sink(data)
            rows += 1
            if rows & 255 == 0:
                throttle(rows)
    return rows


def write_text_chunk(cursor, sql: str, params: list, out: BinaryIO, progress: Progress, *, crlf: bool = False) -> int:
    """CSV or JSONL: the COPY bytes, as they arrive. Returns the number of rows written.

    CSV lines end in CRLF (RFC 4180): each COPY message is exactly one row ending in LF.
    """
    throttle = _Throttle(progress)
    buffer = io.BufferedWriter(_Unclosable(out), buffer_size=1 << 20)
    write = buffer.write
    sink = (lambda data: write(bytes(data)[:-1] + b"\r\n")) if crlf else write
    rows = _copy_rows(cursor, sql, params, sink, throttle)
    buffer.flush()
    throttle(rows, force=True)
    return rows


class _Unclosable(io.RawIOBase):
    """Lets a BufferedWriter write to ``out`` without closing it."""

    def __init__(self, out: BinaryIO):
        self.out = out

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.out.write(data)
        return len(data)


class _CopyReader(io.RawIOBase):
    """A readable file over a COPY stream, for pyarrow's streaming CSV reader."""

    def __init__(self, copy, throttle: _Throttle):
        self.rows = 0
        self._iter = iter(copy)
        self._pending = memoryview(b"")
        self._throttle = throttle

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        view = memoryview(target).cast("B")
        filled = 0
        while filled < len(view):
            if not self._pending:
                data = next(self._iter, None)
                if data is None:
                    break
                self._pending = memoryview(data)
                self.rows += 1
                if self.rows & 255 == 0:
                    self._throttle(self.rows)
            n = min(len(self._pending), len(view) - filled)
            view[filled : filled + n] = self._pending[:n]
            self._pending = self._pending[n:]
            filled += n
        return filled


def parquet_schema(query: RecordsQuery):
    import pyarrow as pa

    types = {
        "date": pa.date32(),
        "boolean": pa.bool_(),
        "integer": pa.int64(),
        "list": pa.list_(pa.string()),
    }
    return pa.schema([(name, types.get(query.fields[name].type, pa.string())) for name in query.selected])


def write_parquet_chunk(cursor, sql: str, params: list, out: BinaryIO, progress: Progress, schema) -> int:
    """Parquet: COPY CSV parsed by pyarrow in blocks, written as row groups. Constant memory."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    names = schema.names
    csv_types = {f.name: (pa.string() if pa.types.is_list(f.type) else f.type) for f in schema}
    read_options = pcsv.ReadOptions(column_names=names, block_size=CSV_BLOCK_BYTES, use_threads=False)
    convert_options = pcsv.ConvertOptions(
        column_types=csv_types,
        true_values=["t"],
        false_values=["f"],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,  # "" is an empty string (or list), an unquoted empty cell is null
        # Only COPY's NULL (an unquoted empty cell) is null: pyarrow's default list would also turn the
        # codes NA (Namibia, Nauru's language), N/A, NULL and nan, which COPY leaves unquoted, into nulls.
        null_values=[""],
    )
    list_columns = [i for i, f in enumerate(schema) if pa.types.is_list(f.type)]
    empty_list = pa.scalar([], pa.list_(pa.string()))
    throttle = _Throttle(progress)
    pending: list = []
    pending_rows = 0
    writer = pq.ParquetWriter(out, schema, compression="snappy")

    def flush() -> None:
        nonlocal pending, pending_rows
        if pending:
            writer.write_table(pa.Table.from_batches(pending, schema=schema), row_group_size=PARQUET_ROW_GROUP_ROWS)
        pending, pending_rows = [], 0

    with cursor.copy(sql, params) as copy:
        source = _CopyReader(copy, throttle)
        buffered = io.BufferedReader(source, 1 << 20)
        # No matching row in this chunk: an empty stream is no CSV to pyarrow, and the file is the
        # schema with no row group.
        reader = (
            pcsv.open_csv(pa.PythonFile(buffered, mode="r"), read_options=read_options, convert_options=convert_options)
            if buffered.peek(1)
            else ()
        )
        for batch in reader:
            columns = list(batch.columns)
            for i in list_columns:
                text = columns[i]
                columns[i] = pc.if_else(pc.equal(text, ""), empty_list, pc.split_pattern(text, LIST_SEPARATOR))
            pending.append(pa.RecordBatch.from_arrays(columns, schema=schema))
            pending_rows += batch.num_rows
            if pending_rows >= PARQUET_ROW_GROUP_ROWS:
                flush()
        flush()
        rows = source.rows
    writer.close()
    throttle(rows, force=True)
    return rows


def write_chunk(
    raw_connection,
    query: RecordsQuery,
    *,
    project: ProjectPseudonyms,
    fmt: str,
    after_row_id: int,
    last_row_id: int,
    out: BinaryIO,
    progress: Progress,
) -> int:
    """Write rows ``(after_row_id, last_row_id]`` matching the query to ``out`` (no CSV header)."""
    sql, params = chunk_sql(query, project=project, fmt=fmt, after_row_id=after_row_id, last_row_id=last_row_id)
    with raw_connection.cursor() as cursor:
        project.load(cursor)
        if fmt == "parquet":
            return write_parquet_chunk(cursor, sql, params, out, progress, parquet_schema(query))
        return write_text_chunk(cursor, sql, params, out, progress, crlf=fmt == "csv")


# Manifest entries written as Parquet key-value metadata of their own (docs/exports.md), beside the whole
# manifest as JSON under "manifest".
PARQUET_METADATA_KEYS = (
    "dataset",
    "release",
    "release_sha256",
    "codebook_version",
    "pseudonym_key_version",
    "key_fingerprint",
    "query",
    "fields",
    "citation",
)


def parquet_metadata(manifest: dict) -> dict[bytes, bytes]:
    """The export's manifest as Parquet file metadata: one key per fact, and the whole manifest as JSON."""
    import json

    def text(value) -> bytes:
        return (value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)).encode()

    metadata = {f"moderation_research.{key}".encode(): text(manifest.get(key)) for key in PARQUET_METADATA_KEYS}
    metadata[b"moderation_research.manifest"] = text(manifest)
    return metadata


def combine_parts(
    fmt: str,
    query: RecordsQuery,
    parts: list[BinaryIO],
    out: BinaryIO,
    progress: Callable,
    *,
    manifest: dict | None = None,
) -> None:
    """Concatenate part files into the final file: bytes for CSV/JSONL (one header), row groups for Parquet.

    A Parquet file carries the export's ``manifest`` (release, sha256, codebook version, query,
    pseudonym key version, citation) as file metadata.
    """
    if fmt == "parquet":
        import pyarrow.parquet as pq

        schema = parquet_schema(query)
        if manifest:
            schema = schema.with_metadata(parquet_metadata(manifest))
        with pq.ParquetWriter(out, schema, compression="snappy") as writer:
            for part in parts:
                parquet = pq.ParquetFile(part)
                for group in range(parquet.num_row_groups):
                    writer.write_table(parquet.read_row_group(group))
                    progress()
        return
    if fmt == "csv":
        out.write(csv_header(query))
    for part in parts:
        while block := part.read(1 << 20):
            out.write(block)
            progress()
