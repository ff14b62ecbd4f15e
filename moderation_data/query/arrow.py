"""Records pages as Apache Arrow IPC streams (``Accept: application/vnd.apache.arrow.stream``).

A DataFrame library reads the stream without parsing any JSON: every column arrives in the
codebook's type (docs/query.md, "Arrow"):

============  =====================================================================
``date``      ``date32``
``month``     ``string`` (``YYYY-MM``)
``enum``      ``dictionary<int16, string>``, the dictionary being the codebook's values in order
``bucket``    the same, ordered (bucket order)
``string``    a dictionary too when the codebook lists the values (others are appended), else ``string``
``list``      ``list<dictionary<int16, string>>``
``boolean``   ``bool``
``integer``   ``int64``
``pseudonym`` ``string``
============  =====================================================================

The page's cursor travels in the schema's metadata (``next_cursor``, ``has_more``, ``release``,
``rows``) and in the headers ``X-Next-Cursor``, ``X-Has-More`` and ``X-Release``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.renderers import BaseRenderer

from moderation_data.query import language as ql
from moderation_data.query.records import RecordsQuery, RowsPage

if TYPE_CHECKING:  # pyarrow is imported by the first Arrow page, not by every process that loads the URLs
    import pyarrow as pa

MEDIA_TYPE = "application/vnd.apache.arrow.stream"
DICTIONARY_TYPES = {"enum", "bucket"}
SCALAR_TYPES = {  # pyarrow's type factories, by name
    "pseudonym": "string",
    "date": "date32",
    "month": "string",
    "boolean": "bool_",
    "integer": "int64",
    "string": "string",
}


def _domain(field: ql.Field) -> list[str] | None:
    if field.type in DICTIONARY_TYPES or field.type == "list" or (field.type == "string" and field.values):
        return [str(v) for v in field.values]
    return None


def _dictionary_array(values: list, domain: list[str], ordered: bool) -> pa.DictionaryArray:
    import pyarrow as pa

    codes = {value: i for i, value in enumerate(domain)}
    indices = []
    for value in values:
        if value is None:
            indices.append(None)
            continue
        code = codes.get(value)
        if code is None:  # a value outside the listed domain (an open field): appended
            code = codes[value] = len(domain)
            domain.append(value)
        indices.append(code)
    return pa.DictionaryArray.from_arrays(
        pa.array(indices, type=pa.int16()), pa.array(domain, type=pa.string()), ordered=ordered
    )


def _column(field: ql.Field, values: list) -> pa.Array:
    import pyarrow as pa

    domain = _domain(field)
    if field.type == "list":
        offsets, flat, missing = [0], [], []
        for value in values:
            missing.append(value is None)
            flat.extend(value or ())
            offsets.append(len(flat))
        items = _dictionary_array(flat, list(domain or []), ordered=False)
        mask = pa.array(missing, type=pa.bool_()) if any(missing) else None
        return pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), items, mask=mask)
    if domain is not None:
        return _dictionary_array(values, list(domain), ordered=field.type == "bucket")
    return pa.array(values, type=getattr(pa, SCALAR_TYPES.get(field.type, "string"))())


def page_table(query: RecordsQuery, page: RowsPage) -> pa.Table:
    """One page as an Arrow table with the codebook's types and the cursor in its metadata."""
    import pyarrow as pa

    columns = list(zip(*page.rows, strict=True)) if page.rows else [() for _ in query.selected]
    arrays = [_column(query.fields[name], list(values)) for name, values in zip(query.selected, columns, strict=True)]
    metadata = {
        "release": query.release.version,
        "next_cursor": page.next_cursor or "",
        "has_more": "true" if page.next_cursor else "false",
        "rows": str(page.count),
    }
    return pa.Table.from_arrays(arrays, names=list(query.selected), metadata=metadata)


def stream_bytes(table: pa.Table) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


class ArrowStreamRenderer(BaseRenderer):
    media_type = MEDIA_TYPE
    format = "arrow"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        import pyarrow as pa

        if isinstance(data, pa.Table):
            return stream_bytes(data)
        raise TypeError("the Arrow renderer answers record pages only")  # errors are answered in JSON
