"""Celery tasks of bulk exports: thin wrappers around the idempotent services in moderation_data.exports.

Delivery is at least once (acks_late, reject_on_worker_lost: a message whose worker died is
delivered again); each service claims its row, so a second delivery finishes what the first
started or finds nothing to do. An error inside a step fails the export and refunds its quota.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from moderation_data.exports import services as exports

logger = logging.getLogger("moderation_data.exports")

TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True}


def _guarded(export_id: str, step, *args, task_id: str) -> None:
    try:
        step(export_id, *args, task_id=task_id)
    except SoftTimeLimitExceeded:
        exports.fail_export(export_id, error="The export took longer than the time limit.")
    except Exception:
        logger.exception("export %s failed", export_id)
        exports.fail_export(export_id, error="The export failed on the server; its quota was refunded.")


@shared_task(bind=True, name="moderation_data.run_export", **TASK_OPTIONS)
def run_export_task(self, export_id: str) -> None:
    """Claim a queued export and queue its chunks (a redelivery after that does nothing)."""
    _guarded(export_id, exports.run_export, task_id=self.request.id or "")


@shared_task(bind=True, name="moderation_data.run_export_chunk", **TASK_OPTIONS)
def run_export_chunk_task(self, export_id: str, index: int) -> None:
    """Write one chunk of an export; resumes a chunk whose worker died, skips a finished one."""
    _guarded(export_id, exports.run_export_chunk, index, task_id=self.request.id or "")


@shared_task(bind=True, name="moderation_data.finalize_export", **TASK_OPTIONS)
def finalize_export_task(self, export_id: str) -> None:
    """Combine the parts and publish the file, marking the export ready exactly once."""
    _guarded(export_id, exports.finalize_export, task_id=self.request.id or "")


@shared_task(name="moderation_data.expire_exports", **TASK_OPTIONS)
def expire_exports_task() -> int:
    """Beat: expire ready exports past their date and delete their files (idempotent)."""
    return exports.expire_exports()


@shared_task(name="moderation_data.requeue_stuck_exports", **TASK_OPTIONS)
def requeue_stuck_exports_task() -> int:
    """Beat: re-queue exports whose worker stopped reporting (the claim lets only one run)."""
    return exports.requeue_stuck_exports()
