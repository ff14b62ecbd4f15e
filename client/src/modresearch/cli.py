"""``modresearch``: the command line, twarc-style (configured by the MODRESEARCH_* environment variables).

    modresearch datasets
    modresearch codebook moderation-decisions
    modresearch records moderation-decisions --where policy=violent_extremism --where decided_on__gte=2025-01-01 \\
        --fields decision_id,decided_on,detection_source --out ve.jsonl          # or .csv / .parquet; resumable
    modresearch count moderation-decisions --where policy=violent_extremism
    modresearch export moderation-decisions --format parquet --out decisions.parquet
    modresearch usage
    modresearch cite moderation-decisions --format bibtex

``records`` writes pages as they arrive and keeps ``<out>.state`` beside the output: run the same
command again after a crash, Ctrl-C or a quota cut-off and it continues where it stopped (Parquet
output is assembled from ``<out>.pages`` at the end). Exit status: 0 done, 1 an API error, 2 bad
usage, 3 a quota cut-off (resumable), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modresearch._version import __version__
from modresearch.client import Client
from modresearch.errors import APIError, ModResearchError, QuotaExceeded
from modresearch.exports import write_csv_rows
from modresearch.query import to_query
from modresearch.walk import FileSink, Page, PageSpool, WalkState, dumps, resumable_walk

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


class JsonlSink(FileSink):
    def write(self, page: Page) -> None:
        self._append(b"".join(dumps(row) + b"\n" for row in page.rows))


class CsvSink(FileSink):
    def __init__(self, path: Path, fields: list[str] | None) -> None:
        super().__init__(path)
        self.fields = fields

    def write(self, page: Page) -> None:
        if not page.rows:
            return
        if self.fields is None:
            self.fields = list(page.rows[0])
        self._append(write_csv_rows(page.rows, self.fields, header=self.size() == 0))


def _where(values: list[str] | None) -> Any:
    """``--where`` options: each ``field[__lookup]=value`` or a JSON query; several are ANDed."""
    if not values:
        return None
    clauses = []
    for value in values:
        query = to_query(value)
        if query:
            clauses.append(query)
    if not clauses:
        return None
    if len(clauses) == 1:
        return clauses[0]
    return {"and": clauses}


def _fields(value: str | None) -> list[str] | None:
    return [f.strip() for f in value.split(",") if f.strip()] if value else None


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str, ensure_ascii=False))


def cmd_datasets(client: Client, args: argparse.Namespace) -> int:
    frame = client.datasets()
    if args.json:
        _print_json(client._transport.json("GET", "/api/v1/datasets")["data"])
    else:
        columns = [c for c in ("title", "latest_release", "n_releases", "level") if c in frame.columns]
        print(frame[columns].to_string() if not frame.empty else "(no datasets)")
    return 0


def cmd_codebook(client: Client, args: argparse.Namespace) -> int:
    if args.json:
        _print_json(client.dataset(args.dataset).get("codebook"))
    else:
        frame = client.codebook(args.dataset)
        print(frame[["type", "dtype", "n_values", "description"]].to_string(max_colwidth=70))
    return 0


def cmd_count(client: Client, args: argparse.Namespace) -> int:
    count = client.count(args.dataset, where=_where(args.where), release=args.release)
    print(count)
    if count.generalized_overlap:
        print(
            f"{count.generalized_overlap} rows have generalized values that may or may not match: the true"
            f" count lies within {count} ± {count.generalized_overlap} (generalized_overlap; docs/query.md)",
            file=sys.stderr,
        )
    return 0


def cmd_usage(client: Client, args: argparse.Namespace) -> int:
    _print_json(client.usage())
    return 0


def cmd_me(client: Client, args: argparse.Namespace) -> int:
    _print_json(client.me())
    return 0


def cmd_cite(client: Client, args: argparse.Namespace) -> int:
    print(client.citation(args.dataset, release=args.release, format=args.format))
    return 0


def cmd_records(client: Client, args: argparse.Namespace) -> int:
    out = Path(args.out)
    kind = FORMATS.get(out.suffix.lower())
    if kind is None:
        print(f"modresearch: --out must end in {', '.join(FORMATS)}", file=sys.stderr)
        return 2
    state_path = Path(args.state) if args.state else out.with_name(out.name + ".state")
    spec = client.walk_spec(
        args.dataset,
        where=_where(args.where),
        fields=_fields(args.fields),
        limit=args.limit,
        release=args.release,
        page_size=args.page_size,
        state=state_path,
    )
    state = WalkState(state_path)
    if kind == "parquet":
        sink: FileSink = PageSpool(out.with_name(out.name + ".pages"))
    elif kind == "csv":
        sink = CsvSink(out, spec.fields)
    else:
        sink = JsonlSink(out)
    saved = state.load()
    bar = client._progress_bar(spec, None if args.progress else False, initial=int((saved or {}).get("rows") or 0))
    rows = int((saved or {}).get("rows") or 0)
    try:
        for page in resumable_walk(client._transport.request, spec, sink=sink, state=state):
            rows += len(page.rows)
            if bar is not None:
                bar.update(len(page.rows))
    finally:
        if bar is not None:
            bar.close()
        sink.close()
    if kind == "parquet":
        assert isinstance(sink, PageSpool)
        from modresearch.frames import FrameBuilder, empty_frame  # pandas only for Parquet

        builder = FrameBuilder(client._codebook(spec.dataset), spec.fields)
        for page_rows in sink.pages():
            builder.add(page_rows)
        frame = builder.finish() if builder.rows else empty_frame(client._codebook(spec.dataset), spec.fields)
        tmp = out.with_name(out.name + ".tmp")
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, out)
        sink.path.unlink(missing_ok=True)
    state.delete()
    print(f"{rows:,} rows of {spec.dataset} {spec.release} → {out}", file=sys.stderr)
    return 0


def cmd_export(client: Client, args: argparse.Namespace) -> int:
    job = client.export(
        args.dataset, format=args.format, where=_where(args.where), fields=_fields(args.fields), release=args.release
    )
    print(f"export {job.id} requested ({job.status})", file=sys.stderr)
    job.wait(progress=args.progress)
    out = Path(args.out) if args.out else None
    path = job.download(out, progress=args.progress)
    print(f"{job.data.get('row_count')} rows, sha256 {job.data.get('sha256')} verified → {path}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modresearch", description="Research access to anonymized content-moderation data (DSA Art. 40)."
    )
    parser.add_argument("--version", action="version", version=f"modresearch {__version__}")
    parser.add_argument("--credentials", help="a .env or JSON credentials file (default: MODRESEARCH_* variables)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_release(p: argparse.ArgumentParser) -> None:
        p.add_argument("--release", help="release version (default: the latest, pinned for the whole command)")

    def with_where(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--where",
            action="append",
            metavar="FILTER",
            help="field=value, field__in=a,b, field__gte=… (repeat to AND), or a JSON query",
        )

    p = sub.add_parser("datasets", help="the datasets you may use")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("codebook", help="a dataset's fields, types and values")
    p.add_argument("dataset")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_codebook)

    p = sub.add_parser("records", help="write matching rows to a CSV, JSONL or Parquet file (resumable)")
    p.add_argument("dataset")
    with_where(p)
    p.add_argument("--fields", help="comma-separated field names (default: all)")
    p.add_argument("--limit", type=int)
    p.add_argument("--page-size", type=int, default=1000)
    p.add_argument("--out", required=True, help="output file: .csv, .jsonl or .parquet")
    p.add_argument("--state", help="state file (default: <out>.state)")
    with_release(p)
    p.set_defaults(func=cmd_records)

    p = sub.add_parser("count", help="how many rows match")
    p.add_argument("dataset")
    with_where(p)
    with_release(p)
    p.set_defaults(func=cmd_count)

    p = sub.add_parser("export", help="a bulk export, downloaded and verified")
    p.add_argument("dataset")
    with_where(p)
    p.add_argument("--fields")
    p.add_argument("--format", choices=["csv", "jsonl", "parquet"], default="parquet")
    p.add_argument("--out", help="where to save the file")
    with_release(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("usage", help="today's usage and quotas")
    p.set_defaults(func=cmd_usage)

    p = sub.add_parser("me", help="your grant")
    p.set_defaults(func=cmd_me)

    p = sub.add_parser("cite", help="how to cite a release")
    p.add_argument("dataset")
    p.add_argument("--format", choices=["text", "bibtex", "ris"], default="text")
    with_release(p)
    p.set_defaults(func=cmd_cite)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with Client.from_env(args.credentials, progress=args.progress) as client:
            return int(args.func(client, args))
    except QuotaExceeded as exc:
        print(f"modresearch: {exc}", file=sys.stderr)
        return 3
    except APIError as exc:
        print(f"modresearch: {exc}", file=sys.stderr)
        return 1
    except (ModResearchError, ValueError) as exc:
        print(f"modresearch: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    except KeyboardInterrupt:
        print("modresearch: interrupted; run the same command again to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
