"""Export throughput vs the COPY ceiling, worker memory, and scaling with workers, in one run (`make bench`).

1. A 1,000,000-row release (BENCH_ROWS), built once in the benchmark database.
2. Through the API (gunicorn) and a real Celery worker: CSV, JSONL and Parquet exports of every row,
   timed from the POST to ``ready`` → rows/s.
3. Ceiling (the baseline, measured in the same run): ``COPY (SELECT ...) TO STDOUT`` of the same
   rows and columns (pseudonyms included) with psycopg, written to /dev/null → rows/s; beside it,
   for reference, the COPY of the JSONL export's own statement (PostgreSQL renders the JSON).
4. Worker memory: sampled from /proc every 50 ms over the worker's process tree during each export:
   the peak RSS of the largest process (a pool child doing the export), the peak of the RSS summed
   over the tree (what issue 14's target names), and the peak PSS summed over the tree (shared
   pages counted once: the memory the tree really holds; a prefork child shares most of its pages
   with the main process, which an RSS sum counts once per process). The tree at rest, before its
   first export, is the baseline.
5. The CSV export with 1 worker process vs 2 (alternating, twice each, the best of each kept).
Targets: CSV >= 50% of the ceiling; Parquet >= 30%; peak RSS of a worker process < 300 MB;
2 worker processes faster than 1. Issue 14's rows: JSONL >= 90% of the ceiling; Parquet >= 90% of
the ceiling and the whole worker tree < 300 MB (peak RSS summed over the tree).
With a small BENCH_ROWS (e.g. 20000) the run checks the code path only: fixed costs (task
dispatch, polling, process start-up) dominate and the rates say nothing about the targets.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

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

WORK = BASE_DIR / ".local" / "bench"
RSS_TARGET_MB = 300

CEILING_SCRIPT = """
import json, os, time, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_api.settings")
django.setup()
from django.db import connection
from moderation_data.exports import writers as export_writers
from moderation_data.query import records
from moderation_data.catalog.models import Dataset
from moderation_data.releases.selectors import get_release
from researchers.models import AccessGrant
release = get_release(Dataset.objects.get(slug="moderation-decisions"), "latest")
query = records.build_query(release, body_query=None)
grant = AccessGrant.objects.get(oauth_client__client_id=os.environ["BENCH_CLIENT_ID"])
from moderation_data.releases import pseudonyms
project = pseudonyms.for_grant(grant, release)
sql, params = export_writers.chunk_sql(query, project=project, fmt=os.environ["BENCH_CEILING_FORMAT"],
                                       after_row_id=0, last_row_id=2**62)
raw = connection.get_new_connection(connection.get_connection_params())
with raw.cursor() as cursor:
    project.load(cursor)
rows = 0
started = time.perf_counter()
with open(os.devnull, "wb") as sink, raw.cursor() as cursor, cursor.copy(sql, params) as copy:
    for data in copy:
        sink.write(data)
        rows += 1
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - started}))
"""


def _mb(text: str, field: str) -> float:
    for line in text.splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


def tree_memory_mb(root: int) -> tuple[float, float, float]:
    """(largest process RSS, RSS summed over the process tree, PSS summed over the tree) in MB, from /proc."""
    pids, rss, pss = [root], [], []
    while pids:
        pid = pids.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        rss.append(_mb(status, "VmRSS:"))
        pss.append(_mb(rollup, "Pss:"))
        pids += [int(child) for child in children]
    return (max(rss) if rss else 0.0, sum(rss), sum(pss))


class RssSampler(threading.Thread):
    def __init__(self, root: int):
        super().__init__(daemon=True)
        self.root, self.halt = root, threading.Event()
        self.peak_process = self.peak_tree = self.peak_tree_pss = 0.0

    def run(self) -> None:
        while not self.halt.is_set():
            largest, total, pss = tree_memory_mb(self.root)
            self.peak_process, self.peak_tree = max(self.peak_process, largest), max(self.peak_tree, total)
            self.peak_tree_pss = max(self.peak_tree_pss, pss)
            time.sleep(0.05)

    def stop(self) -> RssSampler:
        self.halt.set()
        self.join()
        return self


def worker_cmd(concurrency: int) -> list[str]:
    return [PY, "-m", "celery", "-A", "platform_api", "worker", "-Q", "bench-exports", "-c", str(concurrency),
            "-P", "prefork", "-n", f"bench-exports-{concurrency}@%h", "-l", "WARNING",
            "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip


def wait_worker(env: dict[str, str], name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(
            [PY, "-m", "celery", "-A", "platform_api", "inspect", "ping", "-d", f"{name}@{os.uname().nodename}"],
            env=env, cwd=BASE_DIR, capture_output=True, text=True,
        )  # fmt: skip
        if out.returncode == 0 and "pong" in out.stdout:
            return
        time.sleep(0.5)
    raise RuntimeError(f"worker {name} did not start")


def run_export(client: httpx.Client, base: str, fmt: str, worker_pid: int) -> dict:
    sampler = RssSampler(worker_pid)
    sampler.start()
    started = time.perf_counter()
    response = client.post(f"{base}/api/v1/exports", json={"dataset": "moderation-decisions", "format": fmt})
    response.raise_for_status()
    export_id = response.json()["id"]
    while True:
        body = client.get(f"{base}/api/v1/exports/{export_id}").json()
        if body["status"] == "ready":
            break
        if body["status"] in ("failed", "cancelled", "expired"):
            raise RuntimeError(f"export {fmt} ended {body['status']}: {body.get('error')}")
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    sampler.stop()
    return {
        "id": export_id,
        "format": fmt,
        "rows": body["row_count"],
        "bytes": body["bytes"],
        "seconds": seconds,
        "rate": body["row_count"] / seconds,
        "peak_process_mb": sampler.peak_process,
        "peak_tree_mb": sampler.peak_tree,
        "peak_tree_pss_mb": sampler.peak_tree_pss,
    }


def main() -> int:
    rows = int(os.environ.get("BENCH_ROWS", "1000000"))
    env = bench_env(bench_database_url())
    storage = WORK / "exports"
    shutil.rmtree(storage, ignore_errors=True)
    env.update({"EXPORT_STORAGE_DIR": str(storage), "CELERY_DEFAULT_QUEUE": "bench-exports"})
    print(f"exports benchmark: preparing a {rows:,}-row release…", flush=True)
    release = ensure_release(env, rows)
    credentials = grant_client(env)
    load_before = os.getloadavg()

    ceilings = {}
    for fmt in ("csv", "jsonl"):
        print(f"COPY ceiling ({fmt})…", flush=True)
        ceilings[fmt] = json.loads(
            subprocess.run(
                [PY, "-c", CEILING_SCRIPT],
                env={**env, "BENCH_CLIENT_ID": credentials["client_id"], "BENCH_CEILING_FORMAT": fmt},
                cwd=BASE_DIR, check=True, capture_output=True, text=True,
            ).stdout.strip().splitlines()[-1]
        )  # fmt: skip
    ceiling, jsonl_copy = ceilings["csv"], ceilings["jsonl"]
    ceiling_rate = ceiling["rows"] / ceiling["seconds"]
    jsonl_copy_rate = jsonl_copy["rows"] / jsonl_copy["seconds"]

    port = free_port()
    gunicorn = [str(BIN / "gunicorn"), "platform_api.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1",
                "--access-logfile", "/dev/null", "--timeout", "120"]  # fmt: skip
    results: list[dict] = []
    at_rest: dict[int, tuple[float, float, float]] = {}
    with process(gunicorn, env):
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz")
        token = httpx.post(
            f"{base}/oauth/token/",
            data={"grant_type": "client_credentials"},
            auth=(credentials["client_id"], credentials["client_secret"]),
        ).json()["access_token"]
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
            # 1 vs 2 processes alternate (twice each, best kept): the machine may be shared.
            rounds = ((1, ["csv"]), (2, ["csv", "jsonl", "parquet"]), (1, ["csv"]), (2, ["csv"]))
            for concurrency, formats in rounds:
                with process(worker_cmd(concurrency), env, stdout=subprocess.DEVNULL) as worker:
                    wait_worker(env, f"bench-exports-{concurrency}")
                    at_rest.setdefault(concurrency, tree_memory_mb(worker.pid))
                    for fmt in formats:
                        print(f"{fmt} export with {concurrency} worker process(es)…", flush=True)
                        result = run_export(client, base, fmt, worker.pid)
                        results.append({**result, "workers": concurrency})
                        # DELETE on a ready export deletes its file: no need to keep a GB of files around.
                        client.delete(f"{base}/api/v1/exports/{result['id']}")
    load_after = os.getloadavg()

    by: dict[tuple[str, int], dict] = {}
    for r in results:
        key = (r["format"], r["workers"])
        if key not in by or r["seconds"] < by[key]["seconds"]:
            by[key] = r
    csv2, parquet2, csv1, jsonl2 = by["csv", 2], by["parquet", 2], by["csv", 1], by["jsonl", 2]
    peak = max(r["peak_process_mb"] for r in results)
    checks = [
        ("CSV >= 50% of the COPY ceiling", csv2["rate"] >= 0.5 * ceiling_rate, f"{csv2['rate'] / ceiling_rate:.0%}"),
        ("Parquet >= 30% of the COPY ceiling", parquet2["rate"] >= 0.3 * ceiling_rate,
         f"{parquet2['rate'] / ceiling_rate:.0%}"),
        (f"worker process peak RSS < {RSS_TARGET_MB} MB", peak < RSS_TARGET_MB, f"{peak:.0f} MB"),
        ("2 worker processes faster than 1 (CSV)", csv2["seconds"] < csv1["seconds"],
         f"{csv1['seconds'] / csv2['seconds']:.2f}x"),
        # Issue 14's targets for the same runs.
        ("JSONL >= 90% of the COPY ceiling", jsonl2["rate"] >= 0.9 * ceiling_rate,
         f"{jsonl2['rate'] / ceiling_rate:.0%}"),
        ("Parquet >= 90% of the COPY ceiling", parquet2["rate"] >= 0.9 * ceiling_rate,
         f"{parquet2['rate'] / ceiling_rate:.0%}"),
        (f"Parquet worker tree peak RSS < {RSS_TARGET_MB} MB", parquet2["peak_tree_mb"] < RSS_TARGET_MB,
         f"{parquet2['peak_tree_mb']:.0f} MB"),
    ]  # fmt: skip
    lines = [
        "| measure | value |",
        "| --- | --- |",
        f"| release rows | {release['row_count']:,} |",
        f"| COPY (SELECT ...) TO STDOUT → /dev/null (ceiling) | {ceiling_rate:,.0f} rows/s "
        f"({ceiling['seconds']:.1f} s) |",
        f"| COPY of the JSONL export's statement (row_to_json) → /dev/null (reference) | {jsonl_copy_rate:,.0f} "
        f"rows/s ({jsonl_copy['seconds']:.1f} s; {jsonl_copy_rate / ceiling_rate:.0%} of the ceiling) |",
    ]
    for workers, (largest, tree, pss) in sorted(at_rest.items()):
        lines.append(
            f"| worker tree at rest, {workers} worker process(es), before its first export (baseline) | RSS "
            f"{largest:.0f} MB largest process, {tree:.0f} MB summed over the tree; PSS {pss:.0f} MB summed |"
        )
    for r in by.values():
        lines.append(
            f"| {r['format']} export, {r['workers']} worker process(es), request → ready | {r['rate']:,.0f} rows/s "
            f"({r['rate'] / ceiling_rate:.0%} of the ceiling; {r['seconds']:.1f} s, {r['bytes'] / 1e6:,.0f} MB; "
            f"peak RSS {r['peak_process_mb']:.0f} MB per process, {r['peak_tree_mb']:.0f} MB worker tree; "
            f"peak PSS {r['peak_tree_pss_mb']:.0f} MB worker tree) |"
        )
    lines += [f"| target: {name} | {'PASS' if ok else 'FAIL'} ({value}) |" for name, ok, value in checks]
    body = (
        f"## Exports (`benchmarks/exports.py`)\n\n{dt.date.today()} on {machine()}; load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after (shared machine).\n\n" + "\n".join(lines) + "\n"
    )
    write_results("exports", body)
    print(body)
    assert all(r["rows"] == release["row_count"] for r in results), results
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
