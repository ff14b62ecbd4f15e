"""The embedded default: real PostgreSQL and Redis under .local/, shared when already running."""

import os

import psycopg
import pytest
import redis

from platform_api import embedded

pytestmark = pytest.mark.embedded


@pytest.fixture
def servers():
    """Start what is not running; stop afterwards only what this test started."""
    pg_url, pg_started = embedded.start_postgres()
    redis_url, redis_started = embedded.start_redis()
    yield pg_url, redis_url
    embedded.stop(["postgres"] * pg_started + ["redis"] * redis_started)


def test_embedded_servers_start_or_are_shared_and_answer(servers):
    pg_url, redis_url = servers
    # Asking again while they run shares them: same address, nothing started.
    assert embedded.start_postgres() == (pg_url, False)
    assert embedded.start_redis() == (redis_url, False)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SHOW server_version_num").fetchone()[0] >= "180000"
    assert redis.Redis.from_url(redis_url).ping()
    assert str(embedded.PGDATA).endswith(os.path.join(".local", "pgdata"))
    assert (embedded.PGDATA / "PG_VERSION").exists()


def test_embedded_servers_listen_only_on_unix_sockets(servers):
    pg_url, redis_url = servers
    assert pg_url.startswith("postgresql://postgres@%2F")
    assert redis_url.startswith("unix://")
