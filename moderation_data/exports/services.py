"""Bulk exports (docs/exports.md): every state change of an export, and the reads the API needs.

Life of an export::

    request_export ──▶ queued ──run_export──▶ running ──run_export_chunk × N──▶ finalize_export ──▶ ready
                         │                      │                                                   │
                         └──── cancel_export / fail_export ───▶ cancelled / failed        expire_exports ──▶ expired

Exactly once, whatever the workers do: every step first *claims* its row in one transaction
(status and the Celery task id holding it, plus a heartbeat). A redelivered message of a step that
already finished finds nothing to do; a redelivered message of a step whose worker died (same task
id) takes it over at once; anyone else takes over only once the heartbeat is stale (beat's
``requeue_stuck_exports``). Files are written under temporary names and published by rename under
the row lock that records them, and the export becomes ``ready`` in the transaction that publishes
its file, so a partial file is never visible. Exports do not spend the daily record quota: they
count against the grant's export allowance (rows per calendar month, docs/quotas.md), checked at
request time under a lock on the grant, from the exports themselves (so it survives anything Redis
forgets). Exports requested before the allowance existed reserved records; those are still refunded.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Collection, Iterator

from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages
from django.db import connection, transaction
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from moderation_data.catalog.models import scope_for
from moderation_data.catalog.selectors import datasets_visible_to, get_visible_dataset
from moderation_data.exports import writers
from moderation_data.exports.models import Export, ExportChunk
from moderation_data.query import language as ql
from moderation_data.query import records
from moderation_data.releases import citation as cite
from moderation_data.releases import pseudonyms
from moderation_data.releases.models import Release
from moderation_data.releases.project_keys import ProjectKeyUnavailable
from moderation_data.releases.selectors import LATEST, get_release_for_rows, release_rows_table
from platform_api.errors import InvalidQuery, NotFoundError, RateLimited, ScopeMissing
from platform_api.ratelimit import Window, refund
from researchers import quotas
from researchers.models import EXPORTS_SCOPE, AccessGrant

logger = logging.getLogger("moderation_data.exports")

RETRY_AFTER_SECONDS = 5


# --------------------------------------------------------------------------- storage


def export_storage():
    return storages["exports"]


def _local_path(name: str) -> str | None:
    """A filesystem path for ``name`` when the storage is local (publish by rename), else None."""
    try:
        return export_storage().path(name)
    except NotImplementedError:
        return None


def _private_directory(directory: str) -> None:
    """Create ``directory`` (and the storage root above it) readable by the service user only (0700)."""
    root = _local_path("")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    if root is None or not os.path.abspath(directory).startswith(os.path.abspath(root)):
        return
    current = os.path.abspath(directory)
    while True:
        os.chmod(current, 0o700)
        if current == os.path.abspath(root) or os.path.dirname(current) == current:
            break
        current = os.path.dirname(current)


@contextlib.contextmanager
def _temporary_file(export_id, suffix: str) -> Iterator[tuple[str, object]]:
    """A temporary file next to where it will be published (same filesystem: rename is atomic).

    Created 0600 in 0700 directories: an export is personal data, for the service user only.
    """
    base = _local_path(f"tmp/{export_id}")
    if base:
        _private_directory(base)
        directory = base
    else:
        directory = tempfile.gettempdir()
    path = os.path.join(directory, f"{uuid.uuid4().hex}.{suffix}.tmp")
    try:
        with os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600), "w+b") as handle:
            yield path, handle
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _publish(temporary_path: str, name: str) -> None:
    """Make a finished temporary file visible under ``name`` (rename when local, else upload)."""
    target = _local_path(name)
    if target is not None:
        _private_directory(os.path.dirname(target))
        os.chmod(temporary_path, 0o600)
        os.replace(temporary_path, target)
        return
    storage = export_storage()
    storage.delete(name)
    with open(temporary_path, "rb") as handle:
        saved = storage.save(name, File(handle))
    if saved != name:  # pragma: no cover - a storage that renames would break our names
        raise RuntimeError(f"storage saved {name} as {saved}")


def _delete_files(names: list[str]) -> None:
    storage = export_storage()
    for name in names:
        if name:
            with contextlib.suppress(FileNotFoundError, OSError):
                storage.delete(name)


def _part_name(export: Export, index: int) -> str:
    return f"parts/{export.pk}/{index:05d}.{writers.EXTENSIONS[export.format]}"


def _file_name(export: Export) -> str:
    release = export.release
    return f"files/{export.pk}/{release.dataset.slug}-{release.version}-{str(export.pk)[:8]}.{export.format}"


def _cleanup_parts(export_id) -> None:
    """Delete part files, and temporary files a killed worker left behind (local storage)."""
    names = list(
        ExportChunk.objects.filter(export_id=export_id).exclude(part_name="").values_list("part_name", flat=True)
    )
    _delete_files(names)
    for directory in (f"parts/{export_id}", f"tmp/{export_id}"):
        path = _local_path(directory)
        if path:
            shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- quota


def _records_window(export: Export) -> Window:
    # Refund into the window that was charged (the day the export was requested).
    return quotas.records_window_by_key(export.quota_key)


def _refund_all(export: Export) -> None:
    """Give the whole reservation back, once (called under the export's row lock)."""
    if export.quota_reserved and not export.quota_refunded and export.quota_key:
        amount = export.quota_reserved
        window = _records_window(export)
        transaction.on_commit(lambda: refund([window], amount=amount))
    export.quota_refunded = True


# --------------------------------------------------------------------------- reads


def with_progress(exports: QuerySet[Export]) -> QuerySet[Export]:
    """Annotate rows written so far (sum over chunks), so a list shows progress in one query."""
    return exports.select_related("release__dataset").annotate(rows_done=Sum("chunks__rows_written", default=0))


def export_progress(export: Export) -> float:
    if export.status == Export.Status.READY or export.status == Export.Status.EXPIRED:
        return 1.0
    if export.status == Export.Status.QUEUED or not export.expected_rows:
        return 0.0
    done = getattr(export, "rows_done", None)
    if done is None:
        done = export.chunks.aggregate(total=Sum("rows_written"))["total"] or 0
    return round(min(0.99, done / export.expected_rows), 4)


def get_visible_export(grant, export_id) -> Export:
    """The client's own export (another client's, or a malformed id, is not found)."""
    try:
        key = uuid.UUID(str(export_id))
    except ValueError:
        raise NotFoundError("No such export.") from None
    export = with_progress(Export.objects.visible_to(grant)).filter(pk=key).first()
    if export is None:
        raise NotFoundError("No such export.")
    return export


def is_expired(export: Export, *, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    return export.status == Export.Status.EXPIRED or (
        export.status == Export.Status.READY and export.expires_at is not None and export.expires_at <= now
    )


def check_still_entitled(grant: AccessGrant, export: Export, *, token_scopes: Collection[str] | None = None) -> None:
    """A file is data: the right to it is checked at every download, not only when it was requested.

    The one check of both downloads, the API's ``/exports/{id}/file`` and the portal's page:

    - the grant is no longer active, or its modality no longer allows exports: 403 ``scope_missing``;
    - the release was withdrawn: 404 ``not_found`` (SPEC: withdrawn releases are not found through exports);
    - the grant no longer covers the export's dataset (staff removed it from the grant, or deactivated
      it): 403 ``scope_missing``;
    - ``token_scopes`` (the API's access token; the portal has none) lacks the dataset's scope: 403
      ``scope_missing``.

    The grant's datasets are read from the database, not from what was cached with the token.
    """
    if not grant.is_usable() or not grant.allows_exports:
        raise ScopeMissing("This grant no longer allows downloading exports.", detail={"required_scope": EXPORTS_SCOPE})
    if export.release.status == Release.Status.WITHDRAWN:
        raise NotFoundError("Not found.")
    slug = export.release.dataset.slug
    scope = scope_for(slug)
    if not datasets_visible_to(grant).filter(pk=export.release.dataset_id).exists():
        raise ScopeMissing(
            f"This grant no longer covers the dataset {slug} (scope {scope}).", detail={"required_scope": scope}
        )
    if token_scopes is not None and scope not in token_scopes:
        raise ScopeMissing(f"This token lacks the scope {scope}.", detail={"required_scope": scope})


class SentCounter:
    """Counts the bytes of a download that actually went out; its access event is written with them.

    Rows are known only when the whole file went out from its first byte: a partial download (a
    ``Range`` from byte 1, or a client that hung up) records its bytes and 0 rows.
    """

    def __init__(self, *, size: int, start: int, rows: int):
        self.size, self.start, self.rows, self.sent = size, start, rows, 0

    def count(self, chunks):
        for chunk in chunks:
            self.sent += len(chunk)
            yield chunk

    def outcome(self) -> dict:
        whole = self.start == 0 and self.sent == self.size
        return {"bytes_returned": self.sent, "rows_returned": self.rows if whole else 0}


# --------------------------------------------------------------------------- request


def request_export(*, grant: AccessGrant, spec: dict) -> Export:
    """Validate an export and queue it, counting its rows against the grant's export allowance. Atomic.

    Checked before anything is queued: the grant's modality and datasets, the query and fields (as
    the records API does), then, under a lock on the grant row (so concurrent requests see each
    other), the concurrent-export limit and the export allowance (an export that does not fit is
    refused whole, 429 ``quota_exceeded`` saying how to ask for more). The worker is called after commit.
    """
    if not grant.allows_exports:
        raise ScopeMissing("This grant does not allow exports.", detail={"required_scope": "exports"})
    dataset = get_visible_dataset(grant, spec["dataset"])
    release = get_release_for_rows(dataset, spec.get("release") or LATEST)
    query = records.build_query(release, body_query=spec.get("query"), requested_fields=spec.get("fields"), grant=grant)

    with transaction.atomic():
        grant = AccessGrant.objects.select_for_update().select_related("oauth_client").get(pk=grant.pk)
        active = Export.objects.filter(grant=grant).active().count()
        if active >= grant.concurrent_exports:
            raise RateLimited(
                f"At most {grant.concurrent_exports} exports may be queued or running at once; wait for one to "
                "finish (or cancel one) and ask again.",
                detail={
                    "window": "concurrent_exports",
                    "limit": grant.concurrent_exports,
                    "remaining": 0,
                    "concurrent_exports": grant.concurrent_exports,
                    "active": active,
                },
                headers={"Retry-After": "30"},
            )
        matching = records.count(query)
        quotas.check_export_allowance(grant, matching)
        export = Export.objects.create(
            grant=grant,
            release=release,
            format=spec["format"],
            query=spec.get("query") or {},
            fields=query.selected,
            expected_rows=matching,
            manifest=_manifest(release, query, spec, grant=grant),
        )
        transaction.on_commit(lambda: _enqueue_run(export.pk))
    return with_progress(Export.objects.filter(pk=export.pk)).get()


def _manifest(release, query: records.RecordsQuery, spec: dict, *, grant: AccessGrant) -> dict:
    project = pseudonyms.for_grant(grant, release)
    return {
        # The DSC request the data was given on (docs/dsa-article-40.md), and the grant's data limits.
        "dsc_reference": grant.dsc_reference or None,
        "data_limits": _json_dates(grant.data_limits),
        "dataset": release.dataset.slug,
        "release": release.version,
        "release_sha256": release.sha256,
        "query": spec.get("query") or None,
        "query_fingerprint": query.fingerprint,
        "fields": query.selected,
        "format": spec["format"],
        "codebook_version": release.codebook_version,
        "pseudonym_key_version": release.pseudonym_key_version,
        # Which master key made the file (never the key itself), and the project key's generation
        # (docs/pseudonyms.md).
        "key_fingerprint": pseudonyms.key_fingerprint(release.pseudonym_key_version),
        "project_key_generation": project.generation,
        "pseudonyms": "keyed to your project (HMAC-SHA256): decision and content ids per release, account ids "
        + (
            "across your project's releases (longitudinal linkage)"
            if project.account_scope == pseudonyms.LINKED_SCOPE
            else "per release"
        ),
        "order": "row_id",
        # How to cite the data this file holds (docs/citation.md).
        "citation": cite.as_text(release),
        "citation_metadata": cite.metadata(release),
    }


def _json_dates(limits: dict | None) -> dict | None:
    if limits is None:
        return None
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in limits.items()}


def _enqueue_run(export_id) -> None:
    from moderation_data.exports.tasks import run_export_task

    run_export_task.delay(str(export_id))


def _enqueue_chunks(export_id, indexes: list[int]) -> None:
    from celery import group

    from moderation_data.exports.tasks import run_export_chunk_task

    if indexes:
        group(run_export_chunk_task.s(str(export_id), index) for index in indexes).apply_async()


def _enqueue_finalize(export_id) -> None:
    from moderation_data.exports.tasks import finalize_export_task

    finalize_export_task.delay(str(export_id))


# --------------------------------------------------------------------------- claims


def _stale(heartbeat: dt.datetime | None, *, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    return heartbeat is None or heartbeat <= now - dt.timedelta(seconds=settings.EXPORT_STALE_SECONDS)


def _may_take(status_running: bool, claimed_by: str, heartbeat, task_id: str) -> bool:
    """A running step may be taken by a redelivery of its own message (its worker died) or once stale."""
    if not status_running:
        return True
    return claimed_by == task_id or _stale(heartbeat)


def _locked_export(export_id) -> Export | None:
    return Export.objects.select_for_update().select_related("release__dataset", "grant").filter(pk=export_id).first()


def _pseudonyms_of(export: Export) -> pseudonyms.ProjectPseudonyms:
    """The project key the export was requested under: a key destroyed since fails the export (never mixes keys)."""
    project = pseudonyms.for_grant(export.grant, export.release)
    pinned = (export.manifest or {}).get("project_key_generation")
    if pinned is not None and pinned != project.generation:
        raise ProjectKeyUnavailable("The project's pseudonym key was destroyed while this export was running.")
    return project


def _query_of(export: Export) -> records.RecordsQuery:
    return records.build_query(
        export.release, body_query=export.query or None, requested_fields=export.fields, grant=export.grant
    )


LIMITS_CHANGED = (
    "The grant's data limits changed since the export was requested, so it no longer matches the rows "
    "it was counted for; its allowance was refunded. Request it again."
)


def _query_unchanged(export: Export) -> records.RecordsQuery | None:
    """The export's query as the grant allows it now, or None if that is not the query it was requested with.

    Chunks are planned for, and the allowance charged for, the rows matching at request time; if staff
    changed the grant's data limits since (``data_from``/``data_until``/``data_fields``), the rebuilt
    query differs and the export must fail rather than write too few or too many rows.
    """
    try:
        query = _query_of(export)
    except InvalidQuery:
        return None  # a field it selects or filters is no longer within the grant's limits
    pinned = (export.manifest or {}).get("query_fingerprint")
    if pinned is not None and pinned != query.fingerprint:
        return None
    return query


# --------------------------------------------------------------------------- run


def run_export(export_id, *, task_id: str = "") -> None:
    """Claim a queued export, plan its chunks once, and queue the chunks not done yet. Idempotent."""
    with transaction.atomic():
        export = _locked_export(export_id)
        if export is None or export.status not in Export.ACTIVE_STATUSES:
            return
        running = export.status == Export.Status.RUNNING
        if not _may_take(running, export.claimed_by, export.heartbeat_at, task_id):
            return
        if _query_unchanged(export) is None:
            fail_export(export.pk, error=LIMITS_CHANGED)
            return
        now = timezone.now()
        if running and _stale(export.heartbeat_at, now=now):
            # Taking over a stale export: a finalizer that died holds no claim any more (one still alive
            # publishes only while finalized_by is its token, so it throws its work away).
            export.finalized_by = ""
        export.status = Export.Status.RUNNING
        export.attempts += 1
        export.claimed_by = task_id
        export.heartbeat_at = now
        export.started_at = export.started_at or now
        export.save(update_fields=["status", "attempts", "claimed_by", "heartbeat_at", "started_at", "finalized_by"])
        if not export.chunks.exists():
            _plan_chunks(export)
        todo = list(export.chunks.exclude(status=ExportChunk.Status.DONE).values_list("index", flat=True))
        if todo:
            transaction.on_commit(lambda: _enqueue_chunks(export.pk, todo))
        else:
            transaction.on_commit(lambda: _enqueue_finalize(export.pk))


def _plan_chunks(export: Export) -> None:
    """Split the matching rows into row_id ranges of about EXPORT_CHUNK_ROWS rows (deterministic)."""
    query = _query_of(export)
    total = export.expected_rows
    size = max(settings.EXPORT_CHUNK_ROWS, math.ceil(total / settings.EXPORT_MAX_CHUNKS), 1)
    where, params = ql.compile_sql(query.node, query.fields)
    table = release_rows_table(export.release)
    bounds: list[tuple[int, int]] = []  # (last row_id, rows up to it)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT row_id, n FROM (
                    SELECT row_id, row_number() OVER (ORDER BY row_id) AS n FROM {table} WHERE ({where})
                ) s WHERE n %% %s = 0 OR n = %s ORDER BY row_id""",  # noqa: S608 - see records.fetch_page
            [*params, size, total],
        )
        bounds = cursor.fetchall()
    chunks, after, seen = [], 0, 0
    for last_row_id, n in bounds:
        if n <= seen:
            continue
        chunks.append((after, last_row_id, n - seen))
        after, seen = last_row_id, n
    if not chunks:
        chunks = [(0, 0, 0)]
    ExportChunk.objects.bulk_create(
        ExportChunk(export=export, index=i, after_row_id=a, last_row_id=b, expected_rows=n)
        for i, (a, b, n) in enumerate(chunks)
    )


def _raw_connection(project: pseudonyms.ProjectPseudonyms | None = None):
    """A second connection for streaming COPY while Django's records heartbeats.

    The project's pseudonym pads are loaded first (COPY into a session temporary table, which a
    read-only transaction could not create).
    """
    raw = connection.get_new_connection(connection.get_connection_params())
    if project is not None:
        raw.autocommit = True
        with raw.cursor() as cursor:
            project.load(cursor)
    raw.autocommit = False
    raw.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    raw.execute("SET LOCAL statement_timeout = 0")
    return raw


def run_export_chunk(export_id, index: int, *, task_id: str = "") -> None:
    """Write one chunk's part file and record it; the last chunk done queues the finalize step. Idempotent."""
    with transaction.atomic():
        export = _locked_export(export_id)
        if export is None or export.status != Export.Status.RUNNING:
            return
        chunk = ExportChunk.objects.select_for_update().filter(export=export, index=index).first()
        if chunk is None:
            return
        if chunk.status == ExportChunk.Status.DONE:
            # A redelivery after the chunk was recorded: make sure the finalize step was queued.
            _queue_finalize_if_complete(export)
            return
        running = chunk.status == ExportChunk.Status.RUNNING
        if not _may_take(running, chunk.claimed_by, chunk.heartbeat_at, task_id):
            return
        query = _query_unchanged(export)
        if query is None:
            fail_export(export.pk, error=LIMITS_CHANGED)
            return
        now = timezone.now()
        chunk.status = ExportChunk.Status.RUNNING
        chunk.attempts += 1
        chunk.claimed_by = task_id
        chunk.heartbeat_at = now
        chunk.rows_written = 0
        chunk.save(update_fields=["status", "attempts", "claimed_by", "heartbeat_at", "rows_written"])
        Export.objects.filter(pk=export.pk).update(heartbeat_at=now)
        attempt = chunk.attempts

    def progress(rows: int) -> bool:
        now = timezone.now()
        mine = ExportChunk.objects.filter(pk=chunk.pk, attempts=attempt, status=ExportChunk.Status.RUNNING).update(
            rows_written=rows, heartbeat_at=now
        )
        alive = Export.objects.filter(pk=export.pk, status=Export.Status.RUNNING).update(heartbeat_at=now)
        return bool(mine and alive)

    extension = writers.EXTENSIONS[export.format]
    with _temporary_file(export.pk, f"part{index}.{extension}") as (path, handle):
        project = _pseudonyms_of(export)
        raw = _raw_connection(project)
        try:
            rows = writers.write_chunk(
                raw, query, project=project, fmt=export.format,
                after_row_id=chunk.after_row_id, last_row_id=chunk.last_row_id, out=handle, progress=progress,
            )  # fmt: skip
        except writers.ExportAborted:
            return
        finally:
            raw.close()
        handle.flush()
        os.fsync(handle.fileno())
        size = handle.tell()
        with transaction.atomic():
            export = _locked_export(export_id)
            chunk = ExportChunk.objects.select_for_update().get(pk=chunk.pk)
            if export.status != Export.Status.RUNNING or chunk.status != "running" or chunk.attempts != attempt:
                return  # cancelled, or another worker took the chunk over: ours is discarded
            name = _part_name(export, index)
            _publish(path, name)
            chunk.status = ExportChunk.Status.DONE
            chunk.rows_written = rows
            chunk.bytes = size
            chunk.part_name = name
            chunk.heartbeat_at = timezone.now()
            chunk.save(update_fields=["status", "rows_written", "bytes", "part_name", "heartbeat_at"])
            _queue_finalize_if_complete(export)


class _HashingWriter:
    def __init__(self, out):
        self.out = out
        self.digest = hashlib.sha256()

    def write(self, data) -> int:
        self.digest.update(data)
        return self.out.write(data)


def _queue_finalize_if_complete(export: Export) -> None:
    if not export.chunks.exclude(status=ExportChunk.Status.DONE).exists():
        transaction.on_commit(lambda: _enqueue_finalize(export.pk))


def finalize_export(export_id, *, task_id: str = "") -> None:
    """Combine the part files and publish the export file, marking it ready in the same step. Idempotent."""
    with transaction.atomic():
        export = _locked_export(export_id)
        if export is None or export.status != Export.Status.RUNNING:
            return
        chunks = list(export.chunks.order_by("index"))
        if any(c.status != ExportChunk.Status.DONE for c in chunks):
            return
        if export.finalized_by and not _may_take(True, export.finalized_by, export.heartbeat_at, task_id):
            return
        query = _query_unchanged(export)
        if query is None:
            fail_export(export.pk, error=LIMITS_CHANGED)
            return
        export.finalized_by = task_id or uuid.uuid4().hex
        export.heartbeat_at = timezone.now()
        export.save(update_fields=["finalized_by", "heartbeat_at"])
        token = export.finalized_by

    storage = export_storage()
    last_beat = [timezone.now()]

    def progress() -> None:
        now = timezone.now()
        if (now - last_beat[0]).total_seconds() >= writers.PROGRESS_EVERY_SECONDS:
            last_beat[0] = now
            Export.objects.filter(pk=export.pk, status=Export.Status.RUNNING, finalized_by=token).update(
                heartbeat_at=now
            )

    with _temporary_file(export.pk, f"final.{export.format}") as (path, handle):
        # CSV/JSONL are hashed as they are written; Parquet (small, written by pyarrow) is read back.
        out = _HashingWriter(handle) if export.format != Export.Format.PARQUET else handle
        with contextlib.ExitStack() as stack:
            parts = [stack.enter_context(storage.open(c.part_name, "rb")) for c in chunks]
            writers.combine_parts(export.format, query, parts, out, progress, manifest=export.manifest)
        handle.flush()
        os.fsync(handle.fileno())
        size = handle.tell()
        if isinstance(out, _HashingWriter):
            digest = out.digest
        else:
            handle.seek(0)
            digest = hashlib.sha256()
            while block := handle.read(1 << 20):
                digest.update(block)
        row_count = sum(c.rows_written for c in chunks)
        with transaction.atomic():
            export = _locked_export(export_id)
            if export.status != Export.Status.RUNNING or export.finalized_by != token:
                return
            if row_count != export.expected_rows:
                # The rows matching changed since the request (never expected: the release is immutable):
                # never publish a file that is not the one the export was counted for.
                fail_export(
                    export.pk,
                    error=f"The export wrote {row_count} rows where {export.expected_rows} matched when it was "
                    "requested; its allowance was refunded. Request it again.",
                )
                return
            name = _file_name(export)
            _publish(path, name)
            now = timezone.now()
            export.status = Export.Status.READY
            export.row_count = row_count
            export.bytes = size
            export.sha256 = digest.hexdigest()
            export.file_name = name
            export.finished_at = now
            export.heartbeat_at = now
            export.expires_at = now + dt.timedelta(days=settings.EXPORT_EXPIRY_DAYS)
            export.manifest = {**export.manifest, "row_count": row_count, "sha256": export.sha256}
            unused = export.quota_reserved - row_count
            if unused > 0 and export.quota_key:  # never more than reserved: the release is immutable
                window = _records_window(export)
                transaction.on_commit(lambda: refund([window], amount=unused))
                export.quota_reserved = row_count
            export.save()
            transaction.on_commit(lambda: _cleanup_parts(export.pk))


# --------------------------------------------------------------------------- cancel, fail, expire


def cancel_export(export: Export) -> Export:
    """Cancel a queued or running export and refund its reservation; on a ready one, delete its file. Atomic."""
    with transaction.atomic():
        export = _locked_export(export.pk)
        if export.status in Export.ACTIVE_STATUSES:
            export.status = Export.Status.CANCELLED
            export.finished_at = timezone.now()
            _refund_all(export)
            export.save()
            transaction.on_commit(lambda: _cleanup_parts(export.pk))
        elif export.status == Export.Status.READY:
            _expire(export)
    return with_progress(Export.objects.filter(pk=export.pk)).get()


def fail_export(export_id, *, error: str) -> None:
    """Mark an active export failed, refunding its reservation. Idempotent."""
    with transaction.atomic():
        export = _locked_export(export_id)
        if export is None or export.status not in Export.ACTIVE_STATUSES:
            return
        export.status = Export.Status.FAILED
        export.error = error[:2000]
        export.finished_at = timezone.now()
        _refund_all(export)
        export.save()
        transaction.on_commit(lambda: _cleanup_parts(export.pk))


def _expire(export: Export) -> None:
    name, pk = export.file_name, export.pk
    export.status = Export.Status.EXPIRED
    export.save(update_fields=["status"])

    def delete() -> None:
        _delete_files([name])
        # Parts are normally deleted when the export becomes ready; a worker killed right then leaves them.
        _cleanup_parts(pk)

    transaction.on_commit(delete)


def expire_exports(*, now: dt.datetime | None = None) -> int:
    """Expire ready exports past their expiry date and delete their files. Idempotent; returns how many."""
    now = now or timezone.now()
    expired = 0
    for pk in Export.objects.filter(status=Export.Status.READY, expires_at__lte=now).values_list("pk", flat=True):
        with transaction.atomic():
            export = Export.objects.select_for_update(skip_locked=True).filter(pk=pk, status="ready").first()
            if export is not None:
                _expire(export)
                expired += 1
    return expired


def requeue_stuck_exports(*, now: dt.datetime | None = None) -> int:
    """Re-queue exports whose worker stopped reporting (running) or whose message was lost (queued)."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.EXPORT_STALE_SECONDS)
    stuck = Export.objects.filter(
        Q(status=Export.Status.RUNNING, heartbeat_at__lte=cutoff)
        | Q(status=Export.Status.RUNNING, heartbeat_at__isnull=True)
        | Q(status=Export.Status.QUEUED, created_at__lte=cutoff)
    ).values_list("pk", flat=True)
    ids = list(stuck)
    for pk in ids:
        logger.warning("re-queueing stuck export %s", pk)
        _enqueue_run(pk)
    # A chunk whose worker died while its siblings keep the export alive: re-queue it alone.
    chunks = ExportChunk.objects.filter(
        export__status=Export.Status.RUNNING, status=ExportChunk.Status.RUNNING, heartbeat_at__lte=cutoff
    ).exclude(export_id__in=ids)
    for export_id, index in chunks.values_list("export_id", "index"):
        logger.warning("re-queueing stuck chunk %s of export %s", index, export_id)
        _enqueue_chunks(export_id, [index])
    return len(ids)
