"""Redis restarted under a live API: limits fail closed while it is down, quotas intact after.

A throwaway redis-server (no persistence: a restart loses every key, the worst case) replaces
the test run's Redis for the module. While it is down no data request is answered (the answer is
an error envelope; that it is 503 ``unavailable`` with Retry-After rather than 500 is issue 15's
outage finding, fixed by hfix). After it comes back empty, the day's record usage is rebuilt
from the audit log: the quota is exactly what was left before.
"""

from __future__ import annotations

import pytest
from django.test import Client

from tests.api_fixtures import make_research_client
from tests.reliability.servers import ThrowawayRedis
from tests.security.figures import record

pytestmark = pytest.mark.django_db
RECORDS = "/api/v1/datasets/moderation-decisions/releases/latest/records"


@pytest.fixture(scope="module")
def throwaway_redis():
    server = ThrowawayRedis().start()
    yield server
    server.cleanup()


@pytest.fixture
def on_throwaway_redis(throwaway_redis, settings):
    settings.REDIS_URL = throwaway_redis.url
    settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": throwaway_redis.url}}
    yield throwaway_redis
    if throwaway_redis.proc.poll() is not None:
        throwaway_redis.start()


def test_limits_fail_closed_while_redis_is_down_and_quotas_survive_its_restart(release, on_throwaway_redis):
    research = make_research_client(records_per_day=300)
    research.http = Client(raise_request_exception=False)
    assert len(research.get(RECORDS, {"page_size": 120}).json()["data"]) == 120

    on_throwaway_redis.stop()
    refused = [research.get(RECORDS, {"page_size": 10}), research.post(RECORDS, {"page_size": 10}),
               research.get("/api/v1/me")]  # fmt: skip
    for response in refused:
        assert response.status_code >= 500, response.status_code  # never served without its limits
        assert set(response.json()) == {"error"}
        assert b"Traceback" not in response.content

    on_throwaway_redis.start()  # empty: every counter is gone
    usage = research.get("/api/v1/usage").json()["today"]
    assert usage["records"] == 120
    rows = 0
    while (response := research.get(RECORDS, {"page_size": 100})).status_code == 200:
        rows += len(response.json()["data"])
    assert response.status_code == 429 and response.json()["error"]["code"] == "quota_exceeded"
    assert rows == 300 - 120
    record("Redis restart: records over quota after a restart that lost every key", 120 + rows - 300, "rows")
