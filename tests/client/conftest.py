"""A live platform for the client's tests: gunicorn and a Celery worker on 127.0.0.1, real PostgreSQL and Redis.

Built once per test module: a committed, published release of demo data (``shared_release``), a
gunicorn serving the test database, a worker consuming the run's private queue, and research
clients (grants with their OAuth credentials) made through the real services. The tests talk to
it only over HTTP, as a researcher's notebook would; nothing is mocked.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from django.test.utils import override_settings

from tests.api_fixtures import GunicornServer, make_research_client
from tests.hashers import FAST_PBKDF2

T = TypeVar("T")


@dataclasses.dataclass
class Credentials:
    client_id: str
    client_secret: str
    grant: object


@dataclasses.dataclass
class LivePlatform:
    url: str
    release: object  # the shared moderation_data Release
    server: GunicornServer
    make_credentials: Callable[..., Credentials]
    default: Credentials

    def client(self, credentials: Credentials | None = None, **kwargs):
        from modresearch import Client

        credentials = credentials or self.default
        kwargs.setdefault("progress", False)
        return Client(self.url, credentials.client_id, credentials.client_secret, **kwargs)

    def env(self, credentials: Credentials | None = None) -> dict[str, str]:
        """Environment for a subprocess (CLI, notebook kernel) configured like a researcher's shell."""
        credentials = credentials or self.default
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODRESEARCH_")}
        env.update(
            MODRESEARCH_URL=self.url,
            MODRESEARCH_CLIENT_ID=credentials.client_id,
            MODRESEARCH_CLIENT_SECRET=credentials.client_secret,
        )
        return env


def committed(function: Callable[[], T]) -> T:
    """Run ``function`` on a connection of its own, in autocommit, so gunicorn sees its writes at once.

    (A test marked ``django_db`` runs inside a transaction that is rolled back, invisible to the server.)
    """
    from django.db import connections

    def run() -> T:
        try:
            return function()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def _hasher_path() -> str:
    return FAST_PBKDF2


@pytest.fixture(scope="module")
def live(shared_release, celery_worker_process, shared_gunicorns, django_db_blocker) -> Iterator[LivePlatform]:
    """The live platform of a test module (see the module docstring)."""
    from tests.conftest import _empty_tables_but_shared

    made: list[Credentials] = []

    def make_credentials(**kwargs) -> Credentials:
        def make():
            with override_settings(PASSWORD_HASHERS=[_hasher_path()]):
                return make_research_client(**kwargs)

        with django_db_blocker.unblock():
            researcher = committed(make)
        credentials = Credentials(researcher.client_id, researcher.secret, researcher.grant)
        made.append(credentials)
        return credentials

    # Generous limits by default: tests that are about limits make their own grant.
    default = make_credentials(requests_per_minute=100_000, requests_per_day=1_000_000, records_per_day=10_000_000)
    (server,) = shared_gunicorns.get(1)  # the test process's gunicorn
    try:
        yield LivePlatform(
            url=server.url, release=shared_release, server=server, make_credentials=make_credentials, default=default
        )
    finally:
        with django_db_blocker.unblock():
            _empty_tables_but_shared()


@pytest.fixture
def tmp_workdir(tmp_path: Path, monkeypatch) -> Path:
    """Run in an empty directory: no stray ./.env or state files."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
