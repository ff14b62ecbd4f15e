"""Issue 14's table, every row measured beside its baseline in one run (`make bench`).

On the BENCH_ROWS release (1,000,000 by default) behind gunicorn with 2 workers:

1. Fixed cost of a request: p50 of ``GET /me`` and of a 10-row page (target <= 5 ms), beside
   ``GET /healthz`` (the framework's own floor) in the same run; and the phase breakdown of the
   request path (benchmarks/request_path.py).
2. A 1000-row page (p50, first page) vs PostgreSQL's own ``json_agg`` of the same rows (target <= 1.3x).
3. Bytes per row on the wire: objects (baseline), columns, columns with zstd and gzip, Arrow
   (targets: <= 400 uncompressed, <= 100 compressed).
4. A records walk (BENCH_WALK_ROWS rows, page_size=1000; JSON and Arrow) vs a raw psycopg fetch of
   the same rows (target >= 60%).
5. 8 concurrent walkers vs 1 (rows/s; target >= 1.8x on 2 cores).
6. ``count`` of a broad OR query (~95% of the rows): cold (makes the count cube) and warm, beside a
   plain ``count(*)`` scan in psycopg (target <= 150 ms).
Exports (rows 7 and 8 of the table) are measured by benchmarks/exports.py in the same `make bench`.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import statistics
import subprocess
import sys
import threading
import time

import httpx
import orjson
import psycopg
from pyarrow import ipc as pa_ipc

from benchmarks.common import (
    BASE_DIR,
    BIN,
    PY,
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

ARROW = "application/vnd.apache.arrow.stream"
BROAD_OR = {
    "or": [
        {"operation": "NE", "field_name": "policy", "field_values": ["violent_extremism"]},
        {"operation": "EQ", "field_name": "appealed", "field_values": [True]},
    ]
}


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def timed_gets(client: httpx.Client, url: str, params: dict | None = None, repeat: int = 200, **kw) -> list[float]:
    samples = []
    for _ in range(20):
        client.get(url, params=params, **kw).raise_for_status()
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, params=params, **kw)
        response.raise_for_status()
        _ = response.content
        samples.append(time.perf_counter() - started)
    return samples


def json_agg_seconds(env: dict, table: str, columns: list[str], repeat: int = 15) -> float:
    """PostgreSQL's own rendering of the first 1000 rows as JSON (what the page's query does at best)."""
    select = ", ".join(columns)
    sql = f"SELECT json_agg(r)::text FROM (SELECT {select} FROM {table} ORDER BY row_id LIMIT 1000) r"
    samples = []
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        for _ in range(repeat + 3):
            started = time.perf_counter()
            conn.execute(sql).fetchone()
            samples.append(time.perf_counter() - started)
    return p50(samples[3:])


def walk(base: str, token: str, version: str, rows: int, *, arrow: bool = False, encoding: str = "identity") -> float:
    """Seconds to walk the first ``rows`` rows, page_size=1000 (the body is decoded, as a client must)."""
    url = f"{base}/api/v1/datasets/moderation-decisions/releases/{version}/records"
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": encoding}
    if arrow:
        headers["Accept"] = ARROW
    import pyarrow as pa

    done, cursor = 0, None
    with httpx.Client(headers=headers, timeout=120) as client:
        started = time.perf_counter()
        while done < rows:
            response = client.get(url, params={"page_size": 1000, **({"cursor": cursor} if cursor else {})})
            response.raise_for_status()
            if arrow:
                done += pa.ipc.open_stream(response.content).read_all().num_rows
                cursor = response.headers["X-Next-Cursor"] or None
            else:
                body = orjson.loads(response.content)
                done += len(body["data"])
                cursor = body["next_cursor"]
            if cursor is None:
                break
        return time.perf_counter() - started


def raw_fetch_seconds(env: dict, table: str, columns: list[str], rows: int) -> float:
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        started = time.perf_counter()
        with conn.cursor(name="speed") as cursor:
            cursor.itersize = 10_000
            cursor.execute(f"SELECT row_id, {', '.join(columns)} FROM {table} ORDER BY row_id LIMIT %s", [rows])
            while cursor.fetchmany(10_000):
                pass
        return time.perf_counter() - started


def concurrent_rate(base: str, token: str, version: str, walkers: int, rows_each: int) -> float:
    seconds: list[float] = []

    def run() -> None:
        seconds.append(walk(base, token, version, rows_each))

    threads = [threading.Thread(target=run) for _ in range(walkers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return walkers * rows_each / (time.perf_counter() - started)


def count_ms(client: httpx.Client, base: str, version: str, repeat: int = 7) -> tuple[float, float, int]:
    url = f"{base}/api/v1/datasets/moderation-decisions/releases/{version}/count"
    started = time.perf_counter()
    first = client.post(url, json={"query": BROAD_OR})
    first.raise_for_status()
    cold = time.perf_counter() - started
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        client.post(url, json={"query": BROAD_OR}).raise_for_status()
        samples.append(time.perf_counter() - started)
    return cold * 1000, p50(samples) * 1000, first.json()["count"]


def scan_count_ms(env: dict, table: str, repeat: int = 5) -> float:
    sql = f"SELECT count(*) FROM {table} WHERE (policy <> 'violent_extremism' OR appealed)"
    samples = []
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        for _ in range(repeat):
            started = time.perf_counter()
            conn.execute(sql).fetchone()
            samples.append(time.perf_counter() - started)
    return p50(samples) * 1000


def main() -> int:
    rows = int(os.environ.get("BENCH_ROWS", "1000000"))
    walk_rows = min(rows, int(os.environ.get("BENCH_WALK_ROWS", "200000")))
    env = bench_env(bench_database_url())
    print(f"speed benchmark: preparing a {rows:,}-row release…", flush=True)
    release = ensure_release(env, rows)
    version, table = release["version"], release["table"]
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        codebook = conn.execute(
            "SELECT codebook FROM moderation_data_release WHERE rows_table = %s", [table]
        ).fetchone()[0]
    columns = [f["column"] for f in codebook]
    credentials = grant_client(env)
    load_before = os.getloadavg()

    print("request path profile (in process)…", flush=True)
    profile_run = subprocess.run(
        [PY, "-c", "import json; from benchmarks.request_path import profile; print(json.dumps(profile(200)))"],
        env={**env, "BENCH_CREDENTIALS": json.dumps(credentials)}, cwd=BASE_DIR, check=True, capture_output=True,
        text=True,
    )  # fmt: skip
    profile = json.loads(profile_run.stdout.strip().splitlines()[-1])

    port = free_port()
    gunicorn = [
        str(BIN / "gunicorn"), "platform_api.wsgi", "--bind", f"127.0.0.1:{port}",
        "--workers", os.environ.get("BENCH_WEB_WORKERS", "2"), "--access-logfile", "/dev/null", "--timeout", "120",
    ]  # fmt: skip
    figures: dict = {}
    with process(gunicorn, env):
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz")
        token = httpx.post(
            f"{base}/oauth/token/",
            data={"grant_type": "client_credentials"},
            auth=(credentials["client_id"], credentials["client_secret"]),
        ).json()["access_token"]
        records = f"{base}/api/v1/datasets/moderation-decisions/releases/{version}/records"
        with httpx.Client(headers={"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}) as client:
            print("fixed cost…", flush=True)
            figures["healthz"] = p50(timed_gets(client, f"{base}/healthz"))
            figures["me"] = p50(timed_gets(client, f"{base}/api/v1/me"))
            figures["page10"] = p50(timed_gets(client, records, {"page_size": 10}))
            print("1000-row page vs json_agg…", flush=True)
            figures["page1000"] = p50(timed_gets(client, records, {"page_size": 1000}, repeat=15))
            figures["json_agg"] = json_agg_seconds(env, table, columns)
            print("bytes per row…", flush=True)
            sizes = {}
            objects = client.get(records, params={"page_size": 1000}).content
            cols = client.get(records, params={"page_size": 1000, "format": "columns"}).content
            arrow = client.get(records, params={"page_size": 1000}, headers={"Accept": ARROW}).content
            sizes["objects (baseline)"] = len(objects)
            sizes["objects, gzip"] = len(gzip.compress(objects, 5))
            sizes["columns (format=columns)"] = len(cols)
            for encoding in ("gzip", "zstd"):
                response = client.get(
                    records, params={"page_size": 1000, "format": "columns"}, headers={"Accept-Encoding": encoding}
                )
                assert response.headers.get("content-encoding") == encoding
                sizes[f"columns, {encoding} (negotiated)"] = int(response.headers["content-length"])
            sizes["Arrow stream"] = len(arrow)
            response = client.get(
                records, params={"page_size": 1000}, headers={"Accept": ARROW, "Accept-Encoding": "zstd"}
            )
            sizes["Arrow stream, zstd (negotiated)"] = int(response.headers["content-length"])
            assert response.headers["content-encoding"] == "zstd"
            # httpx decodes zstd itself; the same rows (the page's cursor is sealed afresh each time, docs/query.md)
            assert pa_ipc.open_stream(response.content).read_all().equals(pa_ipc.open_stream(arrow).read_all())
            figures["bytes"] = {name: size / 1000 for name, size in sizes.items()}
            print("count of a broad OR…", flush=True)
            figures["count_cold"], figures["count_warm"], figures["count_rows"] = count_ms(client, base, version)
            figures["count_scan"] = scan_count_ms(env, table)
        print(f"walks of {walk_rows:,} rows…", flush=True)
        figures["walk_json"] = walk_rows / walk(base, token, version, walk_rows)
        figures["walk_arrow"] = walk_rows / walk(base, token, version, walk_rows, arrow=True)
        figures["raw"] = walk_rows / raw_fetch_seconds(env, table, columns, walk_rows)
        print("1 vs 8 concurrent walkers…", flush=True)
        each = max(1000, walk_rows // 8)
        figures["one"] = concurrent_rate(base, token, version, 1, each)
        figures["eight"] = concurrent_rate(base, token, version, 8, each)
    load_after = os.getloadavg()

    f = figures
    bytes_ = f["bytes"]
    compressed_best = min(v for k, v in bytes_.items() if "zstd" in k or "gzip (neg" in k)
    uncompressed_compact = bytes_["columns (format=columns)"]
    checks = [
        ("fixed cost GET /me p50 <= 5 ms", f["me"] * 1000 <= 5, f"{f['me'] * 1000:.1f} ms"),
        ("fixed cost 10-row page p50 <= 5 ms", f["page10"] * 1000 <= 5, f"{f['page10'] * 1000:.1f} ms"),
        ("1000-row page <= 1.3x json_agg", f["page1000"] <= 1.3 * f["json_agg"],
         f"{f['page1000'] / f['json_agg']:.2f}x"),
        ("bytes/row uncompressed (columns) <= 400", uncompressed_compact <= 400, f"{uncompressed_compact:.0f}"),
        ("bytes/row compressed <= 100", compressed_best <= 100, f"{compressed_best:.0f}"),
        ("records API (JSON) >= 60% of raw psycopg", f["walk_json"] >= 0.6 * f["raw"],
         f"{f['walk_json'] / f['raw']:.0%}"),
        ("records API (Arrow) >= 60% of raw psycopg", f["walk_arrow"] >= 0.6 * f["raw"],
         f"{f['walk_arrow'] / f['raw']:.0%}"),
        ("8 walkers >= 1.8x 1 walker", f["eight"] >= 1.8 * f["one"], f"{f['eight'] / f['one']:.2f}x"),
        ("count of a broad OR (warm) <= 150 ms", f["count_warm"] <= 150, f"{f['count_warm']:.0f} ms"),
    ]  # fmt: skip
    lines = [
        "| measure | measured | baseline in the same run |",
        "| --- | --- | --- |",
        f"| fixed cost: `GET /me` p50 | {f['me'] * 1000:.1f} ms | `GET /healthz` {f['healthz'] * 1000:.1f} ms "
        "(issue: 17.7 ms) |",
        f"| fixed cost: 10-row page p50 | {f['page10'] * 1000:.1f} ms | (issue: 20.6 ms) |",
        f"| 1000-row page p50 (JSON objects) | {f['page1000'] * 1000:.1f} ms | PostgreSQL `json_agg` of the same "
        f"rows {f['json_agg'] * 1000:.1f} ms ({f['page1000'] / f['json_agg']:.2f}x) |",
    ]
    for name, size in bytes_.items():
        lines.append(f"| bytes per row: {name} | {size:,.0f} | objects {bytes_['objects (baseline)']:,.0f} |")
    lines += [
        f"| walk of {walk_rows:,} rows, JSON pages | {f['walk_json']:,.0f} rows/s | raw psycopg fetch "
        f"{f['raw']:,.0f} rows/s ({f['walk_json'] / f['raw']:.0%}) |",
        f"| walk of {walk_rows:,} rows, Arrow pages | {f['walk_arrow']:,.0f} rows/s | raw psycopg fetch "
        f"({f['walk_arrow'] / f['raw']:.0%}) |",
        f"| 8 concurrent walkers | {f['eight']:,.0f} rows/s | 1 walker {f['one']:,.0f} rows/s "
        f"({f['eight'] / f['one']:.2f}x) |",
        f"| `count`, broad OR ({f['count_rows']:,} rows), warm p50 | {f['count_warm']:.0f} ms | `count(*)` scan in "
        f"psycopg {f['count_scan']:.0f} ms; first count (makes the cube) {f['count_cold']:.0f} ms |",
    ]
    lines += [f"| target: {name} | {'PASS' if ok else 'FAIL'} ({value}) | |" for name, ok, value in checks]
    from benchmarks.request_path import markdown

    body = (
        f"## Speed (issue 14, `benchmarks/speed.py`)\n\n{dt.date.today()} on {machine()}; "
        f"{release['row_count']:,} rows; "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after (shared machine). "
        "Exports (JSONL, Parquet vs the COPY ceiling, worker tree RSS) are in the Exports section.\n\n"
        + "\n".join(lines)
        + "\n\nWhere a request's time goes (in process, median of 200; benchmarks/request_path.py):\n\n"
        + markdown(profile)
        + "\n"
    )
    write_results("speed", body)
    print(body)
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
