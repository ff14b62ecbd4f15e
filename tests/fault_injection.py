"""A Celery app for tests: the platform's own app, with faults injected from the environment.

Worker processes started with ``-A tests.fault_injection`` (see ``tests.conftest.WorkerProcess``)
behave like production workers except for what these variables ask, so the hooks live here and
never in the domain modules:

- ``EXPORT_TEST_CHUNK_DELAY=<seconds>``: sleep that long every 256 rows an export writes, so a
  test can kill a worker in the middle of a chunk;
- ``EXPORT_TEST_FAULT=fail``: every export chunk raises, as a broken writer would.
"""

from __future__ import annotations

import os
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_api.settings")
django.setup()

from moderation_data.exports import writers  # noqa: E402
from platform_api.celery import app  # noqa: E402

__all__ = ["app"]

_delay = float(os.environ.get("EXPORT_TEST_CHUNK_DELAY") or 0)
if _delay:
    _progress = writers._Throttle.__call__

    def _slow(self, rows: int, *, force: bool = False) -> None:
        if not force:
            time.sleep(_delay)
        _progress(self, rows, force=force)

    writers._Throttle.__call__ = _slow

if os.environ.get("EXPORT_TEST_FAULT") == "fail":

    def _broken(*args, **kwargs) -> int:
        raise RuntimeError("injected export failure (EXPORT_TEST_FAULT)")

    writers.write_chunk = _broken

# ``EXPORT_TEST_REQUEUE_EVERY=<seconds>``: beat runs requeue_stuck_exports that often instead of every
# 60 s (tests/reliability/test_worker_kill_recovery.py measures the recovery with a real beat).
_requeue_every = float(os.environ.get("EXPORT_TEST_REQUEUE_EVERY") or 0)
if _requeue_every:
    app.conf.beat_schedule["requeue-stuck-exports"]["schedule"] = _requeue_every
