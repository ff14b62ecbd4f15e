"""Shared fixtures: real PostgreSQL (pytest-django's test database), real Redis, real Celery workers."""

from __future__ import annotations

import atexit
import collections
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import TransactionTestCase

BASE_DIR = Path(__file__).resolve().parent.parent

pytest_plugins = ["tests.api_fixtures"]

# Seconds each test module took, and CPU seconds the machine spent on it (measured on CI's kind of
# machine, one test at a time: `pytest -n 0 --store-durations` rewrites it).
DURATIONS = BASE_DIR / "tests" / "durations.json"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--store-durations", action="store_true",
        help=f"write each test module's time and CPU to {DURATIONS.relative_to(BASE_DIR)} (the order of later runs)",
    )  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    _index_static_files_once()
    _third_party_tables_from_their_models()


def pytest_collection_finish(session: pytest.Session) -> None:
    freeze_long_lived_objects()


def freeze_long_lived_objects() -> None:
    """Move what a test process holds for its whole life out of the garbage collector's sight (``gc.freeze``).

    Django, the libraries and the collected tests are some 600,000 objects: each full collection
    walked them all, about 10 s of the test processes' CPU in a run (out of 14 s spent collecting).
    Called once the tests are collected and again once the test database exists. Young objects are
    collected every 10,000 allocations rather than 700: tests allocate in bursts (responses, query
    sets, Hypothesis examples), and each collection also walks what the tests keep.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


# Django's and the libraries' apps: their tables are what their migrations end in. The project's own
# apps (platform_api, researchers, moderation_data) always run their migrations.
THIRD_PARTY_APPS = ["admin", "auth", "contenttypes", "sessions", "oauth2_provider", "axes", "otp_totp"]


def _third_party_tables_from_their_models() -> None:
    """Each test database creates the libraries' tables from their models instead of replaying their migrations.

    Replaying them took 5.5 s of the 6.8 s a test database took to migrate, in every test process:
    django-oauth-toolkit alone 4.2 s (its migration 0021 re-labels 65 fields, 2.2 s of state
    rendering, nothing in the database). Their tables are made first (``migrate`` syncs unmigrated
    apps before migrating), then the project's migrations run as in production, including those that
    depend on the libraries (a dependency on an unmigrated app is satisfied by its tables). Only the
    test databases: commands, the demo and the servers tests start migrate everything.
    """
    from django.conf import settings

    settings.MIGRATION_MODULES = {**settings.MIGRATION_MODULES, **dict.fromkeys(THIRD_PARTY_APPS)}


def _index_static_files_once() -> None:
    """WhiteNoise indexes the static files (1,790 of them) each time its middleware is built.

    A server builds it once; Django's test client builds the middleware chain again for every client
    instance, and the suite makes thousands (about 20 ms each here). The index of a test process is
    made once and copied into each new middleware: the same files, served the same way.
    """
    from whitenoise.middleware import WhiteNoiseMiddleware

    index_files = WhiteNoiseMiddleware.add_files_from_finders
    made: dict[str, dict] = {}

    def add_files_from_finders(self) -> None:
        if self.static_prefix not in made:
            before = set(self.files)
            index_files(self)
            made[self.static_prefix] = {url: found for url, found in self.files.items() if url not in before}
        else:
            for url, found in made[self.static_prefix].items():
                self.files.setdefault(url, found)

    WhiteNoiseMiddleware.add_files_from_finders = add_files_from_finders


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The order xdist hands out the modules: shared-release readers first, waiting spread among working.

    `make test` runs `--dist loadfile --no-loadscope-reorder`: xdist hands out whole modules in this
    order, each to the test process that is free. Within each group the longest go first, so that
    the processes finish together (by default xdist sorts by number of tests, which leaves the long
    one-test modules for the end while the other process idles). The modules that mostly wait
    (for a worker killed and recovered, a replica, pip, Chromium) are spread among the ones that
    keep the CPU busy, in proportion, so that one process's waiting is the other's working time:
    on two cores, two waiting modules at once left the machine a third idle for half a minute.
    Runs after pytest-django's ordering (plain tests before transactional ones), which it keeps
    within each module; a module not in the file counts a second of work.
    """
    _unique_schemathesis_ids(items)
    measured = _measured_modules()
    first_seen: dict[str, int] = {}
    for item in items:
        first_seen.setdefault(item.nodeid.split("::")[0], len(first_seen))
        if "shared_release" in getattr(item, "fixturenames", ()):
            SHARED_RELEASE_MODULES.add(item.nodeid.split("::")[0])
    # The modules reading the shared release come first and together: each test process then
    # builds it once and keeps it (tests.api_fixtures.KeptRelease) until a module needs none.
    groups = (
        [m for m in first_seen if m in SHARED_RELEASE_MODULES],
        [m for m in first_seen if m not in SHARED_RELEASE_MODULES],
    )
    position = {
        module: index for index, module in enumerate(m for group in groups for m in _interleaved(group, measured))
    }
    items.sort(key=lambda item: position[item.nodeid.split("::")[0]])


def _unique_schemathesis_ids(items: list[pytest.Item]) -> None:
    """Give each Schemathesis operation test its own node id (``test_...[GET /api/v1/me]``).

    Schemathesis names its items ``test_...[<operation>]`` but, on pytest 9, builds their node id from
    the function's name alone: the twenty operations of tests/security/test_schema_fuzzing.py shared
    one id, and pytest-xdist, which schedules by id, ran one of them.
    """
    for item in items:
        label = getattr(item, "operation_label", None)
        if label and item.nodeid.endswith(f"::{item.originalname}"):
            item._id = item.parent.id.child(item.originalname).with_params(label)


def _measured_modules() -> dict[str, tuple[float, float]]:
    """Each module's (seconds, CPU seconds the machine spent on it)."""
    try:
        stored = json.loads(DURATIONS.read_text())
    except (OSError, ValueError):
        return {}
    return {module: tuple(value) if isinstance(value, list) else (value, value) for module, value in stored.items()}


def _interleaved(modules: list[str], measured: dict[str, tuple[float, float]]) -> list[str]:
    """Longest first; a module that mostly waits is placed once enough working time precedes it."""
    seconds = {m: measured.get(m, (1.0, 1.0)) for m in modules}
    waiting = sorted((m for m in modules if _mostly_waits(*seconds[m])), key=lambda m: -seconds[m][0])
    working = sorted((m for m in modules if not _mostly_waits(*seconds[m])), key=lambda m: -seconds[m][0])
    ordered, waited, worked = [], 0.0, 0.0
    while waiting or working:
        if waiting and (waited <= worked or not working):
            module = waiting.pop(0)
            waited += seconds[module][0]
        else:
            module = working.pop(0)
            worked += seconds[module][0]
        ordered.append(module)
    return ordered


def _mostly_waits(seconds: float, cpu: float) -> bool:
    return seconds >= 3 and cpu < 0.5 * seconds  # less than half a core busy


# Test files (node ids) with a test using the shared release (``tests.api_fixtures.shared_release``).
SHARED_RELEASE_MODULES: set[str] = set()


def _uses_shared_release(module_node: pytest.Module) -> bool:
    return module_node.nodeid in SHARED_RELEASE_MODULES


_CPU_AT_START = pytest.StashKey[float]()


def _machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (every process: tests, servers, PostgreSQL)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem) -> None:
    if item.config.getoption("store_durations"):
        item.stash[_CPU_AT_START] = _machine_busy_seconds()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """The CPU the machine spent during a test, sent with its teardown's report (``--store-durations``).

    Machine-wide, so that what the test's servers, workers and PostgreSQL did counts: meaningful when
    the tests run one at a time (``-n 0``), which is how the file is written.
    """
    outcome = yield
    if call.when == "teardown" and _CPU_AT_START in item.stash:
        spent = _machine_busy_seconds() - item.stash[_CPU_AT_START]
        outcome.get_result().user_properties.append(("cpu_seconds", spent))


_MODULE_SECONDS: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0])


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    module = _MODULE_SECONDS[report.nodeid.split("::")[0]]
    module[0] += report.duration
    if report.when == "teardown":
        module[1] += sum(value for name, value in report.user_properties if name == "cpu_seconds")


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not session.config.getoption("store_durations") or hasattr(session.config, "workerinput"):
        return  # with xdist, the controller (which sees every process's reports) writes the file
    try:  # a run of some files updates theirs and keeps the others'
        merged = {**json.loads(DURATIONS.read_text()), **_MODULE_SECONDS}
    except (OSError, ValueError):
        merged = dict(_MODULE_SECONDS)
    rounded = {m: [round(v, 1) for v in value] if isinstance(value, list) else value for m, value in merged.items()}
    ordered = sorted(
        rounded.items(), key=lambda pair: (-(pair[1][0] if isinstance(pair[1], list) else pair[1]), pair[0])
    )
    DURATIONS.write_text("{\n" + ",\n".join(f"{json.dumps(m)}: {json.dumps(v)}" for m, v in ordered) + "\n}\n")


def database_url_of(settings_dict: dict) -> str:
    """A DATABASE_URL for the database pytest-django is using (the test database)."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or ""
    host = quote(host, safe="") if host.startswith("/") else host
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgresql://{auth}{host}{port}/{settings_dict['NAME']}"


# Export files of this test process and every worker and gunicorn it starts: one private directory.
EXPORT_DIR = Path(tempfile.mkdtemp(prefix="exports-test-"))
atexit.register(shutil.rmtree, EXPORT_DIR, ignore_errors=True)
# Workers of the test run: small chunks, so that even a test release is split and combined (the path
# large exports take), and a short stale threshold for the tests that kill a worker mid-export.
WORKER_ENV = {"EXPORT_CHUNK_ROWS": "700", "EXPORT_STALE_SECONDS": "6", "LOG_LEVEL": "INFO"}


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a child process (worker, gunicorn) that must use the test database."""
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url_of(connection.settings_dict)
    env["EXPORT_STORAGE_DIR"] = str(EXPORT_DIR)
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
    """A real `celery worker` process consuming a given queue (by default the test run's private one).

    While one started by a test consumes the test run's queue, the shared worker (``SHARED_WORKER``)
    stops consuming it: the test's tasks all go to the worker it started, with its settings and faults.
    """

    def __init__(
        self,
        queue: str,
        concurrency: int = 1,
        pool: str = "prefork",
        extra_env: dict | None = None,
        *,
        shared: bool = False,
    ):
        self.queue = queue
        self.shared = shared
        self._pausing_shared = False
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
        if not self.shared and self.queue == settings.CELERY_TASK_DEFAULT_QUEUE:
            SHARED_WORKER.pause()
            self._pausing_shared = True
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> WorkerProcess:
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
            replies = app.control.ping(destination=[self.hostname], timeout=0.25)
            if replies:
                return self
        raise RuntimeError(f"worker did not answer a ping within {timeout}s; see {self.log_path}")

    @property
    def hostname(self) -> str:
        return f"{self.name}@{os.uname().nodename}"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.running():
            import signal

            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()
        if self._pausing_shared:
            self._pausing_shared = False
            SHARED_WORKER.resume()


class SharedWorker:
    """One worker per test process, shared by every module that only needs a running worker.

    Started on first use and stopped when the session ends: a worker boots in 1.5-2 s and stops in
    about 1 s, and a dozen modules need one. While a test's own worker consumes the queue (see
    ``WorkerProcess``), this one is told to stop consuming it (Celery's ``cancel_consumer``) and
    to start again afterwards (``add_consumer``).
    """

    def __init__(self) -> None:
        self.worker: WorkerProcess | None = None
        self.private = 0  # workers started by tests, consuming the queue now

    def get(self) -> WorkerProcess:
        if self.private:
            raise RuntimeError("a test's own worker is consuming the queue: the shared worker is paused")
        if self.worker is None or not self.worker.running():
            queue = settings.CELERY_TASK_DEFAULT_QUEUE
            self.worker = WorkerProcess(queue=queue, extra_env=dict(WORKER_ENV), shared=True).start()
        return self.worker

    def _control(self, command: str) -> None:
        from platform_api.celery import app

        if self.worker is None or not self.worker.running():
            return
        method = getattr(app.control, command)
        replies = method(self.worker.queue, destination=[self.worker.hostname], reply=True, timeout=5)
        if not replies:
            raise RuntimeError(f"the shared worker did not answer {command}; see {self.worker.log_path}")

    def pause(self) -> None:
        self.private += 1
        if self.private == 1:
            self._control("cancel_consumer")

    def resume(self) -> None:
        self.private -= 1
        if self.private == 0:
            self._control("add_consumer")

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None


SHARED_WORKER = SharedWorker()
# A session stopped early (Ctrl-C, a crash) leaves no worker behind.
atexit.register(SHARED_WORKER.stop)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, with commits that do not wait for the WAL flush.

    A database-level default, so every connection gets it: this process's, and those of the workers,
    gunicorns and commands the tests start. A crash of the server could lose the last commits of a
    database that is dropped at the end of the run anyway; nothing a test asserts depends on the
    flush, and the commits of a run no longer wait for the disk (they took about 3 s of it).
    """
    from django.db import transaction

    with django_db_blocker.unblock():
        # One test process at a time: two ALTER DATABASE ... SET at the same moment, even on different
        # databases, can fail with "tuple concurrently updated" (they update one shared catalog).
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('platform-tests: ALTER DATABASE'))")
            cursor.execute(f'ALTER DATABASE "{connection.settings_dict["NAME"]}" SET synchronous_commit = off')
        connection.close()  # the next connection starts with the new default
    freeze_long_lived_objects()


@pytest.fixture(scope="session")
def _shared_worker_session(django_db_setup) -> Iterator[SharedWorker]:
    """Stops the shared worker before the test database is dropped."""
    yield SHARED_WORKER
    SHARED_WORKER.stop()


@pytest.fixture(scope="module")
def celery_worker_process(_shared_worker_session) -> WorkerProcess:
    """A real worker consuming this test run's private default queue (see platform_api.pytest_env).

    The test process's shared worker (``SharedWorker``): tests that only need a running worker share it.
    """
    return _shared_worker_session.get()


# Tables a committed test leaves as they were: the catalog, the shared releases that were there
# before it, and what Django's own machinery needs. Everything else is emptied after the test.
KEEP_TABLES = {
    "django_migrations", "django_content_type", "auth_permission",
    "moderation_data_dataset", "moderation_data_release", "moderation_data_enforcementsummarycell",
    "moderation_data_aggregationtable", "moderation_data_publicsummary", "moderation_data_publicsummarycell",
}  # fmt: skip
# What a release owns besides its rows table (deleted with it, triggers off): table, foreign key column.
RELEASE_DEPENDENTS = [
    ("moderation_data_enforcementsummarycell", "release_id"),
    ("moderation_data_publicsummarycell", "summary_id IN (SELECT id FROM moderation_data_publicsummary WHERE"
     " release_id = ANY(%s) OR source_id = ANY(%s))"),
    ("moderation_data_publicsummary", "release_id = ANY(%s) OR source_id = ANY(%s)"),
    ("moderation_data_aggregationtable", "release_id"),
    ("moderation_data_aggregateanswer", "release_id"),
    ("moderation_data_projectbudget", "release_id"),
    ("moderation_data_releasebudget", "release_id"),
    ("moderation_data_accountprecision", "release_id"),
]  # fmt: skip


# Releases held by module-scoped fixtures that are still running (shared_release, demo_release).
ACTIVE_MODULE_RELEASES: set[int] = set()


def purge_stale_releases(keep: set[int] = frozenset()) -> None:
    """Before a module builds its release: delete any release a previous module on this worker left.

    Releases of a dataset cover disjoint periods (docs/privacy.md), so a leftover published release
    of the same demo period would make the module's build "nothing to release". ``keep``: releases
    the module is about to use again (the kept shared release, ``tests.api_fixtures.KeptRelease``).
    """
    from moderation_data.releases.models import Release

    _purge(Release.objects.exclude(pk__in=ACTIVE_MODULE_RELEASES | set(keep)))


def purge_releases_after(release_id: int) -> None:
    """Delete releases newer than ``release_id`` (published ones are guarded by triggers) and their tables."""
    from moderation_data.releases.models import Release

    _purge(Release.objects.filter(pk__gt=release_id))


def _purge(releases) -> None:
    from moderation_data.aggregates.table import aggregation_table_name

    doomed = list(releases.values_list("pk", "rows_table"))
    if not doomed:
        return
    ids = [pk for pk, _ in doomed]
    guarded = ["moderation_data_release", *(table for table, _ in RELEASE_DEPENDENTS)]
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        # Django's foreign keys are deferred; checked now, they leave no pending events for the ALTERs.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table in guarded:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        for table, condition in RELEASE_DEPENDENTS:
            where = condition if "%s" in condition else f"{condition} = ANY(%s)"
            cursor.execute(f"DELETE FROM {table} WHERE {where}", [ids] * where.count("%s"))
        cursor.execute("UPDATE moderation_data_release SET companion_id = NULL WHERE id = ANY(%s)", [ids])
        cursor.execute("DELETE FROM moderation_data_release WHERE id = ANY(%s)", [ids])
        for table in guarded:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        for pk, rows_table in doomed:
            if rows_table:
                cursor.execute(f"DROP TABLE IF EXISTS {rows_table}")
            cursor.execute(f"DROP TABLE IF EXISTS {aggregation_table_name(pk)}")
        cursor.execute("COMMIT")


def _empty_tables_but_shared(attempts: int = 5) -> None:
    """Empty every table but the shared ones: the few a test wrote to are found and their rows deleted.

    A TRUNCATE of all 44 tables costs 0.1-0.2 s per transactional test, whatever they hold; finding
    the non-empty ones and deleting their rows costs a few milliseconds. Triggers are off for the
    delete (``session_replication_role``), as TRUNCATE bypasses the append-only row triggers: no
    table kept here references an emptied one, so no foreign key can be left dangling.
    """
    from django.db import OperationalError

    tables = [t for t in connection.introspection.django_table_names(only_existing=True) if t not in KEEP_TABLES]
    probe = " UNION ALL ".join(f"SELECT '{table}' WHERE EXISTS (SELECT 1 FROM {table})" for table in tables)
    for attempt in range(attempts):
        try:
            with connection.cursor() as cursor:
                cursor.execute(probe)
                written = [row[0] for row in cursor.fetchall()]
                if written:
                    cursor.execute("BEGIN")
                    cursor.execute("SET LOCAL session_replication_role = replica")
                    for table in written:
                        cursor.execute(f"DELETE FROM {table}")
                    cursor.execute("COMMIT")
            return
        except OperationalError:
            with connection.cursor() as cursor:
                cursor.execute("ROLLBACK")
            # A worker still finishing the test's last task can hold row locks in another order:
            # PostgreSQL breaks the deadlock by cancelling us; the worker's step is short, so retry.
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def release_watermark() -> int:
    from moderation_data.releases.models import Release

    return Release.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _fixture_setup(cls) -> None:
    cls._release_watermark = release_watermark()
    _transaction_test_case_setup(cls)


def _fixture_teardown(self) -> None:
    """Instead of flushing every table: empty all but the shared ones, and delete the releases the test made.

    Transactional tests (``django_db(transaction=True)``: real commits, seen by Celery workers and
    gunicorn) would otherwise destroy the session's shared release (``shared_release``) and the
    catalog the migrations made, and every later test would rebuild them.
    """
    connection.close_if_unusable_or_obsolete()
    _empty_tables_but_shared()
    purge_releases_after(self._release_watermark)


# TestCase (per-test transaction, rolled back) overrides both hooks; only transactional tests change.
_transaction_test_case_setup = TransactionTestCase.__dict__["_fixture_setup"].__func__
TransactionTestCase._fixture_setup = classmethod(_fixture_setup)
TransactionTestCase._fixture_teardown = _fixture_teardown


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing_outside_tests():
    """What module and session fixtures hash (factory passwords, client secrets) uses 1,000 rounds of
    PBKDF2, not 1,000,000 (0.4 s a hash here): still PBKDF2, so gunicorn can verify those secrets."""
    from django.test.utils import override_settings

    from tests.hashers import FAST_PBKDF2

    with override_settings(PASSWORD_HASHERS=[FAST_PBKDF2, *settings.PASSWORD_HASHERS]):
        yield


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 with a million rounds is right for production and needlessly slow for tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


_STARTED_MODULES: set[str] = set()


@pytest.fixture(scope="module", autouse=True)
def _module_starts_from_an_empty_database(request, django_db_setup, django_db_blocker):
    """Each module starts without the rows and releases an earlier module on this worker may have left.

    Modules run in whatever order and on whichever test process xdist gives them, so nothing may carry
    over: committed rows (a research client a module fixture made) would make another module's
    ``objects.get()`` find two, and a leftover published release of the demo period would make its
    build "nothing to release" (release periods are disjoint, docs/privacy.md).
    """
    with django_db_blocker.unblock():
        # A session whose tests use no database gets none (pytest-django sets up only what tests ask for):
        # the connection then names the real database, which is never touched.
        if connection.settings_dict["NAME"].startswith("test_"):
            from tests.api_fixtures import KEPT_RELEASE

            purge_stale_releases(keep=KEPT_RELEASE.ids if _uses_shared_release(request.node) else set())
            # Once per test file: generated tests (schemathesis') can make this fixture run again in the
            # middle of their file, after the file's own committed fixtures were made.
            if request.module.__name__ not in _STARTED_MODULES:
                _STARTED_MODULES.add(request.module.__name__)
                _empty_tables_but_shared()
