from celery import shared_task

from researchers import services
from researchers.reasoned_requests.tasks import remind_amendment_deadlines_task  # noqa: F401 - registers it


@shared_task(
    name="researchers.expire_grants", acks_late=True, reject_on_worker_lost=True, time_limit=600, soft_time_limit=540
)
def expire_grants_task() -> int:
    """Expire every grant past its end date; idempotent (a second run finds nothing to do)."""
    return services.expire_grants()
