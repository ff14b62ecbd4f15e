"""Every state change of the raw tier: recording an import, queueing it, running it.

An import runs in one transaction that also records its outcome, so a worker that dies leaves
nothing behind but a run still 'running'. The transaction holds an advisory lock on the run: a
redelivered task (its worker died) or any task finding the run claimed longer ago than the task
time limit (no task outlives it) re-claims it and runs it again, unless the lock shows the import
is still alive. Any unexpected error, the soft time limit included, finishes the run as failed.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import gzip
import logging
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from moderation_data.ingest.models import ImportProblem, ImportRun
from moderation_data.ingest.parsing import READERS, BatchWriter, ParsedRow, WriteCounts, guess_format

logger = logging.getLogger("moderation_data.ingest")

BATCH_SIZE = 5000
MAX_STORED_PROBLEMS = 10_000  # the report keeps the first ones; the counts stay exact
MAX_ERROR_CHARS = 2000
# pg_try_advisory_xact_lock(LOCK_NAMESPACE, run id): held by the transaction importing a run.
LOCK_NAMESPACE = 0x494D
_GZIP_MAGIC = b"\x1f\x8b"
# A file-level problem (unknown header, unreadable or damaged file): nothing is imported.
_FILE_ERRORS = (ValueError, OSError, EOFError, csv.Error, zlib.error)
_LONE_SURROGATE_RE = re.compile("[\ud800-\udc7f\udd00-\udfff]")  # not an undecodable byte (dc80-dcff)


class _StrictRollback(Exception):
    pass


def _storable(text: str) -> str:
    """Text PostgreSQL can store: a hostile file's bytes (read with surrogateescape, or NULs) become visible escapes."""
    text = _LONE_SURROGATE_RE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
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


def _locked(run_id: int) -> bool:
    """Take the run's import lock for this transaction; False while an import of the run is alive."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, run_id])
        return cursor.fetchone()[0]


def _abandoned(run: ImportRun) -> bool:
    """Claimed longer ago than the task time limit: no task is still importing it."""
    limit = dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    return run.started_at is None or run.started_at <= timezone.now() - limit


def _claim(run_id: int, *, redelivered: bool = False) -> ImportRun | None:
    with transaction.atomic():
        run = ImportRun.objects.select_for_update().get(pk=run_id)
        if run.status == ImportRun.Status.RUNNING:
            # Its import's transaction was rolled back with its worker, so running it again is safe.
            if not (redelivered or _abandoned(run)) or not _locked(run.pk):
                return None
            logger.warning("resuming import run %s: its worker stopped", run.pk)
            run.problems.all().delete()
        elif run.status != ImportRun.Status.PENDING:
            return None
        run.status, run.started_at = ImportRun.Status.RUNNING, timezone.now()
        run.save(update_fields=["status", "started_at"])
        return run


@contextlib.contextmanager
def _open(run: ImportRun) -> Iterator[IO[bytes]]:
    """The file's bytes; a gzip file (by content, whatever its name) is decompressed as it is read."""
    with Path(run.source_path).open("rb") if run.source_path else run.file.open("rb") as raw:
        gzipped = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if not gzipped:
            yield raw
            return
        with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
            yield unzipped


def run_import(run_id: int, *, redelivered: bool = False) -> ImportRun:
    """Import a recorded run's file. Idempotent: a run that is not pending is left as it is,
    unless its worker died (``redelivered``, or claimed longer ago than the task time limit).

    The writes happen in one transaction: with ``strict`` any bad row rolls everything back;
    otherwise the good rows are kept and the bad ones reported. It never leaves the run running.
    """
    run = _claim(run_id, redelivered=redelivered)
    if run is None:
        return ImportRun.objects.get(pk=run_id)
    try:
        return _import(run)
    except SoftTimeLimitExceeded:
        error = f"the import took longer than the time limit ({settings.CELERY_TASK_SOFT_TIME_LIMIT} s)"
    except Exception as exc:
        logger.exception("import run %s failed", run.pk)
        error = f"the import stopped on an unexpected error: {type(exc).__name__}: {exc}"
    return _fail(run, error + "; nothing was imported")


def _import(run: ImportRun) -> ImportRun:
    problems: list[ImportProblem] = []
    read = rejected = duplicates = 0
    writer = BatchWriter()
    with transaction.atomic():
        if not _locked(run.pk):  # another delivery re-claimed the run in the instant before this one locked it
            logger.warning("import run %s is being imported by another task", run.pk)
            return ImportRun.objects.get(pk=run.pk)
        try:
            with _open(run) as stream, transaction.atomic():
                batch: dict[str, ParsedRow] = {}
                for row in READERS[run.format](stream):
                    read += 1
                    if row.errors:
                        rejected += 1
                        if len(problems) < MAX_STORED_PROBLEMS:
                            problems += [
                                ImportProblem(run=run, line=row.line, field=e.field, reason=e.reason)
                                for e in row.errors
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
                if run.strict and rejected:
                    raise _StrictRollback
                writer.write(list(batch.values()))
                writer.close()
        except _StrictRollback:
            writer.counts = WriteCounts()
        except _FILE_ERRORS as exc:
            damaged = isinstance(exc, EOFError | zlib.error | gzip.BadGzipFile)
            run.error = _storable(("the gzip file is damaged: " if damaged else "") + str(exc))[:MAX_ERROR_CHARS]
            writer.counts = WriteCounts()
            return _complete(run, ImportRun.Status.FAILED, read, rejected, writer, problems)
        if not (run.strict and rejected):
            writer.counts.unchanged += duplicates  # a repeated line changes nothing
        if rejected:
            status = ImportRun.Status.FAILED if run.strict else ImportRun.Status.PARTIAL
        else:
            status = ImportRun.Status.SUCCEEDED
        # The rows, the report and the outcome commit together.
        return _complete(run, status, read, rejected, writer, problems)


def _complete(
    run: ImportRun, status: str, read: int, rejected: int, writer: BatchWriter, problems: list[ImportProblem]
) -> ImportRun:
    _save_problems(problems)
    return _finish(run, status, read, rejected, writer)


def _fail(run: ImportRun, error: str) -> ImportRun:
    """Finish the run as failed, unless it finished meanwhile or another task is importing it."""
    with transaction.atomic():
        if _locked(run.pk):
            ImportRun.objects.filter(pk=run.pk, status=ImportRun.Status.RUNNING).update(
                status=ImportRun.Status.FAILED, error=_storable(error)[:MAX_ERROR_CHARS], rows_imported=0,
                rows_updated=0, rows_unchanged=0, finished_at=timezone.now(),
            )  # fmt: skip
    logger.warning("import failed", extra={"import_run": run.pk, "error": error[:MAX_ERROR_CHARS]})
    return ImportRun.objects.get(pk=run.pk)


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
