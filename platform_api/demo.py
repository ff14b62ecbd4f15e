"""`make demo`: the whole platform on one machine, stopped cleanly by Ctrl-C.

Starts the embedded PostgreSQL/Redis when DATABASE_URL/REDIS_URL are unset, migrates,
seeds demo data, then runs gunicorn, a Celery worker and Celery beat as children in
their own process groups. SIGINT/SIGTERM stops the children (TERM, then KILL after a
grace period), then the embedded servers this process started: no orphans.

The banner (URLs, admin login, the demo client) is printed last, once the web server
answers, the worker answers a ping and beat has started, and written to ``.local/demo.txt``
(mode 0600). The children log at WARNING unless ``LOG_LEVEL`` says otherwise, so the
banner is not buried under request logs. The demo client keeps its secret across runs
(``seed_demo`` saves it under ``.local/``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from platform_api import embedded, local_secrets

BASE_DIR = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


BANNER_FILE = "demo.txt"
WORKER_NAME = "demo-worker"


def _env() -> tuple[dict[str, str], list[str]]:
    env, started = embedded.supervised_environment()
    # The demo is a development server: plain HTTP on localhost.
    env.setdefault("DJANGO_DEBUG", "true")
    env.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
    env.setdefault("PYTHONUNBUFFERED", "1")
    # Quiet: no line per request or per task after the banner (LOG_LEVEL=INFO make demo shows them).
    env.setdefault("LOG_LEVEL", "WARNING")
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{env.get('PORT', '8000')}")
    # Every child uses the checkout's random pseudonym key (.local/pseudonym.key, docs/pseudonyms.md).
    local_secrets.use_local_pseudonym_key_if_unset(embedded.LOCAL_DIR, env)
    return env, started


def banner(seed: dict, base: str, *, healthy: bool = True) -> str:
    """What the demo prints last (and keeps in .local/demo.txt): where everything is and how to log in."""
    lines = [
        "",
        "=" * 72,
        f"  Platform running{'' if healthy else ' (health check failing: see the log above)'}",
        f"  API root     {base}/api/v1/",
        f"  API docs     {base}/api/docs   (ReDoc {base}/api/redoc)",
        f"  Guides       {base}/portal/docs/",
        f"  Admin        {base}/admin/   user {seed['admin_username']}  password {seed['admin_password']}",
        f"  Portal       {base}/portal/",
    ]
    if seed.get("researcher_email"):
        lines.append(
            f"               researcher {seed['researcher_email']}  password {seed.get('researcher_password')}"
        )
    if seed.get("client_id"):
        lines += [
            f"  Demo client  client_id={seed['client_id']}",
            f"               client_secret={seed['client_secret']}   (the same every run; .local/demo-client.json)",
            f'  Token        curl -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials {base}/oauth/token',
        ]
    lines += [
        f"  This banner is saved in {embedded.LOCAL_DIR / BANNER_FILE}",
        "  Ctrl-C stops web, worker, beat and the embedded servers.",
        "=" * 72,
        "",
    ]
    return "\n".join(lines)


def write_banner(text: str) -> Path:
    """Keep the banner under .local/ (it holds the admin password and client secret: mode 0600)."""
    path = embedded.LOCAL_DIR / BANNER_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text.lstrip("\n"))
    return path


def _wait_worker(env: dict[str, str], proc: subprocess.Popen, timeout: float = 60.0) -> bool:
    """Until the demo's Celery worker answers a ping (it is then consuming its queue)."""
    os.environ.update(env)  # the Celery app reads the same settings as the children
    from platform_api.celery import app

    destination = [f"{WORKER_NAME}@{os.uname().nodename}"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if app.control.ping(destination=destination, timeout=0.5):
                return True
        except Exception:  # the broker not answering yet counts as "not ready"
            time.sleep(0.3)
    return False


def _wait_beat(schedule: Path, since: float, proc: subprocess.Popen, timeout: float = 30.0) -> bool:
    """Until beat has opened its schedule file (it then sends the periodic tasks)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.stat().st_mtime >= since - 1 for p in schedule.parent.glob(schedule.name + "*")):
            return True
        time.sleep(0.2)
    return proc.poll() is None


def _manage(env: dict[str, str], *args: str, capture: bool = False) -> str:
    result = subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *args],
        env=env,
        check=True,
        cwd=BASE_DIR,
        stdout=subprocess.PIPE if capture else None,
        text=True,
    )
    return result.stdout or ""


def _spawn(env: dict[str, str], name: str, cmd: list[str]) -> subprocess.Popen:
    # Own session/process group, so we decide when it stops and can take down its children.
    proc = subprocess.Popen(cmd, env=env, cwd=BASE_DIR, start_new_session=True)
    proc.demo_name = name  # type: ignore[attr-defined]
    return proc


def _stop_children(children: list[subprocess.Popen], grace: float = 15.0) -> None:
    for proc in children:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        # Whatever is left in the group (a stuck pool child) goes now.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _wait_healthy(port: str, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def main() -> int:
    stop_requested = False

    def _on_signal(signum: int, frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)

    env, started = _env()
    port = env.get("PORT", "8000")
    level = env["LOG_LEVEL"]
    schedule = embedded.LOCAL_DIR / "celerybeat-schedule"
    children: list[subprocess.Popen] = []
    try:
        _manage(env, "migrate", "--noinput", "-v", "0")
        seed = json.loads(_manage(env, "seed_demo", "--json", "--rows", env.get("DEMO_ROWS", "10000"), capture=True))
        if stop_requested:
            return 130
        children = [
            _spawn(
                env,
                "web",
                [
                    str(BIN / "gunicorn"),
                    "platform_api.wsgi",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    env.get("WEB_CONCURRENCY", "2"),
                    "--access-logfile",
                    "-" if env.get("GUNICORN_ACCESS_LOG") else "/dev/null",
                    "--graceful-timeout",
                    "10",
                ],
            ),
            _spawn(
                env,
                "worker",
                [str(BIN / "celery"), "-A", "platform_api", "worker", "-l", level, "--concurrency", "2",
                 "-n", f"{WORKER_NAME}@%h", "--without-gossip", "--without-mingle"],
            ),
            _spawn(
                env,
                "beat",
                [str(BIN / "celery"), "-A", "platform_api", "beat", "-l", level, "--schedule", str(schedule)],
            ),
        ]  # fmt: skip
        spawned = time.time()
        healthy = _wait_healthy(port)
        # Last of all, once every server is up: nothing they print at start-up comes after the banner.
        healthy = _wait_worker(env, children[1]) and _wait_beat(schedule, spawned, children[2]) and healthy
        text = banner(seed, f"http://127.0.0.1:{port}", healthy=healthy)
        write_banner(text)
        print(text, flush=True)
        while not stop_requested:
            for proc in children:
                if proc.poll() is not None:
                    print(f"demo: {proc.demo_name} exited with {proc.returncode}; stopping", file=sys.stderr)  # type: ignore[attr-defined]
                    stop_requested = True
            time.sleep(0.5)
        return 0
    except subprocess.CalledProcessError as exc:
        print(f"demo: set-up step failed: {exc}", file=sys.stderr)
        return 1
    finally:
        print("demo: stopping…", file=sys.stderr, flush=True)
        _stop_children(children)
        embedded.stop(started)
        print("demo: stopped", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
