"""The Celery app: Redis broker, JSON only, at-least-once delivery made safe by idempotent tasks."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_api.settings")

app = Celery("platform_api")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    # A task's message is acknowledged only after it finished, and re-queued if the worker
    # process died under it: together with idempotent tasks this gives exactly-once effects.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
    result_expires=86_400,
    task_track_started=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_send_task_events=False,
    timezone="UTC",
    enable_utc=True,
    # Periodic tasks are added by the apps (grant expiry, export clean-up, ...).
    beat_schedule={
        # Grants past their end date are also refused at request time; this makes it official.
        "expire-grants-daily": {"task": "researchers.expire_grants", "schedule": crontab(hour=0, minute=5)},
        # Staff are e-mailed 5 and 2 days before a DSC request's amendment window closes (Art. 40(5)).
        "remind-amendment-deadlines-daily": {
            "task": "researchers.remind_amendment_deadlines",
            "schedule": crontab(hour=6, minute=0),
        },
        # Export files past their expiry date are deleted; exports whose worker died are resumed.
        "expire-exports-hourly": {"task": "moderation_data.expire_exports", "schedule": crontab(minute=17)},
        "requeue-stuck-exports": {"task": "moderation_data.requeue_stuck_exports", "schedule": 60.0},
        # New access events are sealed into the keyed chain and a signed checkpoint written (docs/api.md).
        "audit-checkpoint": {
            "task": "platform_api.audit_checkpoint",
            "schedule": float(os.environ.get("AUDIT_CHECKPOINT_SECONDS") or 60),
        },
    },
)
app.autodiscover_tasks()
