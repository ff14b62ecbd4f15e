"""Bulk exports: request, wait with progress, download resumably with sha256 verification.

The platform's ``docs/exports.md`` describes the server side: an export is queued, runs on workers,
and its file is served with ``ETag`` (its sha256) and ``Range`` support. ``download()`` writes to
``<path>.part``, continues an interrupted transfer with ``Range``/``If-Range`` from the bytes
already there, checks the sha256 of the whole file, and only then renames it into place.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from modresearch.errors import ChecksumMismatch, ConnectionFailed, ModResearchError
from modresearch.walk import loads

if TYPE_CHECKING:
    import pandas as pd

    from modresearch.client import Client

FINAL = frozenset({"ready", "failed", "cancelled", "expired"})
SUFFIXES = {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet"}
CHUNK = 1 << 20


class ExportFailed(ModResearchError):
    """An export ended without a file (failed, cancelled or expired)."""


class ExportJob:
    """One export of the calling client; attributes mirror the API's export representation."""

    def __init__(self, client: Client, data: dict[str, Any]) -> None:
        self._client = client
        self.data = data
        self.path: Path | None = None

    def __repr__(self) -> str:
        return (
            f"<ExportJob {self.id} {self.data.get('format')} of {self.data.get('dataset')} "
            f"{self.data.get('release')}: {self.status} {self.progress:.0%}>"
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "data":
            raise AttributeError(name)
        try:
            return self.data[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def status(self) -> str:
        return str(self.data["status"])

    @property
    def progress(self) -> float:
        return float(self.data.get("progress") or 0)

    def refresh(self) -> ExportJob:
        self.data = self._client._transport.json("GET", f"/api/v1/exports/{self.id}")
        return self

    def cancel(self) -> ExportJob:
        """Cancel a queued or running export (its reserved records are refunded), or delete a ready file."""
        self.data = self._client._transport.json("DELETE", f"/api/v1/exports/{self.id}")
        return self

    def wait(self, *, progress: bool | None = None, poll: float = 1.0, timeout: float | None = None) -> ExportJob:
        """Poll until the export is ready; raises :class:`ExportFailed` if it failed or was cancelled."""
        show = self._client.progress if progress is None else progress
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = None
        if show:
            from tqdm.auto import tqdm

            bar = tqdm(total=100, desc=f"export {self.id[:8]}", unit="%", bar_format="{l_bar}{bar}| {n:.0f}% {elapsed}")
        try:
            while True:
                if bar is not None:
                    bar.n = round(self.progress * 100, 1)
                    bar.set_postfix_str(self.status, refresh=True)
                if self.status in FINAL:
                    break
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"export {self.id} is still {self.status} after {timeout} s")
                self._client._transport.sleep(poll)
                self.refresh()
        finally:
            if bar is not None:
                bar.close()
        if self.status != "ready":
            raise ExportFailed(f"export {self.id} is {self.status}: {self.data.get('error') or 'no file'}")
        return self

    def download(self, path: str | os.PathLike[str] | None = None, *, progress: bool | None = None) -> Path:
        """Download the file to ``path`` (resuming a partial ``<path>.part``), verify its sha256, rename it in place."""
        if self.status != "ready":
            self.wait(progress=progress)
        target = Path(path) if path is not None else Path(f"{self.data.get('dataset')}-{self.id}{self._suffix()}")
        part = target.with_name(target.name + ".part")
        expected = str(self.data.get("sha256") or "")
        total = int(self.data.get("bytes") or 0) or None
        show = self._client.progress if progress is None else progress
        bar = None
        if show:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, unit="B", unit_scale=True, desc=target.name)
        transport = self._client._transport
        attempt = 0
        try:
            while True:
                have = part.stat().st_size if part.exists() else 0
                if total is not None and have > total:
                    part.unlink()
                    have = 0
                headers = {}
                if have and expected:
                    headers = {"Range": f"bytes={have}-", "If-Range": f'"{expected}"'}
                if bar is not None:
                    bar.n = have
                    bar.refresh()
                if total is not None and have == total:
                    break  # every byte is there already: only the checksum remains
                try:
                    with transport.stream("GET", f"/api/v1/exports/{self.id}/file", headers=headers) as response:
                        mode = "ab" if response.status_code == 206 else "wb"
                        etag = response.headers.get("ETag", "").strip('"')
                        if etag and expected and etag != expected:
                            raise ChecksumMismatch(
                                f"the server's ETag {etag} differs from the export's sha256 {expected}"
                            )
                        with open(part, mode) as out:
                            if mode == "wb" and bar is not None:
                                bar.n = 0
                            for chunk in response.iter_bytes():
                                out.write(chunk)
                                if bar is not None:
                                    bar.update(len(chunk))
                    break
                except (httpx.TransportError, ConnectionFailed) as exc:
                    # The connection broke mid-file: keep what arrived and ask for the rest.
                    if attempt >= transport.max_retries:
                        raise ConnectionFailed(f"download of export {self.id} kept failing: {exc}") from exc
                    transport.retries += 1
                    transport.sleep(transport._delay(attempt, None))
                    attempt += 1
        finally:
            if bar is not None:
                bar.close()
        digest = sha256_of(part)
        if expected and digest != expected:
            part.unlink(missing_ok=True)
            raise ChecksumMismatch(
                f"{target.name}: sha256 {digest} does not match the export's {expected}; the partial file was "
                "removed, download again"
            )
        os.replace(part, target)
        self.path = target
        return target

    def _suffix(self) -> str:
        return SUFFIXES.get(str(self.data.get("format")), "")

    def to_dataframe(self) -> pd.DataFrame:
        """The export's rows with the codebook's dtypes (downloads the file first if needed)."""
        path = self.path
        if path is None or not path.exists():
            directory = Path(tempfile.mkdtemp(prefix="modresearch-"))
            path = self.download(directory / f"export-{self.id}{self._suffix()}", progress=False)
        codebook = self._client._codebook(str(self.data["dataset"]))
        fields = self.data.get("fields") or None
        return read_export(path, str(self.data.get("format")), codebook, fields)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def read_export(path: Path, format: str, codebook: list[dict], fields: list[str] | None) -> pd.DataFrame:
    """An export file as a DataFrame with the same dtypes as :meth:`Client.records`."""
    from modresearch.frames import FrameBuilder

    builder = FrameBuilder(codebook, fields)
    if format == "jsonl":
        with open(path, "rb") as handle:
            batch: list[dict] = []
            for line in handle:
                if line.strip():
                    batch.append(loads(line))
                if len(batch) >= 10_000:
                    builder.add(batch)
                    batch = []
            builder.add(batch)
        return builder.finish()
    if format == "csv":
        types = {f["name"]: f.get("type") for f in codebook}
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            batch = []
            for row in reader:
                batch.append({name: _csv_value(value, types.get(name)) for name, value in row.items()})
                if len(batch) >= 10_000:
                    builder.add(batch)
                    batch = []
            builder.add(batch)
        return builder.finish()
    if format == "parquet":
        return read_parquet(path, codebook, fields)
    raise ValueError(f"unknown export format {format!r}")


def _csv_value(value: str | None, kind: str | None) -> Any:
    if value is None or value == "":
        return None
    if kind == "boolean":
        return value == "true"
    if kind == "integer":
        return int(value)
    if kind == "list":
        return loads(value.encode())
    return value


def read_parquet(path: Path, codebook: list[dict], fields: list[str] | None) -> pd.DataFrame:
    """A Parquet export (needs pyarrow), column by column into the codebook's dtypes."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModResearchError("reading Parquet needs pyarrow: pip install 'modresearch[arrow]'") from exc
    table = pq.read_table(path)
    from modresearch.frames import FrameBuilder

    builder = FrameBuilder(codebook, fields or table.column_names)
    for batch in table.to_batches(max_chunksize=50_000):
        columns = {name: batch.column(name).to_pylist() for name in batch.schema.names}
        rows = [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]
        for row in rows:
            for name, value in row.items():
                if hasattr(value, "isoformat") and not isinstance(value, str):
                    row[name] = value.isoformat()
        builder.add(rows)
    return builder.finish()


def write_csv_rows(rows: list[dict], fields: list[str], *, header: bool) -> bytes:
    """Rows as RFC 4180 CSV, the platform's export conventions (lists as JSON, booleans true/false)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if header:
        writer.writerow(fields)
    for row in rows:
        writer.writerow([_csv_cell(row.get(name)) for name in fields])
    return buffer.getvalue().encode("utf-8")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, list):
        from modresearch.walk import dumps

        return dumps(value).decode()
    return str(value)


__all__ = ["ExportFailed", "ExportJob", "read_export", "sha256_of", "write_csv_rows"]
