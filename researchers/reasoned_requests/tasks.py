from celery import shared_task

from researchers.reasoned_requests import services


@shared_task(
    name="researchers.remind_amendment_deadlines",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=600,
    soft_time_limit=540,
)
def remind_amendment_deadlines_task() -> int:
    """E-mail staff 5 and 2 days before an amendment window closes; idempotent (once per threshold)."""
    return services.remind_amendment_deadlines()
