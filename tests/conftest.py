"""Shared fixtures: real PostgreSQL (pytest-django's test database), real Redis, real Celery workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection

BASE_DIR = Path(__file__).resolve().parent.parent

pytest_plugins = ["tests.api_fixtures"]


def database_url_of(settings_dict: dict) -> str:
    """A DATABASE_URL for the database pytest-django is using (the test database)."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or ""
    host = quote(host, safe="") if host.startswith("/") else host
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgresql://{auth}{host}{port}/{settings_dict['NAME']}"


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a child process (worker, gunicorn) that must use the test database."""
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url_of(connection.settings_dict)
    env["REDIS_URL"] = settings.REDIS_URL
    env["RATELIMIT_KEY_PREFIX"] = settings.RATELIMIT_KEY_PREFIX
    env["PLATFORM_EMBEDDED_SUPERVISED"] = "1"
    env.update(extra)
    return env


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


class WorkerProcess:
    """A real `celery worker` process consuming a given queue (by default the test run's private one)."""

    def __init__(self, queue: str, concurrency: int = 1, pool: str = "prefork", extra_env: dict | None = None):
        self.queue = queue
        self.concurrency = concurrency
        self.pool = pool
        self.extra_env = extra_env or {}
        # Faults are injected by a test-only app module wrapping the real one (tests/fault_injection.py).
        faults = any(key.startswith("EXPORT_TEST_") for key in self.extra_env)
        self.app = "tests.fault_injection" if faults else "platform_api"
        self.name = f"w{uuid.uuid4().hex[:10]}"
        self.proc: subprocess.Popen | None = None
        self.log_path = BASE_DIR / ".local" / "test-logs" / f"worker-{self.name}.log"

    def start(self, timeout: float = 60) -> WorkerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", self.app, "worker",
                "-Q", self.queue, "-c", str(self.concurrency), "-P", self.pool,
                "-n", f"{self.name}@%h", "-l", "INFO", "--without-gossip", "--without-mingle",
            ],
            env=subprocess_env(**self.extra_env),
            cwd=BASE_DIR,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        from platform_api.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early; see {self.log_path}")
            replies = app.control.ping(destination=[f"{self.name}@{os.uname().nodename}"], timeout=0.5)
            if replies:
                return self
        raise RuntimeError(f"worker did not answer a ping within {timeout}s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            import signal

            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()


@pytest.fixture
def celery_worker_process(request) -> Iterator[WorkerProcess]:
    """A real worker consuming this test run's private default queue (see platform_api.pytest_env)."""
    worker = WorkerProcess(queue=settings.CELERY_TASK_DEFAULT_QUEUE).start()
    yield worker
    worker.stop()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 with a million rounds is right for production and needlessly slow for tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
