"""Celery tasks: thin wrappers around idempotent services."""

from __future__ import annotations

from celery import shared_task

from moderation_data import services


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=6 * 3600, soft_time_limit=6 * 3600 - 60)
def run_import_task(run_id: int) -> None:
    """Import an uploaded file; a redelivered message finds the run no longer pending and does nothing."""
    services.run_import(run_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=3600, soft_time_limit=3300)
def build_release_task(release_id: int, publish: bool = False) -> None:
    """Build (and optionally publish) a release; only a release still ``building`` is built."""
    services.build_release(release_id, publish=publish)
