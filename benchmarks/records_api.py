"""Records API throughput vs its ceiling and its peer, in one run (`make bench`).

1. A 1,000,000-row release (BENCH_ROWS), built once in the benchmark database.
2. The API through gunicorn on 127.0.0.1: every page with page_size=1000 → rows/s.
3. Ceiling: the same rows and columns fetched straight from PostgreSQL with psycopg → rows/s.
4. Peer: Datasette serving the same rows from SQLite, `_size=1000` keyset pages → rows/s.
5. Latency of the first page vs a page at 90% depth (median of repeated fetches).
Targets: API >= Datasette; deep page <= 1.5x first; API >= 25% of the ceiling.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import psycopg

from benchmarks.common import (
    BASE_DIR,
    BIN,
    bench_database_url,
    bench_env,
    ensure_release,
    free_port,
    grant_client,
    machine,
    process,
    wait_http,
    write_results,
)

PAGE = 1000
WORK = BASE_DIR / ".local" / "bench"


def columns_of(env: dict[str, str], version: str) -> list[tuple[str, str]]:
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        codebook = conn.execute(
            "SELECT codebook FROM moderation_data_release r JOIN moderation_data_dataset d ON d.id = r.dataset_id "
            "WHERE d.slug = 'moderation-decisions' AND r.version = %s",
            [version],
        ).fetchone()[0]
    return [(field["name"], field["column"]) for field in codebook]


def walk_api(base: str, token: str, version: str) -> tuple[int, float, list[str | None]]:
    url = f"{base}/api/v1/datasets/moderation-decisions/releases/{version}/records"
    cursors: list[str | None] = [None]
    total = 0
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
        started = time.perf_counter()
        cursor = None
        while True:
            params = {"page_size": PAGE, **({"cursor": cursor} if cursor else {})}
            response = client.get(url, params=params)
            response.raise_for_status()
            body = orjson.loads(response.content)
            total += len(body["data"])
            cursor = body["next_cursor"]
            if not body["has_more"]:
                break
            cursors.append(cursor)
        elapsed = time.perf_counter() - started
    return total, elapsed, cursors


def page_latency(base: str, token: str, version: str, cursor: str | None, repeat: int = 15) -> float:
    url = f"{base}/api/v1/datasets/moderation-decisions/releases/{version}/records"
    samples = []
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        for _ in range(repeat):
            params = {"page_size": PAGE, **({"cursor": cursor} if cursor else {})}
            started = time.perf_counter()
            response = client.get(url, params=params)
            response.raise_for_status()
            orjson.loads(response.content)
            samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def raw_fetch(env: dict[str, str], table: str, columns: list[tuple[str, str]]) -> tuple[int, float]:
    select = ", ".join(column for _, column in columns)
    total = 0
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        started = time.perf_counter()
        with conn.cursor(name="bench") as cursor:
            cursor.itersize = 10_000
            cursor.execute(f"SELECT row_id, {select} FROM {table} ORDER BY row_id")
            while rows := cursor.fetchmany(10_000):
                total += len(rows)
        elapsed = time.perf_counter() - started
    return total, elapsed


def sqlite_copy(env: dict[str, str], table: str, columns: list[tuple[str, str]], version: str) -> Path:
    """The same rows in SQLite, as a Datasette publisher would have them (lists as JSON)."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"release_{version.replace('.', '_')}.db"  # Datasette names databases by file stem
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    lite = sqlite3.connect(tmp)
    names = [name for name, _ in columns]
    lite.execute(f"CREATE TABLE records ({', '.join(names)})")
    select = ", ".join(column for _, column in columns)
    with psycopg.connect(env["DATABASE_URL"]) as conn, conn.cursor(name="copy") as cursor:
        cursor.execute(f"SELECT {select} FROM {table} ORDER BY row_id")
        placeholders = ", ".join("?" for _ in names)
        while rows := cursor.fetchmany(20_000):
            lite.executemany(
                f"INSERT INTO records VALUES ({placeholders})",
                [
                    tuple(
                        json.dumps(v) if isinstance(v, list) else v.isoformat() if isinstance(v, dt.date) else v
                        for v in row
                    )
                    for row in rows
                ],
            )
    lite.commit()
    lite.close()
    tmp.rename(path)
    return path


def datasette_bin() -> Path:
    venv = WORK / "datasette-venv"
    exe = venv / "bin" / "datasette"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "datasette>=0.65,<0.66"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    return exe


def walk_datasette(db: Path) -> tuple[int, float]:
    port = free_port()
    cmd = [
        str(datasette_bin()), "serve", "--immutable", str(db), "--host", "127.0.0.1", "--port", str(port),
        "--setting", "max_returned_rows", str(PAGE), "--setting", "default_page_size", str(PAGE),
        "--setting", "sql_time_limit_ms", "60000", "--setting", "num_sql_threads", "3",
    ]  # fmt: skip
    with process(cmd, dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/-/versions.json")
        url = f"{base}/{db.stem}/records.json"
        total = 0
        with httpx.Client(timeout=120) as client:
            started = time.perf_counter()
            params: dict = {"_size": PAGE, "_shape": "objects"}
            while True:
                response = client.get(url, params=params)
                response.raise_for_status()
                body = orjson.loads(response.content)
                total += len(body["rows"])
                if not body.get("next"):
                    break
                params = {"_size": PAGE, "_shape": "objects", "_next": body["next"]}
            elapsed = time.perf_counter() - started
    return total, elapsed


def main() -> int:
    rows = int(os.environ.get("BENCH_ROWS", "1000000"))
    env = bench_env(bench_database_url())
    print(f"records benchmark: preparing a {rows:,}-row release…", flush=True)
    release = ensure_release(env, rows)
    version, table = release["version"], release["table"]
    columns = columns_of(env, version)
    credentials = grant_client(env)
    port = free_port()
    gunicorn = [
        str(BIN / "gunicorn"), "platform_api.wsgi", "--bind", f"127.0.0.1:{port}",
        "--workers", os.environ.get("BENCH_WEB_WORKERS", "2"), "--access-logfile", "/dev/null", "--timeout", "120",
    ]  # fmt: skip
    with process(gunicorn, env):
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz")
        token = httpx.post(
            f"{base}/oauth/token/",
            data={"grant_type": "client_credentials"},
            auth=(credentials["client_id"], credentials["client_secret"]),
        ).json()["access_token"]
        print("walking the API…", flush=True)
        api_rows, api_seconds, cursors = walk_api(base, token, version)
        first = page_latency(base, token, version, None)
        deep_cursor = cursors[int(len(cursors) * 0.9)]
        deep = page_latency(base, token, version, deep_cursor)
    print("raw psycopg fetch…", flush=True)
    raw_rows, raw_seconds = raw_fetch(env, table, columns)
    print("Datasette…", flush=True)
    db = sqlite_copy(env, table, columns, version)
    ds_rows, ds_seconds = walk_datasette(db)

    api_rate, raw_rate, ds_rate = api_rows / api_seconds, raw_rows / raw_seconds, ds_rows / ds_seconds
    checks = [
        ("API rows/s >= Datasette rows/s", api_rate >= ds_rate, f"{api_rate / ds_rate:.2f}x"),
        ("deep page latency <= 1.5x first page", deep <= 1.5 * first, f"{deep / first:.2f}x"),
        ("API >= 25% of the raw psycopg ceiling", api_rate >= 0.25 * raw_rate, f"{api_rate / raw_rate:.0%}"),
    ]
    table_md = "\n".join(
        [
            "| measure | value |",
            "| --- | --- |",
            f"| release rows | {release['row_count']:,} (built in {float(release.get('build_seconds') or 0):.0f} s) |",
            f"| API, page_size={PAGE}, all pages (gunicorn) | {api_rate:,.0f} rows/s ({api_seconds:.1f} s) |",
            f"| raw psycopg fetch (ceiling) | {raw_rate:,.0f} rows/s ({raw_seconds:.1f} s) |",
            f"| Datasette 0.65, SQLite, _size={PAGE} | {ds_rate:,.0f} rows/s ({ds_seconds:.1f} s) |",
            f"| first page latency (median of 15) | {first * 1000:.1f} ms |",
            f"| page at 90% depth latency (median of 15) | {deep * 1000:.1f} ms |",
        ]
        + [f"| target: {name} | {'PASS' if ok else 'FAIL'} ({value}) |" for name, ok, value in checks]
    )
    body = f"## Records API (`benchmarks/records_api.py`)\n\n{dt.date.today()} on {machine()}.\n\n{table_md}\n"
    write_results("records_api", body)
    print(body)
    assert api_rows == raw_rows == ds_rows == release["row_count"], (api_rows, raw_rows, ds_rows)
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
