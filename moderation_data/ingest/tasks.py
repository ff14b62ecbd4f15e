"""Celery tasks of the raw tier: thin wrappers around idempotent services.

Time limits are the global ones (``CELERY_TASK_TIME_LIMIT``), which the broker's visibility
timeout exceeds by construction (see settings): no task can outlive its message's invisibility.
"""

from __future__ import annotations

from celery import shared_task

from moderation_data.ingest import services


@shared_task(name="moderation_data.run_import", acks_late=True, reject_on_worker_lost=True)
def run_import_task(run_id: int) -> None:
    """Import an uploaded file; a redelivered message finds the run no longer pending and does nothing."""
    services.run_import(run_id)
