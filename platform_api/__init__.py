"""Project package: settings, URLs, the Celery app and cross-cutting API code."""

from platform_api.celery import app as celery_app

__all__ = ["celery_app"]
