"""Celery tasks of releases: thin wrappers around idempotent services."""

from __future__ import annotations

from celery import shared_task

from moderation_data.releases import services


@shared_task(name="moderation_data.build_release", acks_late=True, reject_on_worker_lost=True)
def build_release_task(release_id: int, *, publish: bool) -> None:
    """Build (and, if asked, publish) a release; only a release still ``building`` is built (idempotent)."""
    services.build_release(release_id, publish=publish)
