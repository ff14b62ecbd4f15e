from celery import shared_task


@shared_task(name="platform_api.ping")
def ping(value: str = "pong") -> str:
    """Round-trip check of broker, worker and result backend; has no side effects."""
    return value
