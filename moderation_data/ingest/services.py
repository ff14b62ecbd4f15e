"""Every state change of the raw tier: recording an import, queueing it, running it."""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import IO

from django.db import transaction
from django.utils import timezone

from moderation_data.ingest.models import ImportProblem, ImportRun
from moderation_data.ingest.parsing import READERS, BatchWriter, ParsedRow, guess_format

logger = logging.getLogger("moderation_data.ingest")

BATCH_SIZE = 5000
MAX_STORED_PROBLEMS = 10_000  # the report keeps the first ones; the counts stay exact


class _StrictRollback(Exception):
    pass


def _storable(text: str) -> str:
    """Text PostgreSQL can store: a hostile file's bytes (read with surrogateescape, or NULs) become visible escapes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


def create_import_run(
    *,
    source_path: str = "",
    file=None,
    format: str | None = None,
    strict: bool = False,
    uploaded_by=None,
) -> ImportRun:
    """Record an import to run (from a path on the server or an uploaded file)."""
    name = source_path or (getattr(file, "name", "") or "")
    run = ImportRun(
        source_path=source_path, format=format or guess_format(name), strict=strict, uploaded_by=uploaded_by
    )
    if file is not None:
        run.file = file
    run.save()
    return run


def request_import(*, file, format: str | None = None, strict: bool = False, uploaded_by=None) -> ImportRun:
    """Store an uploaded file and queue its import on a worker (after commit)."""
    from moderation_data.ingest.tasks import run_import_task

    with transaction.atomic():
        run = create_import_run(file=file, format=format, strict=strict, uploaded_by=uploaded_by)
        transaction.on_commit(lambda: run_import_task.delay(run.pk))
    return run


def _claim(run_id: int) -> ImportRun | None:
    with transaction.atomic():
        run = ImportRun.objects.select_for_update().get(pk=run_id)
        if run.status != ImportRun.Status.PENDING:
            return None
        run.status, run.started_at = ImportRun.Status.RUNNING, timezone.now()
        run.save(update_fields=["status", "started_at"])
        return run


def _open(run: ImportRun) -> IO[bytes]:
    if run.source_path:
        return Path(run.source_path).open("rb")
    return run.file.open("rb")


def run_import(run_id: int) -> ImportRun:
    """Import a recorded run's file. Idempotent: a run that is not pending is left as it is.

    The writes happen in one transaction: with ``strict`` any bad row rolls everything back;
    otherwise the good rows are kept and the bad ones reported.
    """
    run = _claim(run_id)
    if run is None:
        return ImportRun.objects.get(pk=run_id)
    problems: list[ImportProblem] = []
    read = rejected = duplicates = 0
    writer = BatchWriter()
    try:
        with _open(run) as stream, transaction.atomic():
            batch: dict[str, ParsedRow] = {}
            for row in READERS[run.format](stream):
                read += 1
                if row.errors:
                    rejected += 1
                    if len(problems) < MAX_STORED_PROBLEMS:
                        problems += [
                            ImportProblem(run=run, line=row.line, field=e.field, reason=e.reason) for e in row.errors
                        ]
                    continue
                if run.strict and rejected:
                    continue  # keep validating to report every bad row; nothing will be written
                # Within a batch a later line for the same decision wins; across batches the merge does.
                if batch.pop(row.key, None) is not None:
                    duplicates += 1
                batch[row.key] = row
                if len(batch) >= BATCH_SIZE:
                    writer.write(list(batch.values()))
                    batch = {}
            if not (run.strict and rejected):
                writer.write(list(batch.values()))
            writer.close()
            if run.strict and rejected:
                raise _StrictRollback
    except _StrictRollback:
        writer.counts.imported = writer.counts.updated = writer.counts.unchanged = 0
    except (ValueError, OSError, csv.Error) as exc:
        # A file-level problem (unknown header, unreadable file): nothing was imported.
        _save_problems(problems)
        run.error = _storable(str(exc))
        writer.counts.imported = writer.counts.updated = writer.counts.unchanged = 0
        return _finish(run, ImportRun.Status.FAILED, read, rejected, writer)
    _save_problems(problems)
    if not (run.strict and rejected):
        writer.counts.unchanged += duplicates  # a repeated line changes nothing
    if rejected:
        status = ImportRun.Status.FAILED if run.strict else ImportRun.Status.PARTIAL
    else:
        status = ImportRun.Status.SUCCEEDED
    return _finish(run, status, read, rejected, writer)


def _save_problems(problems: list[ImportProblem]) -> None:
    if problems:
        for problem in problems:
            # A reason quotes the bad value: at most 300 characters of it (a 2 MB value is no report).
            reason = _storable(problem.reason)
            problem.reason = reason if len(reason) <= 300 else reason[:299] + "…"
            problem.field = _storable(problem.field)[:100]
        ImportProblem.objects.bulk_create(problems)


def _finish(run: ImportRun, status: str, read: int, rejected: int, writer: BatchWriter) -> ImportRun:
    run.status = status
    run.rows_read, run.rows_rejected = read, rejected
    run.rows_imported, run.rows_updated = writer.counts.imported, writer.counts.updated
    run.rows_unchanged = writer.counts.unchanged
    run.finished_at = timezone.now()
    run.save()
    logger.info(
        "import finished",
        extra={"import_run": run.pk, "status": status, "read": read, "imported": run.rows_imported,
               "updated": run.rows_updated, "rejected": rejected},
    )  # fmt: skip
    return run
