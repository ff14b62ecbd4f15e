"""Exports on workers of their own: killed with SIGKILL mid-export, failing, or several processes at once.

A slowed-down worker (EXPORT_TEST_CHUNK_DELAY) writes an export in chunks; once one chunk is done
and another is being written, the worker's pool child (or the whole worker) is killed. The export
must still end ``ready`` exactly once, with the same bytes as a clean run, the export allowance charged
once, and the file endpoint, polled throughout, must only ever answer 409 or the complete file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone

from moderation_data.exports.models import Export, ExportChunk
from moderation_data.exports.tasks import requeue_stuck_exports_task
from researchers.quotas import export_allowance
from tests.api_fixtures import build_published_release, make_research_client
from tests.conftest import SHARED_WORKER
from tests.moderation_data.exports_support import (
    EXPORT_DIR,
    GENEROUS,
    WORKER_ENV,
    download,
    request_export,
    start_worker,
    use_private_export_dir,
    wait_for_export,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture(autouse=True)
def _private_export_dir(settings):
    use_private_export_dir(settings)


ROWS = 2800  # about 4 chunks of 700 rows
SLOW = {"EXPORT_TEST_CHUNK_DELAY": "0.15"}  # per 256 rows: a chunk takes about 0.4 s


class FilePoller(threading.Thread):
    """Downloads the export file as fast as it can, remembering every answer."""

    def __init__(self, client, export_id: str):
        super().__init__(daemon=True)
        self.client, self.export_id = client, export_id
        self.answers: list[tuple[int, str]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                status, content, _ = download(self.client, self.export_id)
                self.answers.append((status, hashlib.sha256(content).hexdigest() if status == 200 else ""))
                time.sleep(0.05)
        finally:
            connection.close()

    def stop(self) -> list[tuple[int, str]]:
        self.halt.set()
        self.join(timeout=30)
        return self.answers


def pool_children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def wait_until_mid_export(export_id: str, timeout: float = 90) -> int:
    """Block until one chunk is done and another is being written; return the latter's index."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        chunks = list(ExportChunk.objects.filter(export_id=export_id).values_list("index", "status"))
        running = [index for index, status in chunks if status == "running"]
        if running and any(status == "done" for _, status in chunks):
            return running[0]
        time.sleep(0.05)
    raise AssertionError("the export never got mid-way")


def chunk_cut_short(export_id: str) -> int:
    """Right after a kill: the chunk the dead process was writing (still ``running``: nobody else can
    have taken it over yet). Read after the kill, not before it: a chunk seen running a moment
    earlier may have been finished in between."""
    running = list(ExportChunk.objects.filter(export_id=export_id, status="running").values_list("index", flat=True))
    assert len(running) == 1, f"the kill landed between two chunks ({running}): no chunk was cut short"
    return running[0]


def clean_run(client, fmt: str) -> dict:
    """The same export written by the test process's shared worker, undisturbed: the reference."""
    SHARED_WORKER.get()
    return wait_for_export(client, request_export(client, format=fmt).json()["id"])


def assert_exactly_once(export_id: str, body: dict, clean: dict, answers) -> None:
    assert body["status"] == "ready"
    assert body["sha256"] == clean["sha256"]
    assert body["row_count"] == clean["row_count"] == ROWS_IN_RELEASE[0]
    export = Export.objects.get(pk=export_id)
    published = list((EXPORT_DIR / "files" / export_id).iterdir())
    assert [p.name for p in published] == [export.file_name.rsplit("/", 1)[-1]]
    assert hashlib.sha256(published[0].read_bytes()).hexdigest() == clean["sha256"]
    assert not any((EXPORT_DIR / "parts" / export_id).glob("*"))
    assert not any((EXPORT_DIR / "tmp" / export_id).glob("*"))
    # Never a partial file: only "not ready yet" or the complete file.
    statuses = {status for status, _ in answers}
    assert statuses <= {409, 200}, statuses
    assert 409 in statuses
    assert {digest for status, digest in answers if status == 200} <= {clean["sha256"]}
    assert ExportChunk.objects.filter(export_id=export_id).exclude(status="done").count() == 0


def _recent_heartbeats_are_stale(export_id: str) -> bool:
    """Whether requeue_stuck_exports would take the export over now (it must not while heartbeats are fresh)."""
    cutoff = timezone.now() - dt.timedelta(seconds=int(WORKER_ENV["EXPORT_STALE_SECONDS"]))
    running = ExportChunk.objects.filter(export_id=export_id, status="running")
    return not running.filter(heartbeat_at__gt=cutoff).exists()


def _age_heartbeats(export_id: str, *, seconds: int) -> None:
    """As if ``seconds`` had passed since the dead worker's last heartbeat."""
    shift = dt.timedelta(seconds=seconds)
    Export.objects.filter(pk=export_id).update(heartbeat_at=F("heartbeat_at") - shift)
    ExportChunk.objects.filter(export_id=export_id, status="running").update(heartbeat_at=F("heartbeat_at") - shift)


ROWS_IN_RELEASE = [0]


@pytest.fixture(scope="module")
def big_release(django_db_setup, django_db_blocker, _shared_worker_session):
    with django_db_blocker.unblock():
        release = build_published_release(rows=ROWS)
    ROWS_IN_RELEASE[0] = release.row_count
    return release


def test_an_export_survives_its_pool_child_being_killed_and_completes_exactly_once(big_release):
    client = make_research_client(**GENEROUS)
    clean = clean_run(client, "parquet")
    charged = export_allowance(client.grant)["used"]
    worker = start_worker(**SLOW)
    try:
        export_id = request_export(client, format="parquet").json()["id"]
        poller = FilePoller(client, export_id)
        poller.start()
        wait_until_mid_export(export_id)
        (child,) = pool_children(worker.proc.pid)
        os.kill(child, signal.SIGKILL)
        killed_chunk = chunk_cut_short(export_id)
        # The worker notices the lost child and re-queues its message; a new child resumes the chunk.
        body = wait_for_export(client, export_id, timeout=180)
        time.sleep(0.3)
        answers = poller.stop()
    finally:
        worker.stop()
    assert_exactly_once(export_id, body, clean, answers)
    assert ExportChunk.objects.get(export_id=export_id, index=killed_chunk).attempts == 2
    assert export_allowance(client.grant)["used"] == charged + big_release.row_count


def test_an_export_survives_its_whole_worker_being_killed_and_completes_exactly_once(big_release):
    client = make_research_client(**GENEROUS)
    clean = clean_run(client, "csv")
    charged = export_allowance(client.grant)["used"]
    worker = start_worker(**SLOW)
    try:
        export_id = request_export(client, format="csv").json()["id"]
        poller = FilePoller(client, export_id)
        poller.start()
        wait_until_mid_export(export_id)
        os.killpg(worker.proc.pid, signal.SIGKILL)  # the main process and its pool child
        worker.proc.wait()
        killed_chunk = chunk_cut_short(export_id)
        assert Export.objects.get(pk=export_id).status == "running"
        assert not _recent_heartbeats_are_stale(export_id)
        # The replacement: another worker process on the queue (the test process's shared one, which
        # consumes it again once the dead worker is accounted for).
        worker.stop()
        replacement = SHARED_WORKER.get()
        assert replacement.running() and replacement.proc.pid != worker.proc.pid
        # Its unacknowledged message would come back only after the visibility timeout; beat's
        # requeue_stuck_exports finds the chunk whose heartbeat stopped and re-queues it. The clock is
        # injected: the dead worker's last heartbeats are set back past the stale threshold rather than
        # waited out (tests/reliability/test_worker_kill_recovery.py waits it out with a real beat).
        _age_heartbeats(export_id, seconds=int(WORKER_ENV["EXPORT_STALE_SECONDS"]) + 1)
        deadline = time.monotonic() + 180
        while Export.objects.get(pk=export_id).status != "ready" and time.monotonic() < deadline:
            requeue_stuck_exports_task.delay()
            time.sleep(0.5)
        body = wait_for_export(client, export_id, timeout=10)
        time.sleep(0.3)
        answers = poller.stop()
    finally:
        worker.stop()
    assert_exactly_once(export_id, body, clean, answers)
    assert ExportChunk.objects.get(export_id=export_id, index=killed_chunk).attempts == 2
    assert export_allowance(client.grant)["used"] == charged + big_release.row_count


# ----------------------------------------------------------------------------- faults and parallelism


def test_a_failed_export_refunds_its_allowance_and_says_why(big_release):
    client = make_research_client(**GENEROUS)
    worker = start_worker(EXPORT_TEST_FAULT="fail")
    try:
        export_id = request_export(client, format="jsonl").json()["id"]
        body = wait_for_export(client, export_id, statuses=("failed",))
    finally:
        worker.stop()
    assert "failed" in body["error"] and "Traceback" not in body["error"]
    assert export_allowance(client.grant)["used"] == 0
    assert not (EXPORT_DIR / "parts" / export_id).exists()
    assert not (EXPORT_DIR / "tmp" / export_id).exists()


def test_chunks_of_one_export_are_written_in_parallel_by_several_worker_processes(big_release):
    client = make_research_client(**GENEROUS)
    worker = start_worker(concurrency=2, EXPORT_TEST_CHUNK_DELAY="0.2")
    try:
        export_id = request_export(client, format="jsonl").json()["id"]
        most_at_once, deadline = 0, time.monotonic() + 120
        while Export.objects.get(pk=export_id).status != "ready" and time.monotonic() < deadline:
            running = ExportChunk.objects.filter(export_id=export_id, status="running").count()
            most_at_once = max(most_at_once, running)
            assert running <= 2
            time.sleep(0.02)
        body = wait_for_export(client, export_id)
    finally:
        worker.stop()
    assert most_at_once == 2
    assert body["row_count"] == len(download(client, export_id)[1].splitlines())
