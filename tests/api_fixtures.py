"""Fixtures for API tests: a published release of demo data, and research clients with tokens.

Everything is built inside each test's transaction (the release's rows table included), so
nothing leaks between tests.
"""

from __future__ import annotations

import atexit
import base64
import dataclasses
import os
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from django.test import Client

RELEASE_ROWS = 1500


@dataclasses.dataclass
class ResearchClient:
    grant: object
    client_id: str
    secret: str
    token: str
    http: Client

    def get(self, path: str, data=None, **kwargs):
        return self.http.get(path, data, HTTP_AUTHORIZATION=f"Bearer {self.token}", **kwargs)

    def post(self, path: str, data=None, **kwargs):
        return self.http.post(
            path, data or {}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {self.token}", **kwargs
        )


def build_published_release(
    *, rows: int = RELEASE_ROWS, seed: int = 11, version: str | None = None, days: int | None = None, **period
):
    """Demo data (``rows`` over ``days`` days from 2025-01-01), then a published release of it.

    Releases of a dataset cover disjoint periods (docs/privacy.md): by default the release starts the
    day after the previous published one ends, so a second release needs data after that (``days``)
    or an explicit ``period_start``/``period_end``.
    """
    from moderation_data.catalog.models import Dataset
    from moderation_data.ingest.demo import generate_demo_data
    from moderation_data.releases.services import build_release, start_release
    from tests.researchers.factories import ensure_datasets

    ensure_datasets()  # a transactional test's flush removes the migration-made catalog
    generate_demo_data(rows=rows, seed=seed, days=days)
    release = start_release(Dataset.objects.get(slug="moderation-decisions"), version=version, **period)
    return build_release(release.pk, publish=True)


class KeptRelease:
    """This test process's shared release: built by the first module that asks, kept for the next ones.

    A build (demo data, anonymization, privacy report, public summary) costs about 0.75 s of CPU and
    some fifty modules read one. It is kept between modules only while it stays exactly as built: the
    release rows, what they own in the tables a module's clean-up keeps (``tests.conftest.KEEP_TABLES``)
    and its rows table. The one thing it owns that the clean-up empties, the precision it gave each
    account (read by the next release's build), is put back. A module that does not use it deletes it
    when it starts (``_module_starts_from_an_empty_database``), as it deletes any other release.
    """

    def __init__(self) -> None:
        self.pk: int | None = None
        self.ids: set[int] = set()
        self.state: tuple | None = None
        self.precision: list = []

    @staticmethod
    def _state(ids: set[int]) -> tuple:
        from django.db import connection

        from moderation_data.aggregates.models import AggregationTable, PublicSummary, PublicSummaryCell
        from moderation_data.releases.models import EnforcementSummaryCell, Release

        releases = list(Release.objects.filter(pk__in=ids).order_by("pk").values())
        with connection.cursor() as cursor:
            tables = [r["rows_table"] for r in releases if r["rows_table"]]
            cursor.execute("SELECT count(to_regclass(t)) FROM unnest(%s::text[]) t", [tables])
            existing = cursor.fetchone()[0]
        return (
            releases,
            existing,
            list(AggregationTable.objects.filter(release_id__in=ids).order_by("pk").values()),
            list(PublicSummary.objects.filter(release_id__in=ids).order_by("pk").values()),
            PublicSummaryCell.objects.filter(summary__release_id__in=ids).count(),
            EnforcementSummaryCell.objects.filter(release_id__in=ids).count(),
        )

    def keep(self, release) -> None:
        from moderation_data.releases.models import AccountPrecision

        self.pk = release.pk
        self.ids = {release.pk, release.companion_id} - {None}
        self.state = self._state(self.ids)
        self.precision = list(AccountPrecision.objects.filter(release_id__in=self.ids))

    def reuse(self):
        """The kept release, its account precision put back; None if there is none or it changed."""
        from moderation_data.releases.models import AccountPrecision, Release

        if not self.ids:
            return None
        if self._state(self.ids) != self.state:
            self.forget()
            return None
        if not AccountPrecision.objects.filter(release_id__in=self.ids).exists():
            AccountPrecision.objects.bulk_create(self.precision)
        return Release.objects.get(pk=self.pk)

    def forget(self) -> None:
        self.pk, self.ids, self.state, self.precision = None, set(), None, []


KEPT_RELEASE = KeptRelease()


@pytest.fixture(scope="module")
def shared_release(django_db_setup, django_db_blocker):
    """One published release of demo data, committed, shared by the modules of a test process (``KeptRelease``).

    Tests only read it (transactional tests keep it: see ``tests.conftest._fixture_teardown``). Its
    raw decisions are deleted once it is built, so tests making their own raw data start from an
    empty raw tier. Releases a module makes besides it are deleted when the module ends. Tests that
    need a release of their own (other data, another version) build one with ``build_published_release``.
    """
    from moderation_data.ingest.models import Decision
    from tests.conftest import ACTIVE_MODULE_RELEASES, purge_releases_after, purge_stale_releases, release_watermark

    with django_db_blocker.unblock():
        built = KEPT_RELEASE.reuse()
        if built is None:
            purge_stale_releases()
            built = build_published_release()
            Decision.objects.all().delete()
            KEPT_RELEASE.keep(built)
        before = release_watermark()
    ACTIVE_MODULE_RELEASES.update(KEPT_RELEASE.ids)
    yield built
    ACTIVE_MODULE_RELEASES.difference_update(KEPT_RELEASE.ids)
    with django_db_blocker.unblock():
        purge_releases_after(before)


@pytest.fixture
def release(shared_release):
    return shared_release


def make_research_client(*, modality: str = "records_and_exports", datasets=None, scope: str | None = None, **quotas):
    """An approved application → grant → collected secret → a token from /oauth/token/."""
    from moderation_data.catalog.models import Dataset
    from researchers import services
    from researchers.models import AccessGrant
    from tests.researchers.factories import StaffFactory, make_application

    slugs = datasets or ["moderation-decisions", "enforcement-summary"]
    chosen = list(Dataset.objects.filter(slug__in=slugs))
    application = make_application(status="submitted", datasets=chosen, modality_requested=modality)
    grant = services.approve_application(application, reviewer=StaffFactory(), reason="test")
    if quotas:
        AccessGrant.objects.filter(pk=grant.pk).update(**quotas)
        grant.refresh_from_db()
    secret = services.rotate_client_secret(grant, actor=application.principal_researcher.user)
    client_id = grant.oauth_client.client_id
    http = Client()
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    response = http.post("/oauth/token/", data, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert response.status_code == 200, response.content
    return ResearchClient(
        grant=grant, client_id=client_id, secret=secret, token=response.json()["access_token"], http=http
    )


@pytest.fixture
def researcher(db):
    return make_research_client()


@pytest.fixture(autouse=True)
def _pinned_limiter_clock(monkeypatch):
    """The limiter's clock stands still during a test: its requests all fall in one window.

    (Otherwise a test crossing a minute boundary would see its counter start again.) Tests
    that move time replace ``platform_api.ratelimit.clock`` themselves.
    """
    from platform_api import ratelimit

    now = time.time()
    monkeypatch.setattr(ratelimit, "clock", lambda: now)


@pytest.fixture(autouse=True)
def _own_rate_limit_keys(settings):
    """Grant ids repeat across tests (rolled-back sequences): each test counts in its own key space.

    Nothing is flushed, so tests (and xdist workers) sharing one Redis never disturb each other;
    the keys expire on their own.
    """
    namespace = uuid.uuid4().hex[:12]
    settings.RATELIMIT_KEY_PREFIX = f"{settings.RATELIMIT_KEY_PREFIX}:{namespace}"
    # The token endpoint's brute-force counters live in the cache: give them a fresh namespace too.
    cache = dict(settings.CACHES["default"], KEY_PREFIX=f"{settings.CACHES['default']['KEY_PREFIX']}:{namespace}")
    settings.CACHES = {**settings.CACHES, "default": cache}


def unique_ip() -> str:
    n = uuid.uuid4().int
    return f"10.{n % 251}.{(n >> 8) % 251}.{(n >> 16) % 251}"


def http_client(connections: int = 10, timeout: float = 120) -> httpx.Client:
    """One HTTP client for many requests, from as many threads as ``connections``.

    ``httpx.get()`` and friends build a client, with its TLS context, for each call: 21 ms of CPU
    each here, which made the 200-request bursts spend seconds on clients instead of requests.
    """
    from modresearch.http import tls_context

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.Client(timeout=timeout, limits=limits, verify=tls_context())


class GunicornServer:
    """A real gunicorn serving the test database (for tests across processes)."""

    # Every server of a test run counts in one key space, as production processes sharing Redis do.
    ratelimit_prefix = f"{os.environ['RATELIMIT_KEY_PREFIX']}:gunicorn"

    def __init__(self, workers: int = 2, *, app: str = "platform_api.wsgi", extra_env: dict | None = None):
        self.workers = workers
        self.app = app  # a test-only WSGI module may wrap the real one (e.g. tests/client/short_window_wsgi.py)
        self.extra_env = extra_env or {}
        self.proc = None

    def start(self) -> GunicornServer:
        import socket
        import subprocess
        import sys
        import time
        from pathlib import Path

        from tests.conftest import BASE_DIR, subprocess_env

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        gunicorn = Path(sys.executable).parent / "gunicorn"
        self.proc = subprocess.Popen(
            [str(gunicorn), self.app, "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
             "--access-logfile", "/dev/null", "--log-level", "warning",
             # The app is imported once and forked: 0.8 s less CPU per server than each process importing it.
             "--preload"],
            env=subprocess_env(LOG_LEVEL="WARNING", RATELIMIT_KEY_PREFIX=self.ratelimit_prefix, **self.extra_env),
            cwd=BASE_DIR,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        with http_client(timeout=2) as http:
            while time.monotonic() < deadline:
                try:
                    if http.get(f"{self.url}/healthz").status_code == 200:
                        return self
                except httpx.HTTPError:
                    time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not become healthy")

    def stop(self) -> None:
        import os
        import signal

        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)


class SharedGunicorns:
    """Gunicorns with the default configuration, started on first use and shared by a test process's modules.

    A server costs about 2.5 s of CPU to start (import, fork, warm-up) and a dozen modules need one or
    two; modules needing another configuration (another app, environment or database) start their own.
    Stopped when the session ends, before the test database is dropped.
    """

    def __init__(self) -> None:
        self.servers: list[GunicornServer] = []

    def get(self, count: int) -> list[GunicornServer]:
        for index in range(count):
            if index == len(self.servers):
                self.servers.append(GunicornServer().start())
            elif self.servers[index].proc is None or self.servers[index].proc.poll() is not None:
                self.servers[index] = GunicornServer().start()  # one that died is replaced
        return self.servers[:count]

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self.servers = []


SHARED_GUNICORNS = SharedGunicorns()
atexit.register(SHARED_GUNICORNS.stop)  # a session stopped early leaves no server behind


@pytest.fixture(scope="session")
def shared_gunicorns(django_db_setup) -> Iterator[SharedGunicorns]:
    yield SHARED_GUNICORNS
    SHARED_GUNICORNS.stop()


@pytest.fixture(scope="module")
def two_gunicorns(shared_gunicorns) -> list[GunicornServer]:
    """Two gunicorn servers (2 processes each) on the test database: the test process's shared ones.

    They count limits under their own key prefix (``servers[0].ratelimit_prefix``).
    """
    return shared_gunicorns.get(2)
