"""The client: catalog, records, counts, aggregates, exports and usage of one research grant.

>>> from modresearch import Client
>>> c = Client.from_env()
>>> rel = c.release("moderation-decisions")          # pins the version "latest" names now
>>> df = rel.records(where={"policy": "violent_extremism"}, fields=["decided_on", "detection_source"])

Every call that reads a dataset's rows reads the release pinned for that dataset in this client
(the first resolved, or the one :meth:`Client.release` named last), so a session's records, counts,
aggregates and exports all describe the same data even if a new release is published meanwhile.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modresearch.citation import FORMATS as CITATION_FORMATS
from modresearch.citation import citation as make_citation
from modresearch.config import resolve
from modresearch.errors import NotFound, QuotaExceeded
from modresearch.exports import ExportJob
from modresearch.http import Transport
from modresearch.query import Where, to_query
from modresearch.walk import MAX_PAGE_SIZE, Page, PageSpool, WalkSpec, WalkState, fetch_pages, resumable_walk

if TYPE_CHECKING:  # pandas is imported when a frame is first built: the CLI and plain walks start without it
    import pandas as pd

    from modresearch.frames import FrameBuilder

LATEST = "latest"


def _has_pyarrow() -> bool:
    """Whether pyarrow is installed (found, not imported: it loads when the first Arrow page arrives)."""
    return importlib.util.find_spec("pyarrow") is not None


class Count(int):
    """How many rows match: an ``int``, plus ``generalized_overlap``, the rows it could not decide.

    Where a filter is finer than the release's precision (``country=DE`` where some accounts carry
    ``EU_WEST``, a mid-month day on a month-precision release), those rows may or may not match. The
    ones that match as released are in the count (``decided_on <= 2025-03-15`` counts the March rows
    of a month-precision release), the others are not (``decided_on >= 2025-03-15`` leaves them out):
    the true count lies within ``count ± generalized_overlap`` (docs/query.md, "Generalized values").
    """

    generalized_overlap: int

    def __new__(cls, value: int, generalized_overlap: int = 0) -> Count:
        count = super().__new__(cls, value)
        count.generalized_overlap = int(generalized_overlap)
        return count

    def __str__(self) -> str:
        return int.__repr__(self)

    def __repr__(self) -> str:
        if self.generalized_overlap:
            return f"Count({int(self)}, generalized_overlap={self.generalized_overlap})"
        return int.__repr__(self)


class Release:
    """One pinned release of a dataset: its metadata, and the data calls bound to it."""

    def __init__(self, client: Client, dataset: str, meta: dict[str, Any]) -> None:
        self.client = client
        self.dataset = dataset
        self.meta = meta
        self.version: str = str(meta.get("release") or meta.get("version"))

    def __repr__(self) -> str:
        return (
            f"<Release {self.dataset} {self.version}: {self.row_count:,} rows, "
            f"{self.meta.get('period_start')} to {self.meta.get('period_end')}>"
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "meta":
            raise AttributeError(name)
        try:
            return self.meta[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def row_count(self) -> int:
        return int(self.meta.get("row_count") or 0)

    def codebook(self) -> pd.DataFrame:
        return self.client.codebook(self.dataset)

    def records(self, **kwargs: Any) -> pd.DataFrame:
        return self.client.records(self.dataset, release=self.version, **kwargs)

    def iter_records(self, **kwargs: Any) -> Iterator[pd.DataFrame]:
        return self.client.iter_records(self.dataset, release=self.version, **kwargs)

    def iter_rows(self, **kwargs: Any) -> Iterator[dict]:
        return self.client.iter_rows(self.dataset, release=self.version, **kwargs)

    def count(self, **kwargs: Any) -> Count:
        return self.client.count(self.dataset, release=self.version, **kwargs)

    def aggregate(self, **kwargs: Any) -> pd.DataFrame:
        return self.client.aggregate(self.dataset, release=self.version, **kwargs)

    def estimate(self, **kwargs: Any) -> dict:
        return self.client.estimate(self.dataset, release=self.version, **kwargs)

    def export(self, **kwargs: Any) -> ExportJob:
        return self.client.export(self.dataset, release=self.version, **kwargs)

    def citation(self, format: str = "text") -> str:
        """How to cite this release: ``format`` is ``"text"``, ``"bibtex"`` or ``"ris"``."""
        return self.client.citation(self.dataset, release=self.version, format=format)


class Client:
    """A research grant's client for the platform at ``url``.

    ``progress`` sets the default for progress bars (tqdm.auto: a widget in Jupyter, a bar in a
    terminal). ``arrow``: read record pages as Arrow IPC streams (the default when pyarrow is
    installed): no JSON is parsed, and the DataFrame is the same.
    ``max_wait`` is the longest single wait (seconds) the client accepts before retrying
    a refused request; a limit that needs longer raises instead. ``scope`` asks for a narrower token.
    """

    def __init__(
        self,
        url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | None = None,
        progress: bool = True,
        timeout: float = 120.0,
        max_retries: int = 8,
        max_wait: float = 900.0,
        arrow: bool | None = None,
    ) -> None:
        # The platform's address; a copied API base (".../api/v1") works too.
        self.url = url.rstrip("/").removesuffix("/api/v1")
        self.progress = progress
        self._transport = Transport(
            self.url, client_id, client_secret, scope=scope, timeout=timeout, max_retries=max_retries, max_wait=max_wait
        )
        self._pinned: dict[str, Release] = {}
        self._datasets: dict[str, dict] = {}
        self._lock = threading.Lock()
        self.use_arrow = _has_pyarrow() if arrow is None else arrow

    @classmethod
    def from_env(cls, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> Client:
        """A client configured by ``MODRESEARCH_URL``, ``MODRESEARCH_CLIENT_ID``, ``MODRESEARCH_CLIENT_SECRET``,
        or a ``.env``/JSON credentials file (``path``, ``MODRESEARCH_CREDENTIALS``, ``./.env``)."""
        found = resolve(path)
        return cls(found["url"], found["client_id"], found["client_secret"], **kwargs)

    def __repr__(self) -> str:
        return f"Client({self.url!r}, client_id={self._transport.client_id!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    # ------------------------------------------------------------------ the grant
    def me(self) -> dict:
        """The calling grant: project, researchers, datasets, modality, validity, scopes, quotas, today's usage."""
        return self._transport.json("GET", "/api/v1/me")

    def usage(self) -> dict:
        """Today's requests and records with what remains, the quotas, and the last 30 days (``days``)."""
        return self._transport.json("GET", "/api/v1/usage")

    # ------------------------------------------------------------------ catalog
    def datasets(self) -> pd.DataFrame:
        """The datasets this grant may use, one row each (its releases in ``releases``)."""
        import pandas as pd

        rows = self._transport.json("GET", "/api/v1/datasets")["data"]
        frame = pd.DataFrame(rows)
        if not frame.empty:
            frame["n_releases"] = frame["releases"].map(len)
            frame = frame.set_index("slug")
        return frame

    def dataset(self, dataset: str) -> dict:
        """A dataset's description, codebook and releases, as the API answers it."""
        with self._lock:
            known = self._datasets.get(dataset)
        if known is None:
            known = self._transport.json("GET", f"/api/v1/datasets/{dataset}")
            with self._lock:
                self._datasets[dataset] = known
        return known

    def _codebook(self, dataset: str) -> list[dict]:
        return list(self.dataset(dataset).get("codebook") or [])

    def codebook(self, dataset: str) -> pd.DataFrame:
        """The codebook as a DataFrame indexed by field name (type, description, values, ``dtype`` in DataFrames)."""
        from modresearch.frames import codebook_frame

        return codebook_frame(self._codebook(dataset))

    def release(self, dataset: str, version: str = LATEST) -> Release:
        """A release's metadata; **pins** the version it resolved for every later call on ``dataset``."""
        meta = self._transport.json("GET", f"/api/v1/datasets/{dataset}/releases/{version}")
        release = Release(self, dataset, meta)
        with self._lock:
            self._pinned[dataset] = release
        return release

    def pinned(self, dataset: str) -> str | None:
        """The version this client reads for ``dataset`` (None until one is resolved)."""
        with self._lock:
            release = self._pinned.get(dataset)
        return release.version if release else None

    def _version(self, dataset: str, release: str | None) -> str:
        """The concrete version to read: as given, else the pinned one, else ``latest`` resolved and pinned."""
        if release is not None and release != LATEST:
            return release
        if release is None:
            with self._lock:
                pinned = self._pinned.get(dataset)
            if pinned is not None:
                return pinned.version
        return self.release(dataset, LATEST).version

    def citation(self, dataset: str, *, release: str | None = None, format: str = "text") -> str:
        """How to cite a release (``"text"``, ``"bibtex"`` or ``"ris"``)."""
        if format not in CITATION_FORMATS:
            raise ValueError(f"format must be one of {', '.join(CITATION_FORMATS)}, not {format!r}")
        version = self._version(dataset, release)
        path = f"/api/v1/datasets/{dataset}/releases/{version}"
        try:
            # The platform's own citation (docs/citation.md), when it serves one in this format.
            return self._transport.request("GET", f"{path}/citation", params={"format": format}).text.strip()
        except NotFound:
            pass  # a platform without the citation endpoint: written here from the release metadata
        meta = self._transport.json("GET", path)
        title = str(self.dataset(dataset).get("title") or dataset)
        return make_citation(meta, title, format)

    # ------------------------------------------------------------------ records
    def _spec(
        self,
        dataset: str,
        *,
        where: Where,
        fields: Sequence[str] | None,
        limit: int | None,
        release: str | None,
        page_size: int,
        state: str | os.PathLike[str] | None = None,
    ) -> WalkSpec:
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        if isinstance(fields, str):
            fields = [f.strip() for f in fields.split(",") if f.strip()]
        saved = WalkState(state).load() if state is not None else None
        if saved is not None and release in (None, LATEST) and saved.get("release"):
            # Continuing a saved walk: its cursor belongs to its release, which is pinned again.
            version = str(saved["release"])
            if self.pinned(dataset) != version:
                self.release(dataset, version)
        else:
            version = self._version(dataset, release)
        return WalkSpec(
            dataset=dataset,
            release=version,
            query=to_query(where),
            fields=list(fields) if fields else None,
            limit=limit,
            page_size=page_size,
        )

    def _progress_bar(self, spec: WalkSpec, show: bool | None, initial: int = 0) -> Any:
        if not (self.progress if show is None else show):
            return None
        from tqdm.auto import tqdm

        total = self.count(spec.dataset, where=spec.query, release=spec.release)
        if spec.limit is not None:
            total = min(total, spec.limit)
        return tqdm(total=total, initial=initial, unit=" rows", desc=f"{spec.dataset} {spec.release}")

    def _pages(self, spec: WalkSpec, progress: bool | None, *, arrow: bool = False) -> Iterator[Page]:
        bar = self._progress_bar(spec, progress)
        try:
            for page in fetch_pages(self._transport.request, spec, arrow=arrow):
                if bar is not None:
                    bar.update(len(page.rows))
                yield page
        finally:
            if bar is not None:
                bar.close()

    def records(
        self,
        dataset: str,
        *,
        where: Where = None,
        fields: Sequence[str] | str | None = None,
        limit: int | None = None,
        release: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
        progress: bool | None = None,
        state: str | os.PathLike[str] | None = None,
    ) -> pd.DataFrame:
        """Every matching row (or the first ``limit``) as one DataFrame with the codebook's dtypes.

        ``where``: the query language, a GET-style dict (``{"decided_on__gte": "2025-01-01"}``) or
        TikTok-style conditions (see :mod:`modresearch.query`). ``state``: a file that makes the walk
        resumable: pages are kept beside it (``<state>.pages``) and a call with the same arguments
        after a crash or a quota cut-off continues where the last one stopped; both files are removed
        when the walk completes. ``df.attrs`` records the dataset, release, query and fields (and ``page_reports``:
        anything the pages said beside their rows).
        """
        from modresearch.frames import ArrowFrameBuilder, FrameBuilder

        spec = self._spec(
            dataset, where=where, fields=fields, limit=limit, release=release, page_size=page_size, state=state
        )
        codebook = self._codebook(dataset)
        arrow = state is None and self.use_arrow
        builder = ArrowFrameBuilder(codebook, spec.fields) if arrow else FrameBuilder(codebook, spec.fields)
        reports: list[dict] = []
        try:
            if arrow:
                # Arrow pages: typed columns straight into the DataFrame, no JSON parsed at all.
                for page in self._pages(spec, progress, arrow=True):
                    builder.add_table(page.rows)
                    if page.extra:
                        reports.append(page.extra)
            elif state is None:
                for page in self._pages(spec, progress):
                    builder.add(page.rows)
                    if page.extra:
                        reports.append(page.extra)
            else:
                self._resumable_records(spec, builder, Path(state), progress, reports)
        except QuotaExceeded as exc:
            exc.rows_fetched = builder.rows
            if exc.resume is None:
                exc.resume = {
                    "hint": f"{builder.rows:,} rows were fetched (in exc.partial); pass state='walk.state' to "
                    "records() so that a walk cut off by a quota continues where it stopped"
                }
            exc.partial = self._frame(builder, codebook, spec, reports)  # type: ignore[attr-defined]
            raise
        return self._frame(builder, codebook, spec, reports)

    def _resumable_records(
        self, spec: WalkSpec, builder: FrameBuilder, state: Path, progress: bool | None, reports: list[dict]
    ) -> None:
        walk_state = WalkState(state)
        spool = PageSpool(state.with_name(state.name + ".pages"))
        try:
            saved = walk_state.load()
            if saved is not None:
                walk_state.check(saved, spec)
                spool.truncate(int(saved["offset"]))
                for rows in spool.pages():
                    builder.add(rows)
            bar = self._progress_bar(spec, progress, initial=builder.rows)
            try:
                for page in resumable_walk(self._transport.request, spec, sink=spool, state=walk_state):
                    builder.add(page.rows)
                    if page.extra:
                        reports.append(page.extra)
                    if bar is not None:
                        bar.update(len(page.rows))
            finally:
                if bar is not None:
                    bar.close()
        finally:
            spool.close()
        walk_state.delete()
        spool.path.unlink(missing_ok=True)

    def _frame(self, builder: FrameBuilder, codebook: list[dict], spec: WalkSpec, reports: list[dict]) -> pd.DataFrame:
        from modresearch.frames import empty_frame

        frame = builder.finish() if builder.rows else empty_frame(codebook, spec.fields)
        frame.attrs.update(
            {"dataset": spec.dataset, "release": spec.release, "query": spec.query, "fields": spec.fields}
        )
        if reports:
            # What pages said beside their rows (e.g. rows whose generalized values overlap a filter).
            frame.attrs["page_reports"] = reports
            overlaps = [r["generalized_overlap"] for r in reports if "generalized_overlap" in r]
            if overlaps:
                # Rows of the whole release (not of a page) whose generalized values may or may not match.
                frame.attrs["generalized_overlap"] = overlaps[-1]
        return frame

    def iter_records(
        self,
        dataset: str,
        *,
        where: Where = None,
        fields: Sequence[str] | str | None = None,
        limit: int | None = None,
        release: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
        progress: bool | None = None,
    ) -> Iterator[pd.DataFrame]:
        """The same rows as :meth:`records`, one typed DataFrame per page: for pulls larger than memory.

        ``pd.concat(list(c.iter_records(...)), ignore_index=True)`` equals ``c.records(...)``.
        """
        from modresearch.frames import to_frame

        spec = self._spec(dataset, where=where, fields=fields, limit=limit, release=release, page_size=page_size)
        codebook = self._codebook(dataset)
        for page in self._pages(spec, progress):
            frame = to_frame(page.rows, codebook, spec.fields)
            frame.attrs.update({"dataset": spec.dataset, "release": page.release})
            yield frame

    def iter_rows(
        self,
        dataset: str,
        *,
        where: Where = None,
        fields: Sequence[str] | str | None = None,
        limit: int | None = None,
        release: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
        progress: bool | None = None,
    ) -> Iterator[dict]:
        """The rows as the API sends them (JSON objects: dates as ``YYYY-MM-DD`` text), one by one."""
        spec = self._spec(dataset, where=where, fields=fields, limit=limit, release=release, page_size=page_size)
        for page in self._pages(spec, progress):
            yield from page.rows

    def walk_spec(self, dataset: str, **kwargs: Any) -> WalkSpec:
        """The pinned description of a walk (used by the CLI to write resumable output files)."""
        kwargs.setdefault("where", None)
        kwargs.setdefault("fields", None)
        kwargs.setdefault("limit", None)
        kwargs.setdefault("release", None)
        kwargs.setdefault("page_size", MAX_PAGE_SIZE)
        return self._spec(dataset, **kwargs)

    def count(self, dataset: str, *, where: Where = None, release: str | None = None) -> Count:
        """How many rows match (spends no record quota); ``.generalized_overlap`` on the answer is how
        many more rows the release's precision leaves undecided (see :class:`Count`)."""
        version = self._version(dataset, release)
        query = to_query(where)
        body = {"query": query} if query else {}
        answer = self._transport.json("POST", f"/api/v1/datasets/{dataset}/releases/{version}/count", json=body)
        return Count(answer["count"], answer.get("generalized_overlap") or 0)

    # ------------------------------------------------------------------ aggregates
    def _aggregate_body(
        self, group_by: Sequence[str] | str, where: Where, measure: str, epsilon: float | None, extra: dict
    ) -> dict:
        groups = [group_by] if isinstance(group_by, str) else list(group_by)
        body: dict[str, Any] = {"group_by": groups, "measure": measure, **extra}
        query = to_query(where)
        if query:
            body["query"] = query
        if epsilon is not None:
            body["epsilon"] = epsilon
        return body

    def aggregate(
        self,
        dataset: str,
        *,
        group_by: Sequence[str] | str,
        where: Where = None,
        measure: str = "decisions",
        epsilon: float | None = None,
        release: str | None = None,
        **extra: Any,
    ) -> pd.DataFrame:
        """Differentially private counts per group: one row per group with ``count``, ``noise_scale``,
        ``ci95_low`` and ``ci95_high``; ``df.attrs`` holds ``epsilon_spent`` and ``budget_remaining``.

        Spends privacy budget (a repeat of the same query is answered from the server's cache at no cost).
        """
        version = self._version(dataset, release)
        body = self._aggregate_body(group_by, where, measure, epsilon, extra)
        answer = self._transport.json("POST", f"/api/v1/datasets/{dataset}/releases/{version}/aggregate", json=body)
        return aggregate_frame(answer, body["group_by"], self._codebook(dataset), dataset, version)

    def estimate(
        self,
        dataset: str,
        *,
        group_by: Sequence[str] | str,
        where: Where = None,
        measure: str = "decisions",
        epsilon: float | None = None,
        release: str | None = None,
        **extra: Any,
    ) -> dict:
        """What an aggregate would cost (ε) and how noisy it would be, spending nothing."""
        version = self._version(dataset, release)
        body = self._aggregate_body(group_by, where, measure, epsilon, extra)
        return self._transport.json(
            "POST", f"/api/v1/datasets/{dataset}/releases/{version}/aggregate/estimate", json=body
        )

    # ------------------------------------------------------------------ exports
    def export(
        self,
        dataset: str,
        *,
        format: str = "parquet",
        where: Where = None,
        fields: Sequence[str] | str | None = None,
        release: str | None = None,
    ) -> ExportJob:
        """Request a bulk export (``csv``, ``jsonl`` or ``parquet``); ``job.wait()``, then ``job.download(path)``."""
        version = self._version(dataset, release)
        if isinstance(fields, str):
            fields = [f.strip() for f in fields.split(",") if f.strip()]
        body: dict[str, Any] = {"dataset": dataset, "release": version, "format": format}
        query = to_query(where)
        if query:
            body["query"] = query
        if fields:
            body["fields"] = list(fields)
        # Not idempotent: repeated only if the server said it did nothing (429/503) or was never reached.
        data = self._transport.request("POST", "/api/v1/exports", json=body, idempotent=False).json()
        return ExportJob(self, data)

    def exports(self) -> list[ExportJob]:
        """This client's recent exports, newest first."""
        return [ExportJob(self, data) for data in self._transport.json("GET", "/api/v1/exports")["data"]]

    def get_export(self, export_id: str) -> ExportJob:
        return ExportJob(self, self._transport.json("GET", f"/api/v1/exports/{export_id}"))


def aggregate_frame(
    answer: dict, group_by: list[str], codebook: list[dict], dataset: str, version: str
) -> pd.DataFrame:
    """An aggregate answer as a DataFrame: group columns (codebook dtypes), count, noise_scale, ci95_low/high."""
    import pandas as pd

    from modresearch.frames import to_frame

    rows = next((answer[key] for key in ("data", "rows", "groups", "results") if isinstance(answer.get(key), list)), [])
    flat = []
    for row in rows:
        item = dict(row)
        groups = item.pop("group", None) or item.pop("groups", None)
        if isinstance(groups, dict):
            item.update(groups)
        interval = item.pop("ci95", None)
        if isinstance(interval, dict):
            interval = [interval.get("low"), interval.get("high")]
        item["ci95_low"], item["ci95_high"] = (interval or [None, None])[:2]
        flat.append(item)
    group_frame = to_frame([{g: r.get(g) for g in group_by} for r in flat], codebook, group_by)
    rest = pd.DataFrame(
        [{k: v for k, v in r.items() if k not in group_by} for r in flat],
        columns=list(
            dict.fromkeys(
                ["count", "noise_scale", "ci95_low", "ci95_high"] + [k for r in flat for k in r if k not in group_by]
            )
        ),
    )
    frame = pd.concat([group_frame.reset_index(drop=True), rest.reset_index(drop=True)], axis=1)
    frame.attrs.update({k: v for k, v in answer.items() if k not in ("data", "rows", "groups", "results")})
    frame.attrs.setdefault("dataset", dataset)
    frame.attrs.setdefault("release", version)
    return frame
