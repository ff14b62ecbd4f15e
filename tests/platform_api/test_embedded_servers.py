"""The embedded default: real PostgreSQL and Redis under .local/, shared when already running."""

import os
import subprocess
import sys

import psycopg
import pytest
import redis

from platform_api import embedded
from tests.conftest import BASE_DIR

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


def _run_child(local_dir, code: str, **env_extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    env.update(PLATFORM_LOCAL_DIR=str(local_dir), **env_extra)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def _servers_under(local_dir) -> list[str]:
    out = subprocess.run(["pgrep", "-af", str(local_dir)], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


def _stop_under(local_dir) -> None:
    _run_child(local_dir, "from platform_api import embedded; embedded.main(['stop'])")


START_AND_EXIT = "from platform_api import embedded; embedded.use_embedded_servers_if_unset(); print('up')"


def test_a_child_of_a_supervisor_on_external_servers_stops_the_embedded_servers_it_started(tmp_path):
    # CI's first pass: `embedded run` on the machine's servers owns no embedded server, and a test
    # runs `manage.py` with the URLs removed. What that child starts, it must stop when it exits.
    local = tmp_path / "local"
    try:
        result = _run_child(local, START_AND_EXIT, PLATFORM_EMBEDDED_SUPERVISED="")
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.strip() == "up"
        assert _servers_under(local) == []
    finally:
        _stop_under(local)


def test_a_child_leaves_running_the_servers_its_supervisor_owns(tmp_path):
    local = tmp_path / "local"
    try:
        result = _run_child(local, START_AND_EXIT, PLATFORM_EMBEDDED_SUPERVISED="postgres,redis")
        assert result.returncode == 0, result.stderr[-2000:]
        running = _servers_under(local)
        assert any("postgres" in line for line in running) and any("redis-server" in line for line in running)
    finally:
        _stop_under(local)
    assert _servers_under(local) == []


def test_two_processes_starting_redis_at_once_leave_one_server(tmp_path):
    local = tmp_path / "local"
    code = "from platform_api import embedded; print(embedded.start_redis()[1])"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    env["PLATFORM_LOCAL_DIR"] = str(local)
    try:
        procs = [
            subprocess.Popen([sys.executable, "-c", code], cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, text=True)
            for _ in range(3)
        ]
        started = [proc.communicate(timeout=60)[0].strip() for proc in procs]
        assert sorted(started) == ["False", "False", "True"]
        assert len([line for line in _servers_under(local) if "redis-server" in line]) == 1
    finally:
        _stop_under(local)
    assert _servers_under(local) == []
