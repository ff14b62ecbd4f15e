import pytest
from django.conf import settings

from platform_api.celery import app
from platform_api.tasks import ping

pytestmark = pytest.mark.django_db(transaction=True)


def test_celery_is_configured_for_exactly_once_effects():
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.accept_content == ["json"]
    assert conf.task_serializer == "json"
    # A message must not be redelivered while its task may still legitimately run.
    assert conf.broker_transport_options["visibility_timeout"] > settings.CELERY_TASK_TIME_LIMIT
    assert conf.task_soft_time_limit < conf.task_time_limit


def test_a_task_runs_in_a_real_worker_process_over_redis(celery_worker_process):
    result = ping.delay("hello from the test")
    assert result.get(timeout=30) == "hello from the test"
    assert celery_worker_process.proc.poll() is None
