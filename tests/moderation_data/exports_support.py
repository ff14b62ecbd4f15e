"""Helpers of the export tests (no tests here): workers writing into a private export directory, polling, reading.

Every export test module uses ``use_private_export_dir`` (autouse) so the test process and the
workers it starts share one temporary export directory.
"""

from __future__ import annotations

import csv
import io
import json
import time

from django.conf import settings

from tests.conftest import EXPORT_DIR, WORKER_ENV, WorkerProcess

EXPORTS = "/api/v1/exports"
RECORDS = "/api/v1/datasets/moderation-decisions/releases/latest/records"
GENEROUS = {"requests_per_minute": 100_000, "requests_per_day": 1_000_000, "records_per_day": 10_000_000}


def use_private_export_dir(settings) -> None:
    """Point the test process's export storage at EXPORT_DIR (workers get it through the environment)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(EXPORT_DIR)}},
    }
    settings.EXPORT_CHUNK_ROWS = int(WORKER_ENV["EXPORT_CHUNK_ROWS"])
    settings.EXPORT_STALE_SECONDS = int(WORKER_ENV["EXPORT_STALE_SECONDS"])


def start_worker(*, concurrency: int = 1, **env: str) -> WorkerProcess:
    extra = {**WORKER_ENV, **env}
    return WorkerProcess(queue=settings.CELERY_TASK_DEFAULT_QUEUE, concurrency=concurrency, extra_env=extra).start()


def request_export(client, *, format: str, query: dict | None = None, fields: list[str] | None = None):
    body = {"dataset": "moderation-decisions", "release": "latest", "format": format}
    if query is not None:
        body["query"] = query
    if fields is not None:
        body["fields"] = fields
    return client.post(EXPORTS, body)


def wait_for_export(client, export_id: str, statuses=("ready",), timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    body = {}
    while time.monotonic() < deadline:
        body = client.get(f"{EXPORTS}/{export_id}").json()
        if body["status"] in statuses:
            return body
        if body["status"] in ("failed", "cancelled", "expired") and body["status"] not in statuses:
            raise AssertionError(f"export ended {body['status']}: {body}")
        time.sleep(0.2)
    raise AssertionError(f"export not {statuses} within {timeout}s: {body}")


def download(client, export_id: str, **headers) -> tuple[int, bytes, object]:
    response = client.get(f"{EXPORTS}/{export_id}/file", **headers)
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, content, response


def api_rows(client, *, query: dict | None = None, fields: list[str] | None = None) -> list[dict]:
    """Every row of the records API for a query (all pages)."""
    rows, cursor = [], None
    while True:
        body = {"page_size": 1000, "cursor": cursor}
        if query is not None:
            body["query"] = query
        if fields is not None:
            body["fields"] = fields
        page = client.post(RECORDS, body).json()
        rows += page["data"]
        if not page["has_more"]:
            return rows
        cursor = page["next_cursor"]


def read_csv(content: bytes, codebook: dict[str, dict]) -> list[dict]:
    """CSV cells back to the records API's JSON values (lists are JSON arrays, booleans true/false)."""
    rows = []
    for row in csv.DictReader(io.StringIO(content.decode("utf-8"), newline="")):
        decoded = {}
        for name, cell in row.items():
            kind = codebook[name]["type"]
            if cell == "":
                decoded[name] = None
            elif kind == "list":
                decoded[name] = json.loads(cell)
            elif kind == "boolean":
                decoded[name] = {"true": True, "false": False}[cell]
            elif kind == "integer":
                decoded[name] = int(cell)
            else:
                decoded[name] = cell
        rows.append(decoded)
    return rows


def read_jsonl(content: bytes) -> list[dict]:
    return [json.loads(line) for line in content.decode("utf-8").splitlines()]


def read_parquet(content: bytes) -> list[dict]:
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(content))
    rows = table.to_pylist()
    for row in rows:
        for name, value in row.items():
            if hasattr(value, "isoformat"):
                row[name] = value.isoformat()
    return rows


def read_export(fmt: str, content: bytes, codebook: dict[str, dict]) -> list[dict]:
    if fmt == "csv":
        return read_csv(content, codebook)
    if fmt == "jsonl":
        return read_jsonl(content)
    return read_parquet(content)
