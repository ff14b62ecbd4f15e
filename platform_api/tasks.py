from celery import shared_task


@shared_task(name="platform_api.ping")
def ping(value: str = "pong") -> str:
    """Round-trip check of broker, worker and result backend; has no side effects."""
    return value


@shared_task(name="platform_api.audit_checkpoint")
def audit_checkpoint() -> int:
    """Seal the new access events and write a signed checkpoint of the chain head (run by beat)."""
    from platform_api.audit import write_checkpoint

    checkpoint = write_checkpoint()
    return checkpoint["last_id"] if checkpoint else 0
