"""Walking a query's pages, resumably.

A walk follows ``next_cursor`` over one pinned release (the API's cursors never expire: the
platform's ``docs/query.md``). While one page is being converted or written, the next one is
already being fetched (one request ahead, never more), so the client's own work hides behind
the network wait.

Resuming: with a state file, every page is first appended to a *sink* (an output file, or the
client's spool of pages), flushed to disk, and only then is the state (the cursor of the next page,
rows so far and the sink's size) replaced atomically. A walk killed at any point restarts from the
state: the sink is cut back to the size the state recorded and the walk continues from its cursor,
so no row is written twice or missed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from modresearch.errors import QuotaExceeded, StateMismatch
from modresearch.query import get_parameters

try:  # optional: several times faster than the standard library on 1,000-row pages
    import orjson

    def loads(data: bytes) -> Any:
        return orjson.loads(data)

    def dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)

except ImportError:  # pragma: no cover - exercised where orjson is absent

    def loads(data: bytes) -> Any:
        return json.loads(data)

    def dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


STATE_FORMAT = 1
MAX_PAGE_SIZE = 1000


@dataclass
class WalkSpec:
    """What a walk reads: one dataset's release, a query and a field selection."""

    dataset: str
    release: str
    query: dict | None = None
    fields: list[str] | None = None
    limit: int | None = None
    page_size: int = MAX_PAGE_SIZE

    def fingerprint(self) -> str:
        """Identifies the walk's rows (not its release, which a resumed walk takes from the state)."""
        canonical = json.dumps(
            {"dataset": self.dataset, "query": self.query, "fields": self.fields, "limit": self.limit},
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def path(self) -> str:
        return f"/api/v1/datasets/{self.dataset}/releases/{self.release}/records"


@dataclass
class Page:
    rows: list[dict]
    next_cursor: str | None
    has_more: bool
    release: str
    extra: dict = field(default_factory=dict)  # any other key of the page (e.g. a report on generalized rows)


def fetch_pages(
    request: Callable[..., Any],
    spec: WalkSpec,
    *,
    cursor: str | None = None,
    rows_done: int = 0,
    arrow: bool = False,
) -> Iterator[Page]:
    """Pages of ``spec`` from ``cursor`` on, prefetching the next while the caller handles one.

    ``request(method, path, json=...)`` returns an httpx response (errors raised by it). With
    ``arrow`` the pages are asked for as Arrow IPC streams and ``Page.rows`` is a ``pyarrow.Table``.
    """
    headers = {"Accept": "application/vnd.apache.arrow.stream"} if arrow else {}

    def size_after(done: int) -> int:
        if spec.limit is None:
            return spec.page_size
        return max(0, min(spec.page_size, spec.limit - done))

    get_form = get_parameters(spec.query)

    def fetch(cursor: str | None, page_size: int) -> Page:
        if get_form is not None:
            params = [*get_form, ("page_size", str(page_size))]
            if spec.fields:
                params.append(("fields", ",".join(spec.fields)))
            if cursor:
                params.append(("cursor", cursor))
            response = request("GET", spec.path(), params=params, headers=headers)
        else:
            body: dict[str, Any] = {"page_size": page_size, "cursor": cursor}
            if spec.query:
                body["query"] = spec.query
            if spec.fields:
                body["fields"] = spec.fields
            response = request("POST", spec.path(), json=body, headers=headers)
        if arrow:
            import pyarrow as pa

            table = pa.ipc.open_stream(response.content).read_all()
            overlap = response.headers.get("X-Generalized-Overlap")
            return Page(
                rows=table,
                next_cursor=response.headers.get("X-Next-Cursor") or None,
                has_more=response.headers.get("X-Has-More") == "true",
                release=response.headers.get("X-Release") or spec.release,
                extra={"generalized_overlap": int(overlap)} if overlap else {},
            )
        page = loads(response.content)
        extra = {k: v for k, v in page.items() if k not in ("data", "next_cursor", "has_more", "release")}
        return Page(
            rows=page["data"],
            next_cursor=page.get("next_cursor"),
            has_more=bool(page.get("has_more")),
            release=str(page.get("release") or spec.release),
            extra=extra,
        )

    wanted = size_after(rows_done)
    if wanted == 0:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="modresearch-prefetch") as pool:
        pending: Future[Page] | None = pool.submit(fetch, cursor, wanted)
        try:
            while pending is not None:
                page = pending.result()
                pending = None
                if spec.limit is not None and rows_done + len(page.rows) > spec.limit:
                    page.rows = page.rows[: spec.limit - rows_done]
                rows_done += len(page.rows)
                more = page.has_more and page.next_cursor is not None and size_after(rows_done) > 0
                if more:
                    pending = pool.submit(fetch, page.next_cursor, size_after(rows_done))
                else:
                    page.has_more = page.has_more and spec.limit is None
                yield page
        finally:
            if pending is not None:
                pending.cancel()


# --------------------------------------------------------------------------- sinks and state


class Sink(Protocol):
    """Where a resumable walk puts its pages; ``size()`` is what is safely on disk."""

    def write(self, page: Page) -> None: ...

    def size(self) -> int: ...

    def truncate(self, size: int) -> None: ...

    def close(self) -> None: ...


class FileSink:
    """Base of file sinks: appends bytes, flushes and fsyncs after each page, truncates on resume."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "ab")  # noqa: SIM115 - closed in close()

    def _append(self, data: bytes) -> None:
        self.handle.write(data)
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def write(self, page: Page) -> None:
        raise NotImplementedError

    def size(self) -> int:
        return self.handle.tell()

    def truncate(self, size: int) -> None:
        self.handle.flush()
        self.handle.truncate(size)
        self.handle.seek(size)

    def close(self) -> None:
        self.handle.close()


class PageSpool(FileSink):
    """One JSON array of rows per line: the client's own record of the pages a walk has fetched."""

    def write(self, page: Page) -> None:
        self._append(dumps(page.rows) + b"\n")

    def pages(self) -> Iterator[list[dict]]:
        """The pages on disk (call after :meth:`truncate` has cut off any partial one)."""
        if not self.handle.closed:
            self.handle.flush()
        with open(self.path, "rb") as handle:
            for line in handle:
                if line.endswith(b"\n"):
                    yield loads(line)


class WalkState:
    """The state file of a resumable walk (JSON, replaced atomically)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> dict | None:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def check(self, state: dict, spec: WalkSpec) -> None:
        if state.get("format") != STATE_FORMAT or state.get("fingerprint") != spec.fingerprint():
            raise StateMismatch(
                f"{self.path} records another walk (dataset {state.get('dataset')!r}, query {state.get('query')!r}, "
                f"fields {state.get('fields')!r}); delete it to start this one, or choose another state path."
            )
        if state.get("release") != spec.release:
            raise StateMismatch(
                f"{self.path} walks release {state.get('release')}, not {spec.release}: cursors belong to their "
                "release. "
                "Omit the release to continue the saved walk, or delete the state file to start over."
            )

    def save(self, spec: WalkSpec, *, cursor: str | None, rows: int, offset: int, complete: bool) -> None:
        state = {
            "format": STATE_FORMAT,
            "fingerprint": spec.fingerprint(),
            "dataset": spec.dataset,
            "release": spec.release,
            "query": spec.query,
            "fields": spec.fields,
            "limit": spec.limit,
            "cursor": cursor,
            "rows": rows,
            "offset": offset,
            "complete": complete,
            "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)


def resumable_walk(
    request: Callable[..., Any],
    spec: WalkSpec,
    *,
    sink: Sink,
    state: WalkState,
    on_page: Callable[[Page], None] | None = None,
) -> Iterator[Page]:
    """Pages written to ``sink`` and recorded in ``state``; continues a saved walk if there is one.

    Yields each page after it is safely on disk. A quota cut-off raises :class:`QuotaExceeded` with
    ``resume`` filled in; the state stays, so the same call continues after the reset.
    """
    saved = state.load()
    cursor, rows = None, 0
    if saved is not None:
        state.check(saved, spec)
        sink.truncate(int(saved["offset"]))  # drops a page written after the last saved state
        cursor, rows = saved.get("cursor"), int(saved.get("rows") or 0)
        if saved.get("complete"):
            return
    else:
        sink.truncate(0)
        state.save(spec, cursor=None, rows=0, offset=sink.size(), complete=False)
    try:
        for page in fetch_pages(request, spec, cursor=cursor, rows_done=rows):
            sink.write(page)
            rows += len(page.rows)
            cursor = page.next_cursor if page.has_more else None
            state.save(spec, cursor=cursor, rows=rows, offset=sink.size(), complete=not page.has_more)
            if on_page is not None:
                on_page(page)
            yield page
    except QuotaExceeded as exc:
        exc.rows_fetched = rows
        exc.resume = {
            "state": str(state.path),
            "cursor": cursor,
            "rows": rows,
            "hint": f"{rows:,} rows are saved; run the same call again with state={str(state.path)!r} "
            "after the reset to continue where it stopped",
        }
        raise
    if saved is None or not saved.get("complete"):
        state.save(spec, cursor=None, rows=rows, offset=sink.size(), complete=True)
