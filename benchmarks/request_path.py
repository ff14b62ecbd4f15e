"""Where a request's time goes: the phases of ``GET /me`` and of a 10-row records page, in process.

Runs Django in this process against the benchmark database (the same settings gunicorn gets) and
times each phase of the request path by wrapping the functions that do it: token and grant lookup
(authentication), the Lua rate limit (throttle), grant and scope checks (permissions), the release
lookup, the quota reservation, the page query (its transaction and statement timeout included),
the audit insert and its hash chain; "framework" is the rest (middleware, DRF, rendering). It also
counts SQL statements and Redis commands per request. Figures are medians over repeated requests.

    python -m benchmarks.request_path      # prints the table (used by benchmarks/speed.py)
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import statistics
import time
from collections import defaultdict

PHASES = [
    ("authentication", "researchers.authentication", "GrantTokenAuthentication", "authenticate"),
    ("rate limit (Lua)", "rest_framework.views", "APIView", "check_throttles"),
    ("grant and scope checks", "rest_framework.views", "APIView", "check_permissions"),
    ("dataset and release lookup", "moderation_data.query.api", None, "get_release_for_rows"),
    ("query validation", "moderation_data.query.records", None, "build_query"),
    ("quota reservation", "researchers.quotas", None, "reserve"),
    ("quota refund", "researchers.quotas", None, "refund"),
    ("page query (transaction, timeout, SQL)", "moderation_data.query.records", None, "fetch_page"),
    ("audit insert (hash chain)", "platform_api.dataapi", None, "record_access_event"),
]


def _install_timers(samples: dict[str, list[float]], current: dict[str, float]) -> None:
    import importlib

    for label, module_name, class_name, attr in PHASES:
        module = importlib.import_module(module_name)
        owner = getattr(module, class_name) if class_name else module
        original = getattr(owner, attr)

        def make(original, label):
            @functools.wraps(original)
            def timed(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    current[label] = current.get(label, 0.0) + time.perf_counter() - started

            return timed

        setattr(owner, attr, make(original, label))


def profile(repeat: int = 200) -> dict:
    """Phase medians (ms) for GET /me and a 10-row page; needs DATABASE_URL etc. of the benchmark."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_api.settings")
    django.setup()
    from django.db import connection
    from django.test import Client

    from benchmarks.common import grant_client

    # The caller's grant when it has one (a second grant_access would rotate its secret).
    given = os.environ.get("BENCH_CREDENTIALS")
    credentials = json.loads(given) if given else grant_client(dict(os.environ))
    http = Client(SERVER_NAME="localhost")
    token = http.post(
        "/oauth/token/",
        "grant_type=client_credentials",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION="Basic "
        + __import__("base64")
        .b64encode(f"{credentials['client_id']}:{credentials['client_secret']}".encode())
        .decode(),
    ).json()["access_token"]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    targets = {
        "GET /me": ("/api/v1/me", {}),
        "10-row page": ("/api/v1/datasets/moderation-decisions/releases/latest/records", {"page_size": 10}),
    }
    samples: dict[str, dict[str, list[float]]] = {name: defaultdict(list) for name in targets}
    current: dict[str, float] = {}
    _install_timers(samples, current)
    redis_commands = _count_redis()
    result: dict = {}
    for name, (path, params) in targets.items():
        for _ in range(20):  # warm: connections, caches, imports
            assert http.get(path, params, **headers).status_code == 200
        statements: list[str] = []

        def log(execute, sql, params, many, context, statements=statements):
            statements.append(" ".join(str(sql).split())[:140])
            return execute(sql, params, many, context)

        with connection.execute_wrapper(log):
            before = redis_commands["n"]
            http.get(path, params, **headers)
            redis_n = redis_commands["n"] - before
        for _ in range(repeat):
            current.clear()
            started = time.perf_counter()
            response = http.get(path, params, **headers)
            total = time.perf_counter() - started
            assert response.status_code == 200
            for label, seconds in current.items():
                samples[name][label].append(seconds)
            samples[name]["framework (middleware, DRF, rendering)"].append(total - sum(current.values()))
            samples[name]["total"].append(total)
        result[name] = {
            "phases_ms": {label: round(statistics.median(v) * 1000, 2) for label, v in samples[name].items()},
            "sql_statements": len(statements),
            "sql": statements,
            "redis_commands": redis_n,
        }
    return result


def _count_redis() -> dict[str, int]:
    """Counts Redis commands sent by this process (every client, the limiter's and the cache's)."""
    import redis

    counter = {"n": 0}
    original = redis.Redis.execute_command

    def counted(self, *args, **kwargs):
        counter["n"] += 1
        return original(self, *args, **kwargs)

    redis.Redis.execute_command = counted
    return counter


def markdown(result: dict) -> str:
    names = list(result)
    labels = list(dict.fromkeys(label for name in names for label in result[name]["phases_ms"]))
    labels = [label for label in labels if label != "total"] + ["total"]
    lines = ["| phase | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    for label in labels:
        cells = [f"{result[name]['phases_ms'].get(label, 0.0):.2f} ms" for name in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("| SQL statements | " + " | ".join(str(result[n]["sql_statements"]) for n in names) + " |")
    lines.append("| Redis commands | " + " | ".join(str(result[n]["redis_commands"]) for n in names) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        out = profile(int(os.environ.get("PROFILE_REPEAT", "200")))
        print(markdown(out))
        print(json.dumps({n: out[n]["sql"] for n in out}, indent=1))
