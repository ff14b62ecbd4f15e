"""Celery tasks of the raw tier: thin wrappers around idempotent services.

Time limits are the global ones (``CELERY_TASK_TIME_LIMIT``), which the broker's visibility
timeout exceeds by construction (see settings): no task can outlive its message's invisibility.
So a redelivered message means its first worker is gone, and a run claimed longer ago than the
time limit has no task importing it: both are imported again (services.run_import).
"""

from __future__ import annotations

from celery import shared_task

from moderation_data.ingest import services


@shared_task(bind=True, name="moderation_data.run_import", acks_late=True, reject_on_worker_lost=True)
def run_import_task(self, run_id: int) -> None:
    """Import an uploaded file; a redelivered message resumes a run whose worker died, else does nothing."""
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    services.run_import(run_id, redelivered=redelivered)
