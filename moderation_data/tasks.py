"""Celery's autodiscovery entry (``<app>.tasks``): every task of the app, by subdomain."""

from moderation_data.exports.tasks import (  # noqa: F401
    expire_exports_task,
    finalize_export_task,
    requeue_stuck_exports_task,
    run_export_chunk_task,
    run_export_task,
)
from moderation_data.ingest.tasks import run_import_task  # noqa: F401
from moderation_data.releases.tasks import build_release_task  # noqa: F401
