"""The Python client's cost over a raw HTTP walk, and its DataFrame's memory, in one run (`make bench`).

1. The release of the records benchmark (BENCH_ROWS rows, built once), served by gunicorn.
2. Baseline: the raw walk of `benchmarks/records_api.py` (httpx + orjson, page_size=1000, rows discarded).
3. `Client.records()` of the whole release: every page, typed into one DataFrame.
4. The same call under tracemalloc: its allocation peak against what the final DataFrame holds.
Targets: the client takes <= 1.15x the raw walk's time; its peak <= 2x the final DataFrame's memory.
The client overlaps its work with the network (it asks for the next page before converting one) and
sends plain-AND queries in the GET form, so it can be faster than the raw walk, which does neither.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import sys
import time
import tracemalloc

import httpx

from benchmarks.common import (
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
from benchmarks.records_api import walk_api

DATASET = "moderation-decisions"


def client_walk(base: str, credentials: dict, version: str):
    from modresearch import Client

    with Client(base, credentials["client_id"], credentials["client_secret"], progress=False) as client:
        client.dataset(DATASET)  # the codebook, fetched once like the raw walk's token: outside the timing
        started = time.perf_counter()
        frame = client.records(DATASET, release=version)
        return frame, time.perf_counter() - started


def client_memory(base: str, credentials: dict, version: str) -> tuple[int, int, int]:
    """(peak bytes allocated during records(), bytes the result still holds, its deep memory_usage)."""
    from modresearch import Client

    with Client(base, credentials["client_id"], credentials["client_secret"], progress=False) as client:
        client.dataset(DATASET)
        client.release(DATASET, version)
        gc.collect()
        tracemalloc.start()
        frame = client.records(DATASET, release=version)
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return peak, current, int(frame.memory_usage(deep=True).sum())


def main() -> int:
    rows = int(os.environ.get("BENCH_ROWS", "1000000"))
    env = bench_env(bench_database_url())
    print(f"client benchmark: preparing a {rows:,}-row release…", flush=True)
    release = ensure_release(env, rows)
    version = release["version"]
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
        # Alternated, best of two each: the machine is shared, and load drifts during a run.
        raw_times, client_times = [], []
        for round_ in (1, 2):
            print(f"raw HTTP walk ({round_})…", flush=True)
            raw_rows, seconds, _ = walk_api(base, token, version)
            raw_times.append(seconds)
            print(f"client records() ({round_})…", flush=True)
            frame, seconds = client_walk(base, credentials, version)
            client_times.append(seconds)
            client_rows = len(frame)
            del frame
            gc.collect()
        raw_seconds, client_seconds = min(raw_times), min(client_times)
        print("client records() under tracemalloc…", flush=True)
        peak, held, deep = client_memory(base, credentials, version)

    ratio = client_seconds / raw_seconds
    memory_ratio = peak / held
    checks = [
        ("client time <= 1.15x the raw HTTP walk", ratio <= 1.15, f"{ratio:.2f}x"),
        ("records() peak <= 2x the final DataFrame's memory", memory_ratio <= 2.0, f"{memory_ratio:.2f}x"),
    ]
    mib = 1 << 20
    table_md = "\n".join(
        [
            "| measure | value |",
            "| --- | --- |",
            f"| release rows | {release['row_count']:,} |",
            f"| raw HTTP walk, page_size=1000 (httpx + orjson, rows discarded) | {raw_rows / raw_seconds:,.0f} rows/s "
            f"({raw_seconds:.1f} s; best of {len(raw_times)}, alternated) |",
            f"| `Client.records()` → typed DataFrame | {client_rows / client_seconds:,.0f} rows/s "
            f"({client_seconds:.1f} s; best of {len(client_times)}) |",
            f"| final DataFrame: held (tracemalloc) / `memory_usage(deep=True)` | {held / mib:,.0f} MiB / "
            f"{deep / mib:,.0f} MiB |",
            f"| allocation peak during `records()` (tracemalloc) | {peak / mib:,.0f} MiB |",
        ]
        + [f"| target: {name} | {'PASS' if ok else 'FAIL'} ({value}) |" for name, ok, value in checks]
    )
    load = f"load average {os.getloadavg()[0]:.1f} at the end (shared machine)"
    body = f"## Python client (`benchmarks/client.py`)\n\n{dt.date.today()} on {machine()}; {load}.\n\n{table_md}\n"
    write_results("client", body)
    print(body)
    assert raw_rows == client_rows == release["row_count"], (raw_rows, client_rows, release["row_count"])
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
