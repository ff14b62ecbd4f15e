"""Shared set-up for the benchmarks: a benchmark database with a large published release.

Runs against the server in DATABASE_URL (or the embedded one, via `make bench`), in a separate
database (``<name>_bench``) so the demo's data is untouched. The release is built once and
reused by later runs while the raw tier has the requested size.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

BASE_DIR = Path(__file__).resolve().parent.parent
PY = sys.executable
BIN = Path(PY).parent


def bench_database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        from platform_api import embedded

        url, _ = embedded.start_postgres()
    parts = urlsplit(url)
    name = parts.path.strip("/") or "platform"
    bench = f"{name}_bench"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [bench]).fetchone():
            conn.execute(f'CREATE DATABASE "{bench}"')
    return urlunsplit(parts._replace(path=f"/{bench}"))


def bench_pseudonym_key() -> str:
    """The benchmark database's pseudonym key: random, made once into ``.local/bench/pseudonym.key`` (0600).

    Production settings refuse weak or published keys (docs/pseudonyms.md), so it is random; it is
    kept because the benchmark database is: the project keys of its grants, wrapped by the first
    run, must unwrap in every later run (a fresh key per run made a second run fail with
    ``ProjectKeyUnavailable``).
    """
    from platform_api.local_secrets import local_pseudonym_key

    return local_pseudonym_key(BASE_DIR / ".local" / "bench")


def bench_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": env.get("DJANGO_SECRET_KEY") or "benchmark-only-secret-key-" + "b" * 40,
            "PSEUDONYM_KEY": env.get("PSEUDONYM_KEY") or bench_pseudonym_key(),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "LOG_LEVEL": "WARNING",
            "CELERY_DEFAULT_QUEUE": "bench",
            "PLATFORM_EMBEDDED_SUPERVISED": "1",
        }
    )
    if not env.get("REDIS_URL"):
        from platform_api import embedded

        env["REDIS_URL"], _ = embedded.start_redis()
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [PY, str(BASE_DIR / "manage.py"), *args], env=env, cwd=BASE_DIR, check=True, capture_output=True, text=True
    )
    return result.stdout


def ensure_release(env: dict[str, str], rows: int) -> dict:
    """A published moderation-decisions release built from exactly ``rows`` raw decisions."""
    manage(env, "migrate", "--noinput", "-v", "0")
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        raw = conn.execute("SELECT count(*) FROM moderation_data_decision").fetchone()[0]
        release = conn.execute(
            "SELECT r.version, r.row_count, r.rows_table, r.build_seconds FROM moderation_data_release r "
            "JOIN moderation_data_dataset d ON d.id = r.dataset_id "
            "WHERE d.slug = 'moderation-decisions' AND r.status = 'published' ORDER BY r.id DESC LIMIT 1"
        ).fetchone()
    timings: dict = {}
    if raw != rows:
        if raw:
            with psycopg.connect(env["DATABASE_URL"]) as conn:
                conn.execute("TRUNCATE moderation_data_decision CASCADE")
        started = time.perf_counter()
        manage(env, "generate_demo_data", "--rows", str(rows), "--seed", "7")
        timings["generate_seconds"] = round(time.perf_counter() - started, 1)
        release = None
    if release is None:
        started = time.perf_counter()
        manage(env, "build_release", "moderation-decisions")
        timings["build_seconds"] = round(time.perf_counter() - started, 1)
        with psycopg.connect(env["DATABASE_URL"]) as conn:
            release = conn.execute(
                "SELECT r.version, r.row_count, r.rows_table, r.build_seconds FROM moderation_data_release r "
                "JOIN moderation_data_dataset d ON d.id = r.dataset_id "
                "WHERE d.slug = 'moderation-decisions' AND r.status = 'published' ORDER BY r.id DESC LIMIT 1"
            ).fetchone()
    version, row_count, table, build_seconds = release
    return {"version": version, "row_count": row_count, "table": table, "build_seconds": build_seconds, **timings}


def discard_releases(database_url: str) -> int:
    """Benchmark database only: delete every release, what references it and its tables; the number deleted.

    Releases of a dataset cover disjoint periods (docs/privacy.md), so measuring the build again on
    the same raw rows needs the earlier benchmark release gone. Published releases are immutable
    by triggers; a superuser session with triggers off (``session_replication_role``) clears them.
    """
    with psycopg.connect(database_url) as conn:
        count = conn.execute("SELECT count(*) FROM moderation_data_release").fetchone()[0]
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND (tablename LIKE "
                "'moderation\\_data\\_release\\_rows\\_%' OR tablename LIKE 'moderation\\_data\\_aggregate\\_rows\\_%')"
            )
        ]
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute("TRUNCATE moderation_data_release CASCADE")
        for name in tables:
            conn.execute(f'DROP TABLE IF EXISTS "{name}"')
    return count


def grant_client(env: dict[str, str]) -> dict:
    out = manage(
        env,
        "grant_access",
        "--email", "bench@example.org",
        "--project", "Benchmark project",
        "--datasets", "moderation-decisions",
        "--modality", "records_and_exports",
        "--requests-per-minute", "1000000",
        "--requests-per-day", "10000000",
        "--records-per-day", "1000000000",
        "--concurrent-exports", "8",
        # Every export of the exports benchmark is the whole release: 6 of them at 10⁷ rows.
        "--export-rows-per-month", "1000000000",
        "--json",
    )  # fmt: skip
    credentials = json.loads(out)
    # A benchmark database from before its key was kept (bench_pseudonym_key) holds the project's key
    # wrapped by a lost one: shred it (audited) so the next request makes a fresh one.
    manage(env, "shell", "--no-imports", "-c", SHRED_UNREADABLE_PROJECT_KEY % credentials["client_id"])
    return credentials


SHRED_UNREADABLE_PROJECT_KEY = """
from moderation_data.releases.project_keys import ProjectKeyUnavailable, project_key, shred_project_keys
from researchers.models import AccessGrant
grant = AccessGrant.objects.select_related("application").get(oauth_client__client_id=%r)
try:
    project_key(grant)
except ProjectKeyUnavailable:
    shred_project_keys(grant.application, actor="benchmarks", reason="benchmark database: key wrapped by a lost key")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


@contextmanager
def process(cmd: list[str], env: dict[str, str], **kwargs):
    proc = subprocess.Popen(cmd, env=env, cwd=BASE_DIR, start_new_session=True, **kwargs)
    try:
        yield proc
    finally:
        import signal

        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def write_results(section: str, body: str) -> None:
    """Replace (or add) one section of benchmarks/RESULTS.md.

    A run at another size than the default 1,000,000 rows (``BENCH_ROWS``) gets sections of its own,
    so a 10M run sits beside the 1M figures instead of replacing them.
    """
    rows = int(os.environ.get("BENCH_ROWS", "1000000"))
    if rows != 1_000_000:
        section = f"{section}-{rows}"
        heading, _, rest = body.strip().partition("\n")
        body = f"{heading} at {rows:,} rows\n{rest}"
    path = BASE_DIR / "benchmarks" / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n\nWritten by the benchmarks themselves.\n"
    marker_start, marker_end = f"<!-- {section} -->", f"<!-- /{section} -->"
    block = f"{marker_start}\n{body.strip()}\n{marker_end}"
    if marker_start in text:
        before, rest = text.split(marker_start, 1)
        after = rest.split(marker_end, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
