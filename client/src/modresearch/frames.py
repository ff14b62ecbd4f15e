"""Record pages → one pandas DataFrame with the codebook's dtypes, built column by column.

Each page's rows (JSON objects) are turned into compact per-column chunks as soon as they arrive
and then dropped, so a walk never holds more than one page of Python dicts. At the end the chunks
are concatenated once. Memory peaks near the final DataFrame's own size (the chunks plus the
result, while a column is being concatenated), not at the several times more a list of dicts
would take (the platform's ``docs/data.md`` describes the fields; ``client/README.md`` the dtypes).

Codebook type → dtype:

============  ==========================================================================
``date``      ``datetime64[ns]`` (NaT when missing)
``month``     ``period[M]``
``enum``      ``category`` with the codebook's full domain, in codebook order
``bucket``    ordered ``category`` in bucket order (so ``<`` and ``sort_values`` work)
``string``    ``category`` when the codebook lists values (others seen are appended), else ``object``
``boolean``   ``bool``, or the nullable ``boolean`` when the field is nullable
``integer``   ``int64``, or the nullable ``Int64`` when the field is nullable
``list``      ``object``: Python lists (equal lists share one list object: copy before mutating)
``pseudonym`` ``object`` (Python ``str``)
============  ==========================================================================
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

DATE_UNIT = "datetime64[ns]"


def _values_of(field: Mapping[str, Any]) -> list[str]:
    if field.get("type") == "bucket" and field.get("buckets"):
        return [str(b["value"]) for b in field["buckets"]]
    return [str(v["value"]) for v in field.get("values") or []]


class _Column:
    def __init__(self, name: str) -> None:
        self.name = name
        self.chunks: list[np.ndarray] = []

    def add(self, values: list[Any]) -> None:
        raise NotImplementedError

    def _joined(self, dtype: Any) -> np.ndarray:
        if not self.chunks:
            return np.empty(0, dtype=dtype)
        joined = self.chunks[0] if len(self.chunks) == 1 else np.concatenate(self.chunks)
        self.chunks = []
        return joined

    def finish(self) -> Any:
        raise NotImplementedError

    def empty(self) -> Any:
        self.chunks = []
        return self.finish()


class _ObjectColumn(_Column):
    def add(self, values: list[Any]) -> None:
        chunk = np.empty(len(values), dtype=object)
        chunk[:] = values
        self.chunks.append(chunk)

    def finish(self) -> Any:
        return pd.Series(self._joined(object), dtype=object, name=self.name)


class _ListColumn(_ObjectColumn):
    """Lists, their elements interned and equal lists shared (a 30-country scope is stored once)."""

    def __init__(self, name: str, domain: Iterable[str]) -> None:
        super().__init__(name)
        self.interned: dict[str, str] = {v: v for v in domain}
        self.shared: dict[tuple, list] = {}

    def add(self, values: list[Any]) -> None:
        shared = self.shared
        keys = [None if value is None else tuple(value) for value in values]
        out = [shared.get(key) if key is not None else None for key in keys]
        if None in out:  # lists not seen before (or missing values): intern them once
            interned = self.interned
            for i, key in enumerate(keys):
                if key is not None and out[i] is None:
                    same = shared.get(key)
                    if same is None:
                        same = shared[key] = [interned.setdefault(v, v) if isinstance(v, str) else v for v in key]
                    out[i] = same
        super().add(out)


class _CategoryColumn(_Column):
    def __init__(self, name: str, domain: Sequence[str], *, ordered: bool = False) -> None:
        super().__init__(name)
        self.categories: list[str] = list(dict.fromkeys(domain))
        self.codes: dict[Any, int] = {v: i for i, v in enumerate(self.categories)}
        self.codes[None] = -1  # missing
        self.ordered = ordered

    def add(self, values: list[Any]) -> None:
        codes = self.codes
        get = codes.get
        out = [get(value, -2) for value in values]
        if -2 in out:
            for i, value in enumerate(values):
                if out[i] == -2:
                    # A value outside the listed domain (an open field such as a country outside the EEA):
                    # appended, so codes already written stay valid.
                    if value not in codes:
                        codes[value] = len(self.categories)
                        self.categories.append(value)
                    out[i] = codes[value]
        # The smallest integer type that holds the domain so far: chunks stay a byte per row for most fields.
        self.chunks.append(np.array(out, dtype=_code_type(len(self.categories))))

    def finish(self) -> Any:
        codes = self._joined(np.int8)
        categorical = pd.Categorical.from_codes(
            codes.astype(_code_type(len(self.categories)), copy=False),
            categories=pd.Index(self.categories, dtype=object),
            ordered=self.ordered,
        )
        return pd.Series(categorical, name=self.name)


def _code_type(categories: int) -> type:
    return np.int8 if categories < 127 else np.int16 if categories < 32767 else np.int32


class _DateColumn(_Column):
    def add(self, values: list[Any]) -> None:
        self.chunks.append(np.array(values, dtype="datetime64[D]"))

    def finish(self) -> Any:
        return pd.Series(self._joined("datetime64[D]").astype(DATE_UNIT), name=self.name)


class _MonthColumn(_Column):
    def add(self, values: list[Any]) -> None:
        self.chunks.append(np.array(values, dtype="datetime64[M]").astype(np.int64))

    def finish(self) -> Any:
        # Monthly period ordinals are months since 1970-01, as datetime64[M]'s integers (NaT alike).
        return pd.Series(pd.arrays.PeriodArray(self._joined(np.int64), dtype=pd.PeriodDtype("M")), name=self.name)


class _MaskedColumn(_Column):
    """Booleans and integers: values plus a mask of missing ones; nullable dtype when the codebook says so."""

    def __init__(self, name: str, kind: str, *, nullable: bool) -> None:
        super().__init__(name)
        self.kind = kind
        self.nullable = nullable
        self.masks: list[np.ndarray] = []
        self.numpy_dtype = np.bool_ if kind == "boolean" else np.int64

    def add(self, values: list[Any]) -> None:
        if None in values:
            mask = np.fromiter((v is None for v in values), dtype=np.bool_, count=len(values))
            filler = False if self.kind == "boolean" else 0
            values = [filler if v is None else v for v in values]
        else:
            mask = np.zeros(len(values), dtype=np.bool_)
        self.chunks.append(np.array(values, dtype=self.numpy_dtype))
        self.masks.append(mask)

    def finish(self) -> Any:
        masks, self.masks = self.masks, []
        mask = (masks[0] if len(masks) == 1 else np.concatenate(masks)) if masks else np.empty(0, dtype=np.bool_)
        data = self._joined(self.numpy_dtype)
        if self.nullable or mask.any():
            array = pd.arrays.BooleanArray(data, mask) if self.kind == "boolean" else pd.arrays.IntegerArray(data, mask)
            return pd.Series(array, name=self.name)
        return pd.Series(data, name=self.name)


def column_for(name: str, field: Mapping[str, Any] | None) -> _Column:
    """The accumulator of one field (``field`` is its codebook entry, None if the codebook lacks it)."""
    if field is None:
        return _ObjectColumn(name)
    kind = field.get("type")
    nullable = bool(field.get("nullable", True))
    if kind == "date":
        return _DateColumn(name)
    if kind == "month":
        return _MonthColumn(name)
    if kind == "bucket":
        return _CategoryColumn(name, _values_of(field), ordered=True)
    if kind == "enum" or (kind == "string" and field.get("values")):
        return _CategoryColumn(name, _values_of(field))
    if kind in ("boolean", "integer"):
        return _MaskedColumn(name, kind, nullable=nullable)
    if kind == "list":
        return _ListColumn(name, _values_of(field))
    return _ObjectColumn(name)


class FrameBuilder:
    """Accumulates pages of rows (dicts) and returns one typed DataFrame."""

    def __init__(self, codebook: Sequence[Mapping[str, Any]], fields: Sequence[str] | None = None) -> None:
        self.codebook = {f["name"]: f for f in codebook}
        self.fields: list[str] | None = list(fields) if fields else None
        self.columns: dict[str, _Column] = {}
        self.rows = 0
        if self.fields:
            self._columns_for(self.fields)

    def _columns_for(self, names: Iterable[str]) -> None:
        for name in names:
            if name not in self.columns:
                self.columns[name] = column_for(name, self.codebook.get(name))

    def add(self, rows: list[dict]) -> None:
        if not rows:
            return
        if self.fields is None:
            # No explicit selection: the server's (codebook) order, as the first row has it.
            self.fields = list(rows[0])
            self._columns_for(self.fields)
        extra = [key for key in rows[0] if key not in self.columns]
        if extra:  # a key the selection did not name (e.g. a report the server added): kept, as objects
            self._columns_for(extra)
            self.fields = [*self.fields, *extra]
            for key in extra:
                self.columns[key].add([None] * self.rows)
        names = list(self.columns)
        try:
            # Transposed in C: a tuple per row, then one tuple per column.
            columns = zip(*map(operator.itemgetter(*names), rows), strict=True) if len(names) > 1 else None
            by_column = list(columns) if columns is not None else [tuple(row[names[0]] for row in rows)]
        except KeyError:  # a row without some field (never from the records endpoint): slower, tolerant
            by_column = [tuple(row.get(name) for row in rows) for name in names]
        for name, values in zip(names, by_column, strict=True):
            self.columns[name].add(list(values))
        self.rows += len(rows)

    def finish(self) -> pd.DataFrame:
        if self.fields is None:
            return empty_frame(self.codebook.values(), None)
        return pd.DataFrame({name: self.columns[name].finish() for name in self.fields}, copy=False)


def empty_frame(codebook: Iterable[Mapping[str, Any]], fields: Sequence[str] | None) -> pd.DataFrame:
    """A DataFrame with no rows and the dtypes the fields would have."""
    entries = {f["name"]: f for f in codebook}
    names = list(fields) if fields else list(entries)
    return pd.DataFrame({name: column_for(name, entries.get(name)).empty() for name in names})


def to_frame(
    rows: list[dict], codebook: Sequence[Mapping[str, Any]], fields: Sequence[str] | None = None
) -> pd.DataFrame:
    """One page (or any list of rows) as a typed DataFrame."""
    builder = FrameBuilder(codebook, fields)
    builder.add(rows)
    if builder.rows == 0:
        return empty_frame(codebook, fields)
    return builder.finish()


def codebook_frame(codebook: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The codebook as a DataFrame: one row per field (values and buckets kept as lists of dicts).

    ``precision`` and ``withheld``: the release's precision of a quasi-identifier (``"month"`` for
    ``decided_on``, ``"withheld"`` for a field that is null in every row), None for other fields.
    """
    columns = ["name", "type", "description", "nullable", "filterable", "operations", "values", "buckets", "closed"]
    columns += ["precision", "withheld"]
    rows = []
    for field in codebook:
        row = {key: field.get(key) for key in columns}
        row["dtype"] = str(column_for(field["name"], field).empty().dtype)
        row["n_values"] = len(field.get("values") or [])
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[*columns, "dtype", "n_values"])
    return frame.set_index("name")


# --------------------------------------------------------------------------- Arrow pages

ARROW_MEDIA_TYPE = "application/vnd.apache.arrow.stream"


def _add_arrow(column: _Column, values: Any) -> None:
    """Append one Arrow array (a page's column, in the platform's codebook types) to an accumulator."""
    import pyarrow as pa

    if isinstance(column, _CategoryColumn) and pa.types.is_dictionary(values.type):
        dictionary = values.dictionary.to_pylist()
        codes = column.codes
        for value in dictionary:
            if value not in codes:
                codes[value] = len(column.categories)
                column.categories.append(value)
        lookup = np.array([codes[value] for value in dictionary] + [-1], dtype=np.int32)
        indices = values.indices.fill_null(len(dictionary)).to_numpy(zero_copy_only=False)
        column.chunks.append(lookup[indices].astype(_code_type(len(column.categories))))
    elif isinstance(column, _DateColumn):
        column.chunks.append(values.cast(pa.timestamp("s")).to_numpy(zero_copy_only=False).astype("datetime64[D]"))
    elif isinstance(column, _MaskedColumn):
        filler = False if column.kind == "boolean" else 0
        column.chunks.append(values.fill_null(filler).to_numpy(zero_copy_only=False).astype(column.numpy_dtype))
        column.masks.append(values.is_null().to_numpy(zero_copy_only=False))
    elif type(column) is _ObjectColumn and not pa.types.is_dictionary(values.type):
        column.chunks.append(values.to_numpy(zero_copy_only=False).astype(object))
    else:  # lists, months, anything else: through Python values, as a JSON page would give them
        column.add(values.to_pylist())


class ArrowFrameBuilder(FrameBuilder):
    """Like :class:`FrameBuilder`, from Arrow pages (``Accept: application/vnd.apache.arrow.stream``):
    no JSON is parsed, and the DataFrame has exactly the dtypes the JSON path gives."""

    def add_table(self, table: Any) -> None:
        if table.num_rows == 0:
            return
        if self.fields is None:
            self.fields = list(table.column_names)
            self._columns_for(self.fields)
        for name in self.fields:
            for chunk in table.column(name).chunks:
                _add_arrow(self.columns[name], chunk)
        self.rows += table.num_rows
